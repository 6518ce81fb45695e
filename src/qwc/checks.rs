//! The refusal rules: what the Web Connector rejects, caught before a file
//! is handed to an admin (protocol.md §3 "Transport rules", §4).

use url::{Host, Url};

use super::{QwcError, QwcSettings, QwcUser, Result, Schedule, MAX_DESCRIPTION_CHARS};

const PERSONAL_DATA_PREFS: [&str; 3] = ["pdpNotNeeded", "pdpOptional", "pdpRequired"];
const UNATTENDED_MODE_PREFS: [&str; 2] = ["umpRequired", "umpOptional"];

/// Checks a `public_url` on its own: it parses, it is https (or http to
/// `localhost`), its host is a name and not an IP address, and it carries no
/// credentials, query or fragment. Used by `qbwcd doctor` as well.
///
/// `localhost` passes here (it is fine for testing on one PC); use
/// [`check_deployment`] to also refuse it for a public deployment.
///
/// # Errors
/// [`QwcError::InvalidUrl`], [`QwcError::UnsupportedScheme`],
/// [`QwcError::InsecureScheme`], [`QwcError::IpAddressHost`] or
/// [`QwcError::UrlExtraPart`].
pub fn check_public_url(public_url: &str) -> Result<Url> {
    check_url("public_url", public_url)
}

/// [`check_public_url`], and a `localhost` URL is refused when the
/// deployment is public (QBWC1035: never ship a localhost `.qwc`).
///
/// # Errors
/// As [`check_public_url`], plus [`QwcError::LocalhostWhenPublic`].
pub fn check_deployment(deployment: &super::Deployment<'_>) -> Result<Url> {
    let url = check_public_url(deployment.public_url)?;
    if deployment.public && is_localhost(&url) {
        return Err(QwcError::LocalhostWhenPublic { url: url.to_string() });
    }
    Ok(url)
}

/// The two URLs a `.qwc` names, as [`check_config`] resolved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `AppURL`, the SOAP endpoint.
    pub app_url: String,
    /// `AppSupport`, the support page.
    pub app_support: String,
}

/// Everything a `.qwc` needs that does not depend on a user: the `[qwc]`
/// settings, `public_url` for this deployment and the support URL. For
/// `serve` (refuse a bad config at start) and `qbwcd doctor` (show the URLs).
///
/// # Errors
/// The first problem found, as a [`QwcError`] that says what to change.
pub fn check_config(settings: &QwcSettings, deployment: &super::Deployment<'_>) -> Result<Endpoints> {
    check_settings(settings)?;
    let public = check_deployment(deployment)?;
    Ok(Endpoints { app_url: app_url(&public), app_support: app_support(settings, &public)? })
}

/// `AppURL`: the public URL without its trailing `/`, plus `/qbwc`. A path
/// already in `public_url` (a reverse-proxy prefix) is kept.
pub(crate) fn app_url(public: &Url) -> String {
    format!("{}/qbwc", public.as_str().trim_end_matches('/'))
}

/// `AppSupport`: `support_url` if set, else `public_url` + `support_path`.
/// Either way it must pass the URL rules and share `AppURL`'s host.
pub(crate) fn app_support(settings: &QwcSettings, public: &Url) -> Result<String> {
    let support = match &settings.support_url {
        Some(full) => check_url("[qwc] support_url", full)?,
        None => {
            let path = &settings.support_path;
            if !path.starts_with('/') || path.contains(['?', '#']) {
                return Err(QwcError::SupportPathInvalid { path: path.clone() });
            }
            let joined = format!("{}{}", public.as_str().trim_end_matches('/'), path);
            check_url("[qwc] support_path", &joined)?
        }
    };
    let (support_host, app_host) = (support.host_str().unwrap_or(""), public.host_str().unwrap_or(""));
    if !support_host.eq_ignore_ascii_case(app_host) {
        return Err(QwcError::SupportOtherHost {
            support_url: support.to_string(),
            support_host: support_host.to_owned(),
            app_host: app_host.to_owned(),
        });
    }
    Ok(support.to_string())
}

/// Everything in `[qwc]` that does not depend on a user or a URL.
pub(crate) fn check_settings(settings: &QwcSettings) -> Result {
    check_text("[qwc] app_name", &settings.app_name)?;
    description(settings)?;
    if !PERSONAL_DATA_PREFS.contains(&settings.personal_data_pref.as_str()) {
        return Err(QwcError::InvalidPersonalDataPref { value: settings.personal_data_pref.clone() });
    }
    if !UNATTENDED_MODE_PREFS.contains(&settings.unattended_mode_pref.as_str()) {
        return Err(QwcError::InvalidUnattendedModePref { value: settings.unattended_mode_pref.clone() });
    }
    auth_flags(settings)?;
    pick_schedule("[qwc]", settings.run_every_minutes, settings.run_every_seconds)?;
    if settings.support_url.is_none() && !settings.support_path.starts_with('/') {
        return Err(QwcError::SupportPathInvalid { path: settings.support_path.clone() });
    }
    if settings.link_ttl_seconds == 0 {
        return Err(QwcError::LinkSettingZero { key: "link_ttl_seconds" });
    }
    if settings.link_max_uses == 0 {
        return Err(QwcError::LinkSettingZero { key: "link_max_uses" });
    }
    Ok(())
}

/// The user's values: names present and printable, GUIDs not nil.
pub(crate) fn check_user(user: &QwcUser) -> Result {
    check_text("the user name", &user.username)?;
    check_text("the company slug", &user.company_slug)?;
    check_text("the company name", &user.company_name)?;
    if user.owner_id.is_nil() {
        return Err(QwcError::NilGuid { field: "the user's owner_id" });
    }
    if user.file_id.is_nil() {
        return Err(QwcError::NilGuid { field: "the company's file_id" });
    }
    Ok(())
}

/// The trimmed `app_description`, 1 to 80 characters.
pub(crate) fn description(settings: &QwcSettings) -> Result<&str> {
    let d = settings.app_description.trim();
    let len = d.chars().count();
    if len == 0 || len > MAX_DESCRIPTION_CHARS {
        return Err(QwcError::DescriptionLength { len });
    }
    check_text("[qwc] app_description", d)?;
    Ok(d)
}

/// `auth_flags` in canonical form (`0x0`..`0xF`, upper-case digit).
pub(crate) fn auth_flags(settings: &QwcSettings) -> Result<String> {
    let raw = settings.auth_flags.trim();
    let digits = raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X"));
    match digits.and_then(|d| u8::from_str_radix(d, 16).ok()) {
        // from_str_radix also takes a sign; only plain hex digits are wanted.
        Some(v) if v <= 0xF && digits.is_some_and(|d| d.bytes().all(|b| b.is_ascii_hexdigit())) => {
            Ok(format!("0x{v:X}"))
        }
        _ => Err(QwcError::InvalidAuthFlags { value: settings.auth_flags.clone() }),
    }
}

/// One level's schedule: `None` if it sets neither unit. Both set is refused
/// rather than resolved by a precedence rule an operator would have to know.
pub(crate) fn pick_schedule(scope: &str, minutes: Option<u32>, seconds: Option<u32>) -> Result<Option<Schedule>> {
    let zero = |key| Err(QwcError::SchedulerZero { scope: scope.to_owned(), key });
    match (minutes, seconds) {
        (Some(_), Some(_)) => Err(QwcError::SchedulerConflict { scope: scope.to_owned() }),
        (Some(0), None) => zero("run_every_minutes"),
        (None, Some(0)) => zero("run_every_seconds"),
        (Some(m), None) => Ok(Some(Schedule::Minutes(m))),
        (None, Some(s)) => Ok(Some(Schedule::Seconds(s))),
        (None, None) => Ok(None),
    }
}

/// Non-empty after trimming and free of control characters, which XML 1.0
/// cannot carry (most of them not even as character references).
fn check_text(field: &'static str, value: &str) -> Result {
    if value.trim().is_empty() {
        return Err(QwcError::EmptyValue { field });
    }
    if value.chars().any(char::is_control) {
        return Err(QwcError::ControlCharacter { field });
    }
    Ok(())
}

fn is_localhost(url: &Url) -> bool {
    matches!(url.host(), Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost"))
}

/// The rules every URL in a `.qwc` follows.
fn check_url(field: &'static str, raw: &str) -> Result<Url> {
    let raw = raw.trim();
    let url =
        Url::parse(raw).map_err(|e| QwcError::InvalidUrl { field, url: raw.to_owned(), reason: e.to_string() })?;
    let shown = url.to_string();
    if !matches!(url.scheme(), "http" | "https") {
        return Err(QwcError::UnsupportedScheme { field, url: shown, scheme: url.scheme().to_owned() });
    }
    // The host before http-vs-https: for http://127.0.0.1 "use localhost"
    // is the useful advice, not "use https".
    match url.host() {
        Some(Host::Domain(_)) => {}
        Some(Host::Ipv4(ip)) => {
            let hint = if ip.is_loopback() { "; to test on this PC use http://localhost" } else { "" };
            return Err(QwcError::IpAddressHost { field, url: shown, hint });
        }
        Some(Host::Ipv6(ip)) => {
            let hint = if ip.is_loopback() { "; to test on this PC use http://localhost" } else { "" };
            return Err(QwcError::IpAddressHost { field, url: shown, hint });
        }
        // http(s) URLs always have a host; "https:///x" fails to parse.
        None => {
            return Err(QwcError::InvalidUrl { field, url: shown, reason: "no host".to_owned() });
        }
    }
    if url.scheme() == "http" && !is_localhost(&url) {
        return Err(QwcError::InsecureScheme { field, url: shown });
    }
    let extra = if !url.username().is_empty() || url.password().is_some() {
        Some("user name or password")
    } else if url.query().is_some() {
        Some("query")
    } else if url.fragment().is_some() {
        Some("fragment")
    } else {
        None
    };
    match extra {
        Some(part) => Err(QwcError::UrlExtraPart { field, url: shown, part }),
        None => Ok(url),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Deployment;
    use super::*;

    fn refused(url: &str) -> QwcError {
        check_public_url(url).expect_err(url)
    }

    #[test]
    fn https_with_a_host_name_is_accepted() {
        for ok in [
            "https://qb.example.com",
            "https://qb.example.com:8443/tools/",
            "http://localhost:8080",
            "https://qbserver",
        ] {
            assert!(check_public_url(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn http_on_a_host_other_than_localhost_is_refused() {
        let e = refused("http://qb.example.com");
        assert!(matches!(e, QwcError::InsecureScheme { .. }));
        assert!(e.to_string().contains("QBWC1010"));
        assert!(e.to_string().contains("https"));
    }

    #[test]
    fn ipv4_and_ipv6_hosts_are_refused() {
        let e = refused("https://1.2.3.4");
        assert!(matches!(e, QwcError::IpAddressHost { hint: "", .. }), "{e}");
        assert!(e.to_string().contains("QBWC1001"));
        assert!(matches!(refused("https://[2001:db8::1]:8443"), QwcError::IpAddressHost { .. }));
        // Loopback over http fails on the IP rule, with a pointer to localhost.
        let e = refused("http://127.0.0.1:8080");
        assert!(matches!(e, QwcError::IpAddressHost { .. }), "{e}");
        assert!(e.to_string().contains("http://localhost"));
        assert!(refused("https://[::1]").to_string().contains("http://localhost"));
    }

    #[test]
    fn other_schemes_garbage_credentials_and_queries_are_refused() {
        assert!(matches!(refused("ftp://qb.example.com"), QwcError::UnsupportedScheme { .. }));
        assert!(matches!(refused("qb.example.com"), QwcError::InvalidUrl { .. }));
        assert!(matches!(refused(""), QwcError::InvalidUrl { .. }));
        assert!(matches!(refused("https://u:p@qb.example.com"), QwcError::UrlExtraPart { .. }));
        assert!(matches!(refused("https://qb.example.com/?a=1"), QwcError::UrlExtraPart { part: "query", .. }));
        assert!(matches!(refused("https://qb.example.com/#x"), QwcError::UrlExtraPart { part: "fragment", .. }));
    }

    #[test]
    fn localhost_is_refused_only_when_the_deployment_is_public() {
        let local = Deployment { public_url: "http://localhost:8080", public: false };
        assert!(check_deployment(&local).is_ok());
        let e = check_deployment(&Deployment { public: true, ..local }).unwrap_err();
        assert!(matches!(e, QwcError::LocalhostWhenPublic { .. }));
        assert!(e.to_string().contains("QBWC1035"));
        let public = Deployment { public_url: "https://qb.example.com", public: true };
        assert!(check_deployment(&public).is_ok());
    }

    #[test]
    fn app_url_appends_qbwc_to_any_path() {
        let u = |s| app_url(&check_public_url(s).unwrap());
        assert_eq!(u("https://qb.example.com"), "https://qb.example.com/qbwc");
        assert_eq!(u("https://qb.example.com/"), "https://qb.example.com/qbwc");
        assert_eq!(u("https://QB.example.com:8443/tools/"), "https://qb.example.com:8443/tools/qbwc");
    }

    #[test]
    fn support_url_on_another_host_is_refused() {
        let public = check_public_url("https://qb.example.com").unwrap();
        let s = QwcSettings { support_url: Some("https://help.example.com/qb".into()), ..QwcSettings::default() };
        let e = app_support(&s, &public).unwrap_err();
        assert!(matches!(e, QwcError::SupportOtherHost { .. }));
        assert!(e.to_string().contains("QBWC1000"));
        let same = QwcSettings { support_url: Some("https://qb.example.com/help".into()), ..QwcSettings::default() };
        assert_eq!(app_support(&same, &public).unwrap(), "https://qb.example.com/help");
        let http = QwcSettings { support_url: Some("http://qb.example.com/help".into()), ..QwcSettings::default() };
        assert!(matches!(app_support(&http, &public), Err(QwcError::InsecureScheme { .. })));
    }

    #[test]
    fn support_path_follows_the_public_url_and_must_be_absolute() {
        let public = check_public_url("https://qb.example.com/tools").unwrap();
        assert_eq!(app_support(&QwcSettings::default(), &public).unwrap(), "https://qb.example.com/tools/qbwc/support");
        let rel = QwcSettings { support_path: "help".into(), ..QwcSettings::default() };
        assert!(matches!(app_support(&rel, &public), Err(QwcError::SupportPathInvalid { .. })));
    }

    #[test]
    fn check_config_resolves_both_urls_without_a_user() {
        let d = Deployment { public_url: "https://qb.example.com/", public: true };
        let e = check_config(&QwcSettings::default(), &d).unwrap();
        assert_eq!(e.app_url, "https://qb.example.com/qbwc");
        assert_eq!(e.app_support, "https://qb.example.com/qbwc/support");
        let zero = QwcSettings { link_max_uses: 0, ..QwcSettings::default() };
        assert!(matches!(check_config(&zero, &d), Err(QwcError::LinkSettingZero { key: "link_max_uses" })));
    }

    #[test]
    fn description_must_be_one_to_eighty_characters() {
        let with = |d: &str| QwcSettings { app_description: d.to_owned(), ..QwcSettings::default() };
        assert!(matches!(check_settings(&with("   ")), Err(QwcError::DescriptionLength { len: 0 })));
        assert!(matches!(check_settings(&with(&"x".repeat(81))), Err(QwcError::DescriptionLength { len: 81 })));
        assert!(check_settings(&with(&"ü".repeat(80))).is_ok());
        assert!(matches!(check_settings(&with("a\nb")), Err(QwcError::ControlCharacter { .. })));
    }

    #[test]
    fn preferences_and_auth_flags_must_be_known_values() {
        let s = QwcSettings { personal_data_pref: "pdpSometimes".into(), ..QwcSettings::default() };
        let e = check_settings(&s).unwrap_err();
        assert!(matches!(e, QwcError::InvalidPersonalDataPref { .. }));
        assert!(e.to_string().contains("pdpRequired"));
        let s = QwcSettings { unattended_mode_pref: "yes".into(), ..QwcSettings::default() };
        assert!(matches!(check_settings(&s), Err(QwcError::InvalidUnattendedModePref { .. })));
        for bad in ["0x10", "F", "0x", "0x+1", "0xG", ""] {
            let s = QwcSettings { auth_flags: bad.into(), ..QwcSettings::default() };
            assert!(matches!(check_settings(&s), Err(QwcError::InvalidAuthFlags { .. })), "{bad}");
        }
        let s = QwcSettings { auth_flags: "0xe".into(), ..QwcSettings::default() };
        assert_eq!(auth_flags(&s).unwrap(), "0xE");
    }
}
