//! The HTTP application: state, router, and `serve`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::RequestExt as _;
use axum::Router;
use http_body_util::BodyExt as _;
use tokio::net::TcpListener;
use tracing::{field, Instrument, Level};

use crate::auth::Verifier;
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::qbwc::{CallContext, Qbwc};
use crate::silence::{self, SilenceTracker};
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
    /// This server's metrics registry (`GET /metrics`).
    pub metrics: Metrics,
}

impl AppState {
    /// State over a store, with a verifier sized from the settings.
    ///
    /// # Errors
    /// When the password verifier cannot be set up.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let verifier = Verifier::new(settings.auth.max_concurrent_hashes)?;
        let qbwc = Qbwc::new(store.clone(), clock.clone(), settings.clone(), verifier);
        Ok(AppState { qbwc, store, settings, clock, metrics: Metrics::new() })
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
        .route("/metrics", get(metrics))
        .nest("/api/v1", crate::api::router(&state))
        .merge(crate::api::links_router())
        .with_state(state)
}

/// Serves plain HTTP until `shutdown` resolves, then finishes in-flight
/// calls. Leases are kept on purpose: all session state is in the database,
/// so a Web Connector mid-session carries on with the restarted server (or
/// another replica), and the reaper settles whatever is truly abandoned.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_all(Some(listener), None, state, shutdown).await
}

/// A TLS listener with its certificate files.
pub struct TlsListener {
    /// The bound socket.
    pub listener: TcpListener,
    /// Certificate and key.
    pub files: crate::tls::TlsFiles,
}

/// Serves plain HTTP and/or https (built-in TLS, reloaded on SIGHUP or file
/// change) until `shutdown` resolves; both finish their in-flight calls.
///
/// # Errors
/// When a listener fails or the certificate cannot be loaded.
pub async fn serve_all(
    plain: Option<TcpListener>,
    tls: Option<TlsListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reload_every = Duration::from_secs(state.settings.tls_reload_seconds.max(1));
    let tls_config = match &tls {
        Some(t) => Some(crate::tls::load(&t.files).await?),
        None => None,
    };
    let reaper = tokio::spawn(reap(state.clone()));
    let listen = tokio::spawn(crate::api::listen_for_finished_jobs(state.clone()));
    let webhooks = tokio::spawn(crate::api::deliver_webhooks(state.clone()));
    // Long-polls end at shutdown (answering with the job as it is) instead
    // of holding the graceful shutdown up for their whole wait.
    let store = state.store.clone();
    let shutdown = async move {
        shutdown.await;
        store.notifier().close();
    };
    let app = router(state);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = plain {
        let mut rx = stop_rx.clone();
        let svc = app.clone().into_make_service_with_connect_info::<SocketAddr>();
        tasks.spawn(async move {
            axum::serve(listener, svc)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await
                .map_err(anyhow::Error::from)
        });
    }
    let mut reloader = None;
    if let (Some(t), Some(config)) = (tls, tls_config) {
        reloader = Some(crate::tls::spawn_reloader(config.clone(), t.files.clone(), reload_every));
        let handle = axum_server::Handle::new();
        let waiter = handle.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let _ = rx.wait_for(|stop| *stop).await;
            // Finish in-flight calls; a Web Connector call is short.
            waiter.graceful_shutdown(Some(Duration::from_secs(30)));
        });
        let std_listener = t.listener.into_std()?;
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        tasks.spawn(async move {
            axum_server::from_tcp_rustls(std_listener, config)
                .handle(handle)
                .serve(svc)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            result = Err(e);
        }
    }
    reaper.abort();
    listen.abort();
    webhooks.abort();
    if let Some(r) = reloader {
        r.abort();
    }
    result
}

/// Periodically expires idle sessions and lapsed leases, reports silent
/// connectors, and prunes rows past their retention.
async fn reap(state: AppState) {
    let every = Duration::from_secs(state.settings.reaper_interval_seconds.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut silence = SilenceTracker::default();
    loop {
        tick.tick().await;
        match state.store.recover_expired(state.clock.now()).await {
            Ok(r) if r.sessions > 0 || r.leases > 0 => {
                state.metrics.expired(r.sessions, r.leases);
                tracing::info!(sessions = r.sessions, leases = r.leases, "expired idle sessions and lapsed leases");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the reaper could not reach the database"),
        }
        check_silence(&state, &mut silence).await;
        match crate::retention::prune(state.store.as_ref(), &state.settings, state.clock.now()).await {
            Ok(p) if p.events > 0 || p.webhook_deliveries > 0 => {
                state.metrics.pruned("event", p.events);
                state.metrics.pruned("webhook_delivery", p.webhook_deliveries);
                tracing::info!(
                    events = p.events,
                    webhook_deliveries = p.webhook_deliveries,
                    "pruned rows past their retention"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning old events and webhook deliveries failed"),
        }
        state.metrics.upkeep();
    }
}

/// Reports Web Connectors that stopped checking in: the gauge every tick,
/// a `warn` line once per silence.
async fn check_silence(state: &AppState, tracker: &mut SilenceTracker) {
    let users = match state.store.list_users().await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "the silent-connector check could not read the users");
            return;
        }
    };
    let silent = silence::silent_connectors(&users, &state.settings.qwc, state.clock.now());
    state.metrics.set_silent_connectors(silence::per_company(&silent));
    for s in tracker.update(&silent) {
        // An event with the diagnostic opens the problem on the company's
        // health; the connector's next login clears it.
        if let Some(u) = users.iter().find(|u| u.username.as_str() == s.username) {
            let event = crate::store::NewEvent {
                at: state.clock.now(),
                company_id: Some(u.company_id),
                user_id: Some(u.id),
                job_id: None,
                kind: "session.silent",
                code: Some(silence::DIAGNOSTIC.to_owned()),
                message: format!(
                    "the Web Connector of {} last checked in at {} and runs every {} s",
                    s.username, s.last_seen_at, s.expected_every_seconds
                ),
            };
            if let Err(e) = state.store.record_event(event).await {
                tracing::warn!(error = %e, "could not record a silent connector");
            }
        }
        tracing::warn!(
            diagnostic = silence::DIAGNOSTIC,
            user = %s.username,
            company = %s.company,
            last_seen_at = %s.last_seen_at,
            expected_every_seconds = s.expected_every_seconds,
            "the Web Connector of {} has not checked in for {} scheduled runs",
            s.username,
            silence::SILENT_AFTER_INTERVALS,
        );
    }
}

/// The request body in one buffer sized from `Content-Length` (still
/// bounded by `soap_body_limit_bytes`). axum's `Bytes` extractor collects
/// the chunks and then copies them into one buffer, holding a large answer
/// twice at its peak.
async fn read_body(request: Request, limit: usize) -> Result<Bytes, Response> {
    let hint =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok()).unwrap_or(0);
    let mut body = request.into_limited_body();
    // The hint is the client's word: grow past it if need be, and never
    // reserve more than the route's limit lets through.
    let mut buf = Vec::with_capacity(hint.min(limit).min(BODY_RESERVE_MAX));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let status = if too_large(&e) { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
            (status, format!("Failed to buffer the request body: {e}")).into_response()
        })?;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Largest buffer reserved up front from `Content-Length`; bigger bodies
/// grow as they arrive (the route's body limit still applies).
const BODY_RESERVE_MAX: usize = 256 * 1024 * 1024;

/// Whether a body error is the route's length limit.
fn too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

async fn soap_call(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let body = match read_body(request, state.settings.soap_body_limit_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
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
                state.metrics.soap_call("unknown", "fault", started.elapsed());
                tracing::warn!(error = %e, "refused a request that is not a Web Connector call");
                return soap_response(StatusCode::INTERNAL_SERVER_ERROR, soap::render_fault(&e));
            }
        };
        let method = call.method();
        span.record("qbwc.method", method.name());
        if let Some(t) = call.ticket() {
            span.record("qbwc.ticket", t.short());
        }
        let (reply, notes) = crate::metrics::collect_notes(state.qbwc.handle(call, &ctx)).await;
        // Only a large reply is worth a trip to the blocking pool: for the
        // usual few hundred bytes the hand-off cost more than rendering.
        let rendered = if reply_len(&reply) > BLOCKING_THRESHOLD {
            tokio::task::spawn_blocking(move || soap::render_reply(&reply)).await
        } else {
            Ok(soap::render_reply(&reply))
        };
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
        state.metrics.record_call(method.name(), &notes, started.elapsed());
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

/// The size of a reply's text payload (before escaping).
fn reply_len(reply: &soap::Reply) -> usize {
    match reply {
        soap::Reply::SendRequestXml(s) => s.len(),
        soap::Reply::Authenticate(v) => v.iter().map(String::len).sum(),
        _ => 0,
    }
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

/// Ready when the database answers and has every migration this build
/// embeds (a replica started against an older schema must not take
/// traffic). 503 with a one-line reason otherwise.
async fn readyz(State(state): State<AppState>) -> Response {
    let unavailable =
        |reason: String| (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response();
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check: the database is unreachable");
        return unavailable("database unreachable".into());
    }
    match state.store.schema_status().await {
        Ok(s) if s.is_current() => (StatusCode::OK, "ready\n").into_response(),
        Ok(s) => {
            tracing::warn!(reason = %s.describe(), "readiness check: the schema is not migrated");
            unavailable(format!("schema not migrated: {}", s.describe()))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: cannot read the migrations table");
            unavailable("cannot read the migrations table".into())
        }
    }
}

/// `GET /metrics`: refreshes the gauges read from the database (one
/// grouped job count, one session count), then renders Prometheus text.
/// A database failure leaves the last values and still renders the rest.
async fn metrics(State(state): State<AppState>) -> Response {
    match state.store.job_counts().await {
        Ok(counts) => {
            state.metrics.set_job_counts(counts.iter().map(|c| (c.company.as_str(), c.state.as_str(), c.count)))
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count jobs"),
    }
    match state.store.open_session_count(state.clock.now()).await {
        Ok(n) => state.metrics.set_open_sessions(n),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count sessions"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}
