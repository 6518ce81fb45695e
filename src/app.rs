//! The HTTP application: the state every handler shares, the router, and
//! `serve`. The `/qbwc` route is [`soap_route`]; the background work
//! `serve` starts beside the listeners is [`crate::workers`].

mod soap_route;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::Verifier;
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::qbwc::Qbwc;
use crate::store::Store;
use soap_route::{soap_call, soap_get};

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
    let workers = crate::workers::spawn(&state);
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
    workers.abort();
    if let Some(r) = reloader {
        r.abort();
    }
    result
}

/// `GET /qbwc/support`: the support page the `.qwc` links to.
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
