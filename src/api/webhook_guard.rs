//! Where webhooks may go: never to this host, its network or the cloud's
//! metadata service (SSRF), unless the host is on `webhook_allow_hosts`.
//!
//! A URL is checked twice. When it is set, its host is resolved and every
//! address must be public ([`check_target`]). When a webhook is sent, the
//! HTTP client resolves through [`GuardedResolver`], which drops internal
//! addresses from what DNS answered: a name that resolved to a public
//! address when it was set and to `127.0.0.1` now (DNS rebinding) cannot
//! reach anything internal, because the address connected to is the one
//! checked. The client resolves no IP-literal host, so those are checked as
//! written ([`literal_refusal`]) before anything is sent, and it uses no
//! proxy (a proxy would resolve, and connect, on its own).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// How long setting a URL waits for its host to resolve.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a webhook target was refused. Says which host, never the URL (its
/// path or query may hold a receiver's token).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The host is (or resolves only to) an internal address.
    #[error(
        "webhook host {host} is an internal address ({addr}); webhooks go only to public addresses unless the host \
         is listed in webhook_allow_hosts"
    )]
    Internal {
        /// The host as written.
        host: String,
        /// The first internal address found.
        addr: IpAddr,
    },
    /// The host did not resolve.
    #[error("webhook host {host} does not resolve")]
    Unresolved {
        /// The host as written.
        host: String,
    },
    /// Not an absolute http(s) URL with a host.
    #[error("webhook_url is not an http(s) URL with a host")]
    NotHttp,
}

/// Hosts exempt from the address check (`webhook_allow_hosts`), lower
/// case, IPv6 literals without brackets.
#[derive(Clone, Debug, Default)]
pub struct AllowHosts(HashSet<String>);

impl AllowHosts {
    /// From the setting's list.
    pub fn new<S: AsRef<str>>(hosts: &[S]) -> Self {
        AllowHosts(hosts.iter().map(|h| normalize(h.as_ref())).filter(|h| !h.is_empty()).collect())
    }

    /// Whether `host` is listed.
    pub fn allows(&self, host: &str) -> bool {
        self.0.contains(&normalize(host))
    }
}

fn normalize(host: &str) -> String {
    host.trim().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a webhook must never be sent to `ip`: loopback, private,
/// link-local, unique-local, CGNAT, multicast, unspecified, broadcast,
/// reserved and documentation ranges, and IPv6 forms that embed an IPv4
/// address (mapped, compatible, NAT64, 6to4, Teredo) when what they embed
/// is internal or cannot be told.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network", 0/8
        || ip.is_loopback() // 127/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16, cloud metadata
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || ip.is_documentation() // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || ip.is_multicast() // 224/4
        || a >= 240 // reserved 240/4 and broadcast
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4); // ::ffff:a.b.c.d
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d: never public.
        [0, 0, 0, 0, 0, 0, _, _] => true,
        // NAT64 64:ff9b::/96 reaches the IPv4 address it embeds.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => is_internal_v4(embedded(hi, lo)),
        // Local-use NAT64 64:ff9b:1::/48.
        [0x64, 0xff9b, 1, ..] => true,
        // 6to4 2002::/16 embeds an IPv4 address in its next 32 bits.
        [0x2002, hi, lo, ..] => is_internal_v4(embedded(hi, lo)),
        // Teredo 2001::/32 (obfuscated IPv4 inside) and documentation 2001:db8::/32.
        [0x2001, 0, ..] | [0x2001, 0xdb8, ..] => true,
        // Discard-only 100::/64.
        [0x100, 0, 0, 0, ..] => true,
        _ => {
            ip.is_multicast() // ff00::/8
                || (s[0] & 0xfe00) == 0xfc00 // unique-local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        }
    }
}

/// The refusal for an IP-literal host, which no resolver sees: `None` for
/// a name, an allowed host or a public address.
pub fn literal_refusal(url: &url::Url, allow: &AllowHosts) -> Option<Refused> {
    let host = url.host()?;
    let ip = match host {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    let written = url.host_str().unwrap_or_default().to_owned();
    (!allow.allows(&written) && is_internal(ip)).then_some(Refused::Internal { host: written, addr: ip })
}

/// The public addresses among `addrs` (all of them for an allowed host);
/// an error when none is left.
///
/// # Errors
/// [`Refused::Internal`] when every address is internal, naming the first;
/// [`Refused::Unresolved`] when there were none.
pub fn keep_public(host: &str, addrs: Vec<SocketAddr>, allow: &AllowHosts) -> Result<Vec<SocketAddr>, Refused> {
    if allow.allows(host) {
        return if addrs.is_empty() { Err(Refused::Unresolved { host: host.to_owned() }) } else { Ok(addrs) };
    }
    let first_internal = addrs.iter().map(SocketAddr::ip).find(|ip| is_internal(*ip));
    let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| !is_internal(a.ip())).collect();
    match (public.is_empty(), first_internal) {
        (false, _) => Ok(public),
        (true, Some(addr)) => Err(Refused::Internal { host: host.to_owned(), addr }),
        (true, None) => Err(Refused::Unresolved { host: host.to_owned() }),
    }
}

/// Checks a webhook URL when it is set: http(s) with a host, and a host
/// that is allowed, or whose every resolved address is public (a name with
/// any internal address is refused here, though delivery would only drop
/// those: a URL that points inward is a mistake worth saying so).
///
/// # Errors
/// [`Refused`], saying why.
pub async fn check_target(raw: &str, allow: &AllowHosts) -> Result<(), Refused> {
    let url = url::Url::parse(raw).map_err(|_| Refused::NotHttp)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Refused::NotHttp);
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    if allow.allows(&host) {
        return Ok(());
    }
    if let Some(refused) = literal_refusal(&url, allow) {
        return Err(refused);
    }
    if !matches!(url.host(), Some(url::Host::Domain(_))) {
        return Ok(()); // a public IP literal
    }
    let port = url.port_or_known_default().unwrap_or(443);
    // A resolver that does not answer must not hold the API request.
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host.clone(), port))).await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(addrs)) => addrs.collect(),
        _ => return Err(Refused::Unresolved { host }),
    };
    if let Some(addr) = addrs.iter().map(SocketAddr::ip).find(|ip| is_internal(*ip)) {
        return Err(Refused::Internal { host, addr });
    }
    keep_public(&host, addrs, allow).map(|_| ())
}

/// The webhook client's resolver: the system's answer, minus internal
/// addresses (unless the name is allowed).
#[derive(Clone, Debug, Default)]
pub struct GuardedResolver {
    allow: Arc<AllowHosts>,
}

impl GuardedResolver {
    /// A resolver exempting `allow`.
    pub fn new(allow: AllowHosts) -> Self {
        GuardedResolver { allow: Arc::new(allow) }
    }

    /// Resolves `host` and keeps what may be connected to.
    ///
    /// # Errors
    /// [`Refused`] when nothing is left.
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<SocketAddr>, Refused> {
        // Port 0: reqwest puts the URL's port on the addresses it gets.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| Refused::Unresolved { host: host.to_owned() })?
            .collect();
        keep_public(host, addrs, &self.allow)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this
                .resolve_host(name.as_str())
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "fec0::1",
        ] {
            assert!(is_internal(ip(a)), "{a} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "169.253.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal(ip(a)), "{a} is public");
        }
    }

    #[test]
    fn ip_literal_hosts_are_refused_as_written_unless_allowed() {
        let none = AllowHosts::default();
        for u in [
            "http://10.0.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[::ffff:7f00:1]/",
        ] {
            let url = url::Url::parse(u).unwrap();
            assert!(matches!(literal_refusal(&url, &none), Some(Refused::Internal { .. })), "{u}");
        }
        let url = url::Url::parse("http://8.8.8.8/x").unwrap();
        assert_eq!(literal_refusal(&url, &none), None);
        let allow = AllowHosts::new(&["127.0.0.1", "[::1]"]);
        for u in ["http://127.0.0.1:9/x", "http://[::1]:9/x"] {
            assert_eq!(literal_refusal(&url::Url::parse(u).unwrap(), &allow), None, "{u}");
        }
    }

    #[test]
    fn the_resolver_drops_internal_addresses_and_refuses_when_none_is_left() {
        let sa = |s: &str| SocketAddr::new(ip(s), 0);
        let none = AllowHosts::default();
        // A rebinding answer mixing public and internal keeps only the public one.
        assert_eq!(keep_public("h.example", vec![sa("10.0.0.1"), sa("8.8.8.8")], &none), Ok(vec![sa("8.8.8.8")]));
        assert_eq!(
            keep_public("h.example", vec![sa("169.254.169.254")], &none),
            Err(Refused::Internal { host: "h.example".into(), addr: ip("169.254.169.254") })
        );
        assert_eq!(keep_public("h.example", vec![], &none), Err(Refused::Unresolved { host: "h.example".into() }));
        let allow = AllowHosts::new(&["Hooks.Internal."]);
        assert_eq!(keep_public("hooks.internal", vec![sa("10.0.0.1")], &allow), Ok(vec![sa("10.0.0.1")]));
    }

    #[tokio::test]
    async fn the_resolver_refuses_before_any_connection() {
        // IP-literal names resolve without DNS and localhost from the hosts
        // file: no packet leaves this machine, and the refusal comes from
        // the resolver, before reqwest could connect anywhere.
        let r = GuardedResolver::new(AllowHosts::default());
        for host in ["10.0.0.1", "169.254.169.254", "localhost", "127.0.0.1", "::1"] {
            assert!(matches!(r.resolve_host(host).await, Err(Refused::Internal { .. })), "{host}");
        }
        let allowed = GuardedResolver::new(AllowHosts::new(&["localhost"]));
        let addrs = allowed.resolve_host("localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[tokio::test]
    async fn urls_are_checked_when_set() {
        let none = AllowHosts::default();
        assert_eq!(check_target("ftp://x", &none).await, Err(Refused::NotHttp));
        assert_eq!(check_target("not a url", &none).await, Err(Refused::NotHttp));
        for u in ["http://10.0.0.1/h", "http://169.254.169.254/", "http://localhost:9/h", "https://[fd00::1]/h"] {
            assert!(matches!(check_target(u, &none).await, Err(Refused::Internal { .. })), "{u}");
        }
        // Public literals need no lookup; allowed hosts are not looked up.
        assert_eq!(check_target("https://8.8.8.8/h", &none).await, Ok(()));
        let allow = AllowHosts::new(&["localhost", "example.com"]);
        assert_eq!(check_target("http://localhost:9/h", &allow).await, Ok(()));
        assert_eq!(check_target("https://example.com/h", &allow).await, Ok(()));
    }
}
