//! The span every `/api/v1` request runs in, `api.request`: its method, the
//! route it matched (the template, `/jobs/{id}`, never the path with its
//! values), a request id that ties its log lines together, and the id of
//! the token that called (recorded by [`super::auth`] once the token is
//! known; never the token). One `api request` line at `debug` closes it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use tracing::{field, Instrument};

/// Runs the request inside its `api.request` span.
pub(super) async fn request_span(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let span = tracing::info_span!(
        "api.request",
        http.method = %request.method(),
        http.route = %route,
        request.id = %request_id(),
        token.id = field::Empty,
        http.status = field::Empty,
        duration_ms = field::Empty,
    );
    let started = Instant::now();
    async move {
        let response = next.run(request).await;
        let span = tracing::Span::current();
        span.record("http.status", response.status().as_u16());
        span.record("duration_ms", (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0);
        tracing::debug!("api request");
        response
    }
    .instrument(span)
    .await
}

/// 16 hex digits, random: unique enough to tell one request's lines from
/// another's in a day of logs, and it carries nothing of the request.
fn request_id() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}
