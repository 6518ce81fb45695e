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
    /// Whose forwarded-address header is believed.
    pub proxies: Arc<crate::net::TrustedProxies>,
    /// SOAP body bytes buffered across all requests: one permit per byte,
    /// `soap_buffered_bytes_max` in all.
    pub body_budget: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// State over a store, with a verifier sized from the settings.
    ///
    /// # Errors
    /// When the password verifier cannot be set up or `trusted_proxies`
    /// holds an entry that is not an address or CIDR.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let verifier = Verifier::new(settings.auth.max_concurrent_hashes, settings.auth.max_queued_hashes)?;
        let qbwc = Qbwc::new(store.clone(), clock.clone(), settings.clone(), verifier);
        let budget = settings.soap_buffered_bytes_max.min(tokio::sync::Semaphore::MAX_PERMITS);
        let body_budget = Arc::new(tokio::sync::Semaphore::new(budget));
        let proxies = Arc::new(crate::net::TrustedProxies::from_settings(&settings)?);
        Ok(AppState { qbwc, store, settings, clock, metrics: Metrics::new(), proxies, body_budget })
    }
}

/// The public routes (everything but `/metrics`, see [`metrics_router`]).
/// Every request body must keep arriving: no piece may take longer than
/// `body_read_timeout_seconds` (the SOAP route also wants a minimum rate).
pub fn router(state: AppState) -> Router {
    let body_timeout = Duration::from_secs(state.settings.body_read_timeout_seconds.max(1));
    Router::new()
        // The SOAP route bounds its body itself, by SOAPAction (read_soap_body).
        .route("/qbwc", post(soap_call).get(soap_get).layer(DefaultBodyLimit::disable()))
        .route("/qbwc/support", get(support))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/api/v1", crate::api::router(&state))
        .nest("/admin", crate::console::router(&state))
        .merge(crate::api::links_router())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .with_state(state)
}

/// `GET /metrics` alone.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(state)
}

/// Whether `listen` serves `/metrics` too: only when no `metrics_listen`
/// is set and `listen` is a loopback address, so a server listening on a
/// public address does not hand its job counts and company slugs to
/// anyone. `tls_listen` never serves it.
pub fn metrics_on_listen(settings: &Settings, listen: SocketAddr) -> bool {
    settings.metrics_listen.is_none() && listen.ip().is_loopback()
}

/// The header `/healthz` names the serving program's version in, so
/// `qbwcd doctor` can tell qbwcd on the listen address from another program.
pub const VERSION_HEADER: &str = "qbwcd-version";

/// Liveness: the process answers. Says which qbwcd it is.
async fn healthz() -> impl IntoResponse {
    ([(VERSION_HEADER, env!("CARGO_PKG_VERSION"))], "ok\n")
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
    serve_all(Listeners { plain: Some(listener), ..Listeners::default() }, state, shutdown).await
}

/// A TLS listener with its certificate files.
pub struct TlsListener {
    /// The bound socket.
    pub listener: TcpListener,
    /// Certificate and key.
    pub files: crate::tls::TlsFiles,
}

/// The sockets `serve_all` serves.
#[derive(Default)]
pub struct Listeners {
    /// `listen`: plain HTTP (with `/metrics` when [`metrics_on_listen`]).
    pub plain: Option<TcpListener>,
    /// `tls_listen`: https, never `/metrics`.
    pub tls: Option<TlsListener>,
    /// `metrics_listen`: `/metrics` only.
    pub metrics: Option<TcpListener>,
}

/// Serves plain HTTP, https (built-in TLS, reloaded on SIGHUP or file
/// change) and metrics, each as given, until `shutdown` resolves; each
/// finishes its in-flight calls. Every listener gets the same connection
/// limits (see [`crate::net`]).
///
/// # Errors
/// When a listener fails or the certificate cannot be loaded.
pub async fn serve_all(
    listeners: Listeners,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Listeners { plain, tls, metrics } = listeners;
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
    let limits = crate::net::ConnLimits::from_settings(&state.settings);
    let app = router(state.clone());
    let mut served = Vec::new();
    if let Some(socket) = plain {
        let mut router = app.clone();
        let addr = socket.local_addr()?;
        if metrics_on_listen(&state.settings, addr) {
            router = router.merge(metrics_router(state.clone()));
        } else if state.settings.metrics_listen.is_none() {
            tracing::info!(listen = %addr, "/metrics is not served: listen is not a loopback address and metrics_listen is unset");
        }
        served.push(crate::net::Listener { socket, router, tls: None, name: "listen" });
    }
    let mut reloader = None;
    if let (Some(t), Some(config)) = (tls, tls_config) {
        reloader = Some(crate::tls::spawn_reloader(config.clone(), t.files.clone(), reload_every));
        served.push(crate::net::Listener { socket: t.listener, router: app, tls: Some(config), name: "tls_listen" });
    }
    if let Some(socket) = metrics {
        tracing::info!(metrics_listen = %socket.local_addr()?, "serving /metrics");
        served.push(crate::net::Listener {
            socket,
            router: metrics_router(state.clone()),
            tls: None,
            name: "metrics_listen",
        });
    }
    let mut tasks = tokio::task::JoinSet::new();
    for listener in served {
        tasks.spawn(crate::net::serve(listener, limits.clone(), state.metrics.clone(), stop_rx.clone()));
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
        hold_unchecked_writes(&state).await;
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

/// Holds for an operator the lost writes whose sender's Web Connector did
/// not come back within `recovery_wait_seconds` to check them (only it can:
/// QuickBooks keeps recovery records per application), so the company's
/// other connectors may go on. Each hold is an event naming the user.
async fn hold_unchecked_writes(state: &AppState) {
    let now = state.clock.now();
    let wait = i64::try_from(state.settings.recovery_wait_seconds).ok().and_then(chrono::Duration::try_seconds);
    let Some(sent_before) = wait.and_then(|w| now.checked_sub_signed(w)) else {
        return;
    };
    let held = match state.store.hold_unchecked_writes(sent_before, now).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "the recovery wait check could not reach the database");
            return;
        }
    };
    for job in held {
        let message = job.error.clone().unwrap_or_default();
        tracing::warn!(
            diagnostic = "session.recovery_connector_absent",
            job.id = %job.id,
            user.id = ?job.sent_by,
            "a lost write was held for an operator: {message}"
        );
        let event = crate::store::NewEvent {
            at: now,
            company_id: Some(job.company_id),
            user_id: job.sent_by,
            address: None,
            job_id: Some(job.id),
            kind: "job.recovery",
            code: Some("session.recovery_connector_absent".to_owned()),
            message,
        };
        if let Err(e) = state.store.record_event(event).await {
            tracing::warn!(error = %e, "could not record a held write");
        }
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
                address: None,
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

/// Seconds a client refused for lack of buffer room is asked to wait.
const RETRY_AFTER_SECONDS: u64 = 5;

/// The largest body a SOAP call may send, decided from its `SOAPAction`
/// header before any of the body is read. The Web Connector always sends
/// one, quoted and in full (`"http://developer.intuit.com/receiveResponseXML"`,
/// see the captures); only `receiveResponseXML` carries QuickBooks' answers
/// and may be large. Any other or no `SOAPAction` gets the small limit, so
/// an unauthenticated client cannot make the server hold 128 MiB.
fn soap_body_limit(settings: &Settings, headers: &header::HeaderMap) -> usize {
    let action = headers.get("soapaction").and_then(|v| v.to_str().ok()).map(|v| v.trim().trim_matches('"').trim());
    let method = action.map(|a| a.rsplit('/').next().unwrap_or(a));
    if method.is_some_and(|m| m.eq_ignore_ascii_case(Method::ReceiveResponseXml.name())) {
        settings.soap_body_limit_bytes
    } else {
        settings.soap_small_body_limit_bytes.min(settings.soap_body_limit_bytes)
    }
}

/// Whether a body error is the router's idle timeout (the same limit as
/// [`read_soap_body`]'s, which it may reach first).
fn body_timed_out(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A SOAP body and its share of the bytes-in-flight budget, given back
/// when the call is answered.
struct SoapBody {
    bytes: Bytes,
    _held: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Why a body was not read to the end, as the answer to send.
fn refuse_body(state: &AppState, status: StatusCode, reason: &'static str, text: String) -> Response {
    state.metrics.http_refused(reason);
    tracing::info!(status = status.as_u16(), reason, "refused a SOAP request body");
    let mut r = (status, [(header::CONNECTION, "close")], text).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    r
}

/// Reads a SOAP body within its limit (see [`soap_body_limit`]):
/// a `Content-Length` above it is refused (413) before a byte is read;
/// the buffer grows as bytes arrive (a client's `Content-Length` reserves
/// nothing); every byte held takes a permit from the budget shared by all
/// requests (`soap_buffered_bytes_max`), and a request that finds it spent
/// is answered 503 with `Retry-After`; a body must keep arriving: no piece
/// may take longer than `body_read_timeout_seconds`, and after that grace
/// it must average `body_min_bytes_per_second` (408 otherwise).
async fn read_soap_body(state: &AppState, request: Request) -> Result<SoapBody, Response> {
    let s = &state.settings;
    let limit = soap_body_limit(s, request.headers());
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let too_large = |state: &AppState| {
        refuse_body(
            state,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than this SOAP call may send ({limit} bytes)\n"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(state));
    }
    let grace = Duration::from_secs(s.body_read_timeout_seconds.max(1));
    let rate = s.body_min_bytes_per_second;
    let started = tokio::time::Instant::now();
    let mut body = request.into_body();
    let mut buf = Vec::new();
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        let by_rate = match rate {
            0 => None,
            r => Some(started + grace + Duration::from_secs_f64(buf.len() as f64 / r as f64)),
        };
        let idle = tokio::time::Instant::now() + grace;
        let deadline = by_rate.map_or(idle, |d| d.min(idle));
        let timed_out = |state: &AppState| {
            refuse_body(
                state,
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body arrived too slowly\n".into(),
            )
        };
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(timed_out(state)),
            Ok(None) => break,
            // The router's idle timeout is the same limit and may come first.
            Ok(Some(Err(e))) if body_timed_out(&e) => return Err(timed_out(state)),
            Ok(Some(Err(e))) => {
                return Err((StatusCode::BAD_REQUEST, format!("Failed to read the request body: {e}")).into_response())
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        if buf.len() + data.len() > limit {
            return Err(too_large(state));
        }
        let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
        match state.body_budget.clone().try_acquire_many_owned(n) {
            Ok(p) => match held.as_mut() {
                Some(h) => h.merge(p),
                None => held = Some(p),
            },
            Err(_) => {
                return Err(refuse_body(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "bytes_in_flight",
                    "the server is holding as many request bytes as it may; try again shortly\n".into(),
                ))
            }
        }
        buf.extend_from_slice(&data);
    }
    Ok(SoapBody { bytes: Bytes::from(buf), _held: held })
}

async fn soap_call(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let client_ip = state.proxies.client_ip(peer.ip(), request.headers());
    let SoapBody { bytes: body, _held: held } = match read_soap_body(&state, request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let small_limit = state.settings.soap_small_body_limit_bytes;
    let started = Instant::now();
    let request_bytes = body.len();
    let span = tracing::info_span!(
        "qbwc.call",
        qbwc.method = field::Empty,
        qbwc.ticket = field::Empty,
        company.id = field::Empty,
        user = field::Empty,
        job.id = field::Empty,
        outcome = field::Empty,
        request_bytes = request_bytes,
        response_bytes = field::Empty,
        duration_ms = field::Empty,
    );
    let ctx = CallContext { remote_addr: Some(client_ip.to_string()) };
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
        // A SOAPAction may claim receiveResponseXML for another method's
        // body; only that method may be large.
        if request_bytes > small_limit && method != Method::ReceiveResponseXml {
            span.record("outcome", "fault");
            state.metrics.soap_call(method.name(), "fault", started.elapsed());
            return refuse_body(
                &state,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("{} may not send more than {small_limit} bytes\n", method.name()),
            );
        }
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
        drop(held);
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
    Html(crate::qwc::support_page_html(&state.settings.qwc, &state.settings.brand.contact()))
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
    let cap = state.settings.soap_buffered_bytes_max.min(tokio::sync::Semaphore::MAX_PERMITS);
    state.metrics.set_body_bytes_buffered(cap.saturating_sub(state.body_budget.available_permits()));
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
