//! The HTTP listeners: one accept loop serves the plain, TLS and metrics
//! listeners alike, so every one of them gets the same limits.
//!
//! `axum::serve` (and axum-server for TLS) set no header read timeout and
//! no cap on connections: a half-sent header held a connection open for as
//! long as the client liked, and any number of them. Here hyper closes a
//! connection whose request head has not fully arrived within
//! `header_read_timeout_seconds` (the TLS handshake has the same bound;
//! hyper starts that timer as soon as it waits for a request, so an idle
//! kept-alive connection is closed after it too, as web servers do),
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

/// A `trusted_proxies` entry is not an address or CIDR.
#[derive(Debug, thiserror::Error)]
#[error("trusted_proxies: {entry:?} is not an IP address or CIDR (such as 10.0.0.0/8)")]
pub struct ProxyListError {
    entry: String,
}

/// Which header trusted proxies name the client in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The reverse proxies whose word on the client address is taken
/// (`trusted_proxies`, `forwarded_header`).
#[derive(Clone, Debug)]
pub struct TrustedProxies {
    nets: Vec<ipnet::IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses the settings' list; a bare address is a single host.
    ///
    /// # Errors
    /// [`ProxyListError`] naming the first entry that is neither, or an
    /// unknown `forwarded_header`.
    pub fn from_settings(s: &crate::config::Settings) -> Result<Self, ProxyListError> {
        let nets = s
            .trusted_proxies
            .iter()
            .map(|e| {
                let t = e.trim();
                t.parse::<ipnet::IpNet>()
                    .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ProxyListError { entry: e.clone() })
            })
            .collect::<Result<_, _>>()?;
        let header = match s.forwarded_header.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            other => return Err(ProxyListError { entry: format!("forwarded_header = {other}") }),
        };
        Ok(TrustedProxies { nets, header })
    }

    fn trusts(&self, ip: std::net::IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer's, unless the peer is a trusted
    /// proxy; then the rightmost address in the forwarded header that is
    /// not itself a trusted proxy (each proxy appends the address it saw,
    /// so everything left of that could be made up by the client). An
    /// entry that is not an address stops the walk at the last trusted hop.
    pub fn client_ip(&self, peer: std::net::IpAddr, headers: &axum::http::HeaderMap) -> std::net::IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let (name, parse): (&str, fn(&str) -> Option<std::net::IpAddr>) = match self.header {
            ForwardedHeader::XForwardedFor => ("x-forwarded-for", parse_hop),
            ForwardedHeader::Forwarded => ("forwarded", parse_forwarded_for),
        };
        let hops: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse(hop) else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` hop: an address, perhaps with a port.
fn parse_hop(hop: &str) -> Option<std::net::IpAddr> {
    let hop = hop.trim().trim_matches('"');
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.split(']').next()?.parse().ok())
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.1;proto=https`,
/// `for="[2001:db8::1]:4711"`); `unknown` and obfuscated names are none.
fn parse_forwarded_for(element: &str) -> Option<std::net::IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| parse_hop(v)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    fn proxies(list: &[&str], header: &str) -> TrustedProxies {
        let s = crate::config::Settings {
            trusted_proxies: list.iter().map(|s| (*s).to_owned()).collect(),
            forwarded_header: header.into(),
            ..Default::default()
        };
        TrustedProxies::from_settings(&s).unwrap()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop_from_a_trusted_peer_only() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.1"], "x-forwarded-for");
        let xff = headers("x-forwarded-for", &["6.6.6.6, 203.0.113.9", "10.1.1.1"]);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(p.client_ip(ip("10.0.0.2"), &xff), ip("203.0.113.9"));
        assert_eq!(p.client_ip(ip("192.0.2.5"), &xff), ip("192.0.2.5"), "an untrusted peer's header is ignored");
        assert_eq!(p.client_ip(ip("::ffff:127.0.0.1"), &xff), ip("203.0.113.9"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        let junk = headers("x-forwarded-for", &["198.51.100.1, garbage, 10.2.2.2"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &junk), ip("10.2.2.2"), "the walk stops at what is not an address");
        let fwd = headers("forwarded", &["for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https"]);
        let p6 = proxies(&["10.0.0.0/8"], "forwarded");
        assert_eq!(p6.client_ip(ip("10.0.0.2"), &fwd), ip("2001:db8::7"));
        assert_eq!(p6.client_ip(ip("10.0.0.2"), &xff), ip("10.0.0.2"), "only the configured header is read");
    }

    #[test]
    fn a_bad_proxy_entry_is_an_error_that_names_it() {
        let s = crate::config::Settings { trusted_proxies: vec!["10.0.0.0/33".into()], ..Default::default() };
        assert!(TrustedProxies::from_settings(&s).unwrap_err().to_string().contains("10.0.0.0/33"));
    }
}
