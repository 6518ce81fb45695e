//! The HTTP listeners: one accept loop serves the plain, TLS and metrics
//! listeners alike, so every one of them gets the same limits.
//!
//! `axum::serve` (and axum-server for TLS) set no header read timeout and
//! no cap on connections: a half-sent header held a connection open for as
//! long as the client liked, and any number of them. Here hyper closes a
//! connection whose request head has not fully arrived within
//! `header_read_timeout_seconds` (the TLS handshake has the same bound),
//! and past `max_connections` open connections a new one is closed at
//! once. Request bodies are bounded by the routes (see `crate::app`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;

use crate::metrics::Metrics;

/// How long in-flight calls may take to finish after shutdown begins; a
/// Web Connector call is short.
const DRAIN: Duration = Duration::from_secs(30);

/// Limits every connection gets, from the settings.
#[derive(Clone, Debug)]
pub struct ConnLimits {
    /// Longest wait for a complete request head (and a TLS handshake).
    pub header_read_timeout: Duration,
    /// Connections open at once on this listener; more are closed at once.
    pub max_connections: usize,
}

impl ConnLimits {
    /// The limits the settings ask for.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(s.header_read_timeout_seconds.max(1)),
            max_connections: s.max_connections.max(1),
        }
    }
}

/// One listener to serve.
pub struct Listener {
    /// The bound socket.
    pub socket: TcpListener,
    /// What it serves.
    pub router: Router,
    /// Certificate and key when it speaks https (reloads apply to new
    /// connections).
    pub tls: Option<RustlsConfig>,
    /// Its name in logs and metrics: `listen`, `tls_listen`, `metrics_listen`.
    pub name: &'static str,
}

/// Anything a connection can run over (a TCP stream, or TLS on one).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Accepts connections until `stop` turns true, then lets open ones finish
/// their calls (at most [`DRAIN`]) and returns.
///
/// # Errors
/// Never at present; accept errors (such as running out of file
/// descriptors) are logged and retried after a pause.
pub async fn serve(
    listener: Listener,
    limits: ConnLimits,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Listener { socket, router, tls, name } = listener;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = socket.accept() => a,
            () = stopped(&mut stop) => break,
        };
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and the like: pause rather than spin.
                tracing::warn!(listener = name, error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.http_refused("connections");
            tracing::debug!(listener = name, "closed a connection: max_connections are open");
            drop(stream);
            continue;
        };
        let conn = Conn { router: router.clone(), tls: tls.clone(), limits: limits.clone(), _slot: slot };
        conns.spawn(conn.run(stream, peer, stop.clone()));
    }
    drop(socket);
    let drained = tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(listener = name, open = conns.len(), "connections still open after the drain time were cut");
        conns.abort_all();
    }
    Ok(())
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One accepted connection and what it needs.
struct Conn {
    router: Router,
    tls: Option<RustlsConfig>,
    limits: ConnLimits,
    /// Frees the connection's place under `max_connections` when dropped.
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    async fn run(self, stream: TcpStream, peer: SocketAddr, mut stop: watch::Receiver<bool>) {
        let _ = stream.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(stream),
            Some(config) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(config.get_inner());
                match tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => Box::new(tls),
                    // A failed or stalled handshake is the client's affair.
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %peer, "TLS handshake timed out");
                        return;
                    }
                }
            }
        };
        let router = self.router;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(self.limits.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = stopped(&mut stop) => {
                // Finish the call in progress, take no new one.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
        }
    }
}
