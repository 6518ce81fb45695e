//! The HTTP application: state, router, and `serve`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tracing::{field, Instrument, Level};

use crate::auth::Verifier;
use crate::clock::Clock;
use crate::config::Settings;
use crate::qbwc::{CallContext, Qbwc};
use crate::soap::{self, Call, Limits, Method};
use crate::store::Store;

/// Bodies larger than this are parsed and rendered on the blocking pool,
/// so a 64 MB answer does not stall the async workers.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The protocol service.
    pub qbwc: Qbwc,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// State over a store, with a verifier sized from the settings.
    ///
    /// # Errors
    /// When the password verifier cannot be set up.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let verifier = Verifier::new(settings.auth.max_concurrent_hashes)?;
        let qbwc = Qbwc::new(store.clone(), clock.clone(), settings.clone(), verifier);
        Ok(AppState { qbwc, store, settings, clock })
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    let soap_limit = state.settings.soap_body_limit_bytes;
    Router::new()
        .route("/qbwc", post(soap_call).get(soap_get).layer(DefaultBodyLimit::max(soap_limit)))
        .route("/qbwc/support", get(support))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .nest("/api/v1", crate::api::router(&state))
        .merge(crate::api::links_router())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight calls. Leases
/// are kept on purpose: all session state is in the database, so a Web
/// Connector mid-session carries on with the restarted server (or another
/// replica), and the reaper settles whatever is truly abandoned.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let reaper = tokio::spawn(reap(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    reaper.abort();
    served?;
    Ok(())
}

/// Periodically expires idle sessions and lapsed leases.
async fn reap(state: AppState) {
    let every = Duration::from_secs(state.settings.reaper_interval_seconds.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.store.recover_expired(state.clock.now()).await {
            Ok(r) if r.sessions > 0 || r.leases > 0 => {
                tracing::info!(sessions = r.sessions, leases = r.leases, "expired idle sessions and lapsed leases");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the reaper could not reach the database"),
        }
    }
}

async fn soap_call(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Bytes) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "qbwc.call",
        qbwc.method = field::Empty,
        qbwc.ticket = field::Empty,
        company.id = field::Empty,
        user = field::Empty,
        job.id = field::Empty,
        outcome = field::Empty,
        request_bytes = body.len(),
        response_bytes = field::Empty,
        duration_ms = field::Empty,
    );
    let ctx = CallContext { remote_addr: Some(peer.ip().to_string()) };
    async move {
        let span = tracing::Span::current();
        let limits = Limits { max_depth: state.settings.xml_max_depth };
        let parsed = if body.len() > BLOCKING_THRESHOLD {
            let b = body.clone();
            tokio::task::spawn_blocking(move || soap::parse_call(&b, &limits))
                .await
                .unwrap_or_else(|e| Err(soap::SoapError::Internal { message: e.to_string() }))
        } else {
            soap::parse_call(&body, &limits)
        };
        drop(body);
        let call: Call = match parsed {
            Ok(c) => c,
            Err(e) => {
                span.record("outcome", "fault");
                tracing::warn!(error = %e, "refused a request that is not a Web Connector call");
                return soap_response(StatusCode::INTERNAL_SERVER_ERROR, soap::render_fault(&e));
            }
        };
        let method = call.method();
        span.record("qbwc.method", method.name());
        if let Some(t) = call.ticket() {
            span.record("qbwc.ticket", t.short());
        }
        let reply = state.qbwc.handle(call, &ctx).await;
        let rendered = tokio::task::spawn_blocking(move || soap::render_reply(&reply)).await;
        let bytes = match rendered {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "rendering the reply failed");
                return soap_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    soap::render_fault(&soap::SoapError::Internal { message: "internal error".into() }),
                );
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        span.record("response_bytes", bytes.len());
        span.record("duration_ms", (ms * 1000.0).round() / 1000.0);
        if matches!(method, Method::SendRequestXml | Method::ReceiveResponseXml) {
            tracing::event!(Level::DEBUG, "qbwc call");
        } else {
            tracing::event!(Level::INFO, "qbwc call");
        }
        soap_response(StatusCode::OK, bytes)
    }
    .instrument(span)
    .await
}

fn soap_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// `GET /qbwc` answers 200 (the Web Connector and admins probe it);
/// `GET /qbwc?wsdl` serves the WSDL with this server's address.
async fn soap_get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    if query.is_some_and(|q| q.eq_ignore_ascii_case("wsdl") || q.to_ascii_lowercase().starts_with("wsdl")) {
        let endpoint = format!("{}/qbwc", state.settings.public_url.trim_end_matches('/'));
        return soap_response(StatusCode::OK, soap::wsdl_for(&endpoint).into_bytes());
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "qbwcd: QuickBooks Web Connector endpoint. The Web Connector POSTs SOAP here; ?wsdl gives the WSDL.\n",
    )
        .into_response()
}

async fn support(State(state): State<AppState>) -> Html<String> {
    Html(crate::qwc::support_page_html(&state.settings.qwc))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the database is unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}
