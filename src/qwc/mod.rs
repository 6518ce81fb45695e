//! `.qwc` files: one per Web Connector user, rendered from a template and
//! refused when the Web Connector would reject them.
//!
//! A `.qwc` is the only thing a QuickBooks admin installs, and a bad one is
//! the most common first-day failure: an http or IP-address URL, a support
//! page on another host, or two users' files that QuickBooks sees as the same
//! application. So every value is checked ([`checks`]) before it reaches the
//! template ([`mod@render`]), each user gets its own `OwnerID`, `AppName` and
//! `AppUniqueName`, and the company's one `FileID` is shared by its users.
//!
//! Output is deterministic: the same settings, URL and user give the same
//! bytes, so downloading twice gives the identical file.

pub mod checks;
pub mod link;
pub mod render;
pub mod support;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use checks::{check_config, check_deployment, check_public_url, Endpoints};
pub use link::{new_claims, sign_link, verify_link, LinkClaims, LinkError};
pub use render::{load_template, render, render_with_template, xml_escape};
pub use support::{link_error_page_html, setup_guide_markdown, support_page_html, SupportContact};

/// `Result` with [`QwcError`].
pub type Result<T = ()> = std::result::Result<T, QwcError>;

/// Poll interval used when neither the config nor the user names one.
pub const DEFAULT_RUN_EVERY_MINUTES: u32 = 15;

/// Longest `AppDescription` the Web Connector shows (protocol.md §4: "≤ ~80").
pub const MAX_DESCRIPTION_CHARS: usize = 80;

/// Media type for a `.qwc` download (as the qbwc gem sends it). Browsers save
/// it under the `Content-Disposition` file name either way.
pub const CONTENT_TYPE: &str = "application/x-qwc";

/// The `[qwc]` section of the config file.
///
/// Every field has a default, so an empty section (or none) is valid.
/// Unknown keys are refused so that a misspelt key is not silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QwcSettings {
    /// Product name at the front of every `AppName` and `AppUniqueName`.
    pub app_name: String,
    /// `AppDescription`: 1 to 80 characters after trimming.
    pub app_description: String,
    /// Path of the support page, appended to `public_url` like `/qbwc` is
    /// (so it follows a reverse-proxy path prefix). Must start with `/`.
    pub support_path: String,
    /// A full `AppSupport` URL instead of `public_url` + `support_path`;
    /// must be on the same host as `public_url` (QBWC1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
    /// Poll every N minutes. Set at most one of this and `run_every_seconds`;
    /// when neither is set the default is 15 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_every_minutes: Option<u32>,
    /// Poll every N seconds ("real time"). Set at most one of this and
    /// `run_every_minutes`: both set is refused rather than guessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_every_seconds: Option<u32>,
    /// `IsReadOnly`; `false` because qbwcd writes.
    pub is_read_only: bool,
    /// `PersonalDataPref`: `pdpNotNeeded`, `pdpOptional` or `pdpRequired`.
    pub personal_data_pref: String,
    /// `UnattendedModePref`: `umpRequired` or `umpOptional`.
    pub unattended_mode_pref: String,
    /// `AuthFlags`: `0x0` (all editions) to `0xF`, editions OR-ed together.
    pub auth_flags: String,
    /// A directory holding a `default.qwc` that replaces the built-in template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_dir: Option<PathBuf>,
    /// How long an onboarding link stays valid, in seconds.
    pub link_ttl_seconds: u64,
    /// How many times an onboarding link may be used.
    pub link_max_uses: u32,
}

impl Default for QwcSettings {
    fn default() -> Self {
        QwcSettings {
            app_name: "qbwcd".to_owned(),
            app_description: "qbwcd QuickBooks connector".to_owned(),
            support_path: "/qbwc/support".to_owned(),
            support_url: None,
            run_every_minutes: None,
            run_every_seconds: None,
            is_read_only: false,
            personal_data_pref: "pdpNotNeeded".to_owned(),
            unattended_mode_pref: "umpOptional".to_owned(),
            auth_flags: "0x0".to_owned(),
            template_dir: None,
            link_ttl_seconds: 86_400,
            link_max_uses: 3,
        }
    }
}

impl QwcSettings {
    /// Checks everything in the section that does not depend on a user or
    /// on `public_url`, so `serve` and `doctor` can refuse a bad config at
    /// start instead of at the first download.
    ///
    /// # Errors
    /// The first problem found, as a [`QwcError`] that says what to change.
    pub fn validate(&self) -> Result {
        checks::check_settings(self)
    }
}

/// Where the server is reached from, as the `.qwc` must name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment<'a> {
    /// The configured `public_url`; `AppURL` is this + `/qbwc`.
    pub public_url: &'a str,
    /// The deployment claims to be reachable from other PCs. A `localhost`
    /// `public_url` is then refused: such a `.qwc` only works on the server's
    /// own PC (QBWC1035).
    pub public: bool,
}

/// One Web Connector user, as the `.qwc` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QwcUser {
    /// `UserName`, sent back by the Web Connector as `strUserName`.
    pub username: String,
    /// This user's own `OwnerID`, so each user is a distinct application.
    pub owner_id: uuid::Uuid,
    /// The company's slug: stable, used in `AppUniqueName` and the file name.
    pub company_slug: String,
    /// The company's display name, used in `AppName`.
    pub company_name: String,
    /// The company's one stable `FileID`, shared by all its users.
    pub file_id: uuid::Uuid,
    /// Per-user poll interval in minutes; overrides the config when set.
    pub run_every_minutes: Option<u32>,
    /// Per-user poll interval in seconds; overrides the config when set.
    pub run_every_seconds: Option<u32>,
}

/// How often the Web Connector polls, as written into `<Scheduler>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `<RunEveryNMinutes>`.
    Minutes(u32),
    /// `<RunEveryNSeconds>`.
    Seconds(u32),
}

impl Schedule {
    /// The interval in seconds, e.g. to tell when a connector has gone silent.
    pub fn as_seconds(self) -> u64 {
        match self {
            Schedule::Minutes(m) => u64::from(m) * 60,
            Schedule::Seconds(s) => u64::from(s),
        }
    }

    /// The `<Scheduler>` child element's name.
    pub fn element(self) -> &'static str {
        match self {
            Schedule::Minutes(_) => "RunEveryNMinutes",
            Schedule::Seconds(_) => "RunEveryNSeconds",
        }
    }

    /// The interval in the element's own unit.
    pub fn interval(self) -> u32 {
        match self {
            Schedule::Minutes(n) | Schedule::Seconds(n) => n,
        }
    }
}

/// The user's poll interval: the user's override if it sets one, else the
/// config's, else [`DEFAULT_RUN_EVERY_MINUTES`].
///
/// # Errors
/// [`QwcError::SchedulerConflict`] when one level sets both minutes and
/// seconds, [`QwcError::SchedulerZero`] for an interval of 0.
pub fn schedule(settings: &QwcSettings, user: &QwcUser) -> Result<Schedule> {
    let scope = format!("user {:?}", user.username);
    match checks::pick_schedule(&scope, user.run_every_minutes, user.run_every_seconds)? {
        Some(s) => Ok(s),
        None => Ok(checks::pick_schedule("[qwc]", settings.run_every_minutes, settings.run_every_seconds)?
            .unwrap_or(Schedule::Minutes(DEFAULT_RUN_EVERY_MINUTES))),
    }
}

/// `AppName`: `"<app> – <company> (<user>)"`, distinct per user of a company
/// so QuickBooks lists (and authorizes) each one separately.
pub fn app_name(settings: &QwcSettings, user: &QwcUser) -> String {
    format!("{} \u{2013} {} ({})", settings.app_name.trim(), user.company_name.trim(), user.username)
}

/// `AppUniqueName`: `"<app>.<company slug>.<user>"`. It is the Web
/// Connector's key for the application; the slug (not the display name)
/// keeps it stable when a company is renamed, so a re-download replaces the
/// existing entry instead of adding a clone.
pub fn app_unique_name(settings: &QwcSettings, user: &QwcUser) -> String {
    format!("{}.{}.{}", settings.app_name.trim(), user.company_slug, user.username)
}

/// The download's file name, `"<app>-<company slug>-<user>.qwc"`, reduced to
/// ASCII letters, digits, `-`, `_` and `.` so it is safe in a
/// `Content-Disposition` header and on any file system. Other characters
/// become `_` (runs collapse to one); the result is deterministic.
pub fn file_name(settings: &QwcSettings, user: &QwcUser) -> String {
    let stem = format!("{}-{}-{}", settings.app_name.trim(), user.company_slug, user.username);
    let mut out = String::with_capacity(stem.len() + 4);
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    // A leading dot would hide the file on Unix-like systems and `..` must
    // never reach a path; a cap keeps the header and the name short.
    let out: String = out.trim_start_matches('.').chars().take(120).collect();
    let out = if out.is_empty() { "qbwcd".to_owned() } else { out };
    format!("{out}.qwc")
}

/// The `Content-Disposition` header value for the download.
pub fn content_disposition(settings: &QwcSettings, user: &QwcUser) -> String {
    // file_name() yields only [A-Za-z0-9._-], so no quoting or RFC 5987
    // encoding is needed.
    format!("attachment; filename=\"{}\"", file_name(settings, user))
}

/// A GUID in the braced form `.qwc` files use: `{XXXXXXXX-XXXX-…}`.
///
/// Upper-case hex, as in Intuit's samples. Compare GUIDs read back from
/// QuickBooks by parsing them (`uuid::Uuid::parse_str` accepts braces), not
/// as strings.
pub fn guid_braced(id: &uuid::Uuid) -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    format!("{{{}}}", id.hyphenated().encode_upper(&mut buf))
}

/// Why a `.qwc` was not rendered. Each message says what is wrong, why the
/// Web Connector cares, and what to change.
#[derive(Debug, thiserror::Error)]
pub enum QwcError {
    /// `public_url` (or `support_url`) does not parse as a URL.
    #[error("{field} {url:?} is not a valid URL ({reason}). Set it to the https address the Web Connector reaches qbwcd at, e.g. https://qb.example.com.")]
    InvalidUrl {
        /// Which setting.
        field: &'static str,
        /// The value given.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// A scheme other than http or https.
    #[error("{field} {url} uses the scheme {scheme:?}; the Web Connector only talks https (or http to localhost). Use an https:// URL.")]
    UnsupportedScheme {
        /// Which setting.
        field: &'static str,
        /// The value given.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// http on a host other than `localhost`.
    #[error("{field} {url} uses http; the Web Connector accepts http only for localhost and refuses anything else (QBWC1010/QBWC1051). Serve qbwcd over https (built-in TLS or a reverse proxy) and use an https:// URL.")]
    InsecureScheme {
        /// Which setting.
        field: &'static str,
        /// The value given.
        url: String,
    },
    /// The host is an IPv4 or IPv6 literal.
    #[error("{field} {url} uses an IP address; the Web Connector refuses IP addresses (QBWC1001/QBWC1002). Use a host name with a certificate for it{hint}.")]
    IpAddressHost {
        /// Which setting.
        field: &'static str,
        /// The value given.
        url: String,
        /// Extra advice for loopback addresses.
        hint: &'static str,
    },
    /// A URL with a user name, password, query or fragment.
    #[error("{field} {url} has a {part}, which cannot be part of the Web Connector's address. Remove it.")]
    UrlExtraPart {
        /// Which setting.
        field: &'static str,
        /// The value given.
        url: String,
        /// "user name or password", "query" or "fragment".
        part: &'static str,
    },
    /// `public_url` points at `localhost` but the deployment is public.
    #[error("public_url {url} points at localhost, but this deployment is marked public: a localhost .qwc only works on the PC running qbwcd, never ship one (QBWC1035). Set public_url to the host name other PCs reach qbwcd at.")]
    LocalhostWhenPublic {
        /// The value given.
        url: String,
    },
    /// The support URL is on another host than `AppURL`.
    #[error("AppSupport {support_url} is on host {support_host:?} but AppURL is on {app_host:?}; the Web Connector requires both on the same host (QBWC1000). Point [qwc] support_url at {app_host} or remove it to use qbwcd's own support page.")]
    SupportOtherHost {
        /// The support URL.
        support_url: String,
        /// Its host.
        support_host: String,
        /// `AppURL`'s host.
        app_host: String,
    },
    /// `support_path` does not start with `/`.
    #[error("[qwc] support_path {path:?} must be a path starting with \"/\", e.g. \"/qbwc/support\". For a full URL use [qwc] support_url.")]
    SupportPathInvalid {
        /// The value given.
        path: String,
    },
    /// `app_description` is empty or too long.
    #[error("[qwc] app_description is {len} characters after trimming; the Web Connector needs 1 to 80 (it shows it in its list and in QuickBooks' authorization dialog). Shorten or fill it in.")]
    DescriptionLength {
        /// Length in characters after trimming.
        len: usize,
    },
    /// A required text value is empty.
    #[error("{field} is empty, and every .qwc must carry it. Give {field} a value.")]
    EmptyValue {
        /// Which value.
        field: &'static str,
    },
    /// A value holds a control character (line break, tab, …).
    #[error("{field} contains a control character (a line break, tab or similar), which a .qwc value cannot carry. Remove it.")]
    ControlCharacter {
        /// Which value.
        field: &'static str,
    },
    /// An all-zero GUID, which would make users collide.
    #[error("{field} is the nil GUID {{00000000-0000-0000-0000-000000000000}}; it must be a random GUID, or users' files collide in QuickBooks (QBWC1039/QBWC1026). Give it a fresh random GUID.")]
    NilGuid {
        /// `owner_id` or `file_id`.
        field: &'static str,
    },
    /// `personal_data_pref` is not a value the Web Connector knows.
    #[error("[qwc] personal_data_pref = {value:?} is not a value the Web Connector knows. Use \"pdpNotNeeded\", \"pdpOptional\" or \"pdpRequired\".")]
    InvalidPersonalDataPref {
        /// The value given.
        value: String,
    },
    /// `unattended_mode_pref` is not a value the Web Connector knows.
    #[error("[qwc] unattended_mode_pref = {value:?} is not a value the Web Connector knows. Use \"umpRequired\" or \"umpOptional\".")]
    InvalidUnattendedModePref {
        /// The value given.
        value: String,
    },
    /// `auth_flags` is not `0x0`..`0xF`.
    #[error("[qwc] auth_flags = {value:?} is not between 0x0 and 0xF. Use \"0x0\" for every edition, or OR together 0x1 SimpleStart, 0x2 Pro, 0x4 Premier, 0x8 Enterprise (e.g. \"0xE\").")]
    InvalidAuthFlags {
        /// The value given.
        value: String,
    },
    /// Both minutes and seconds set at one level.
    #[error("{scope} sets both run_every_minutes and run_every_seconds; the Web Connector takes only one. Remove one of them.")]
    SchedulerConflict {
        /// `[qwc]` or the user.
        scope: String,
    },
    /// A poll interval of 0.
    #[error("{scope} sets {key} = 0; the Web Connector needs an interval of at least 1. Set a positive number.")]
    SchedulerZero {
        /// `[qwc]` or the user.
        scope: String,
        /// The key that is 0.
        key: &'static str,
    },
    /// `link_ttl_seconds` or `link_max_uses` is 0, so no link would work.
    #[error("[qwc] {key} is 0, so no onboarding link would ever work. Set it to at least 1 (defaults: link_ttl_seconds = 86400, link_max_uses = 3).")]
    LinkSettingZero {
        /// The key that is 0.
        key: &'static str,
    },
    /// The template file could not be read.
    #[error("cannot read the .qwc template {path}: {source}. Put a default.qwc in [qwc] template_dir or remove template_dir to use the built-in one.")]
    TemplateRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The template names a placeholder the renderer does not know.
    #[error("the .qwc template {template} uses the unknown placeholder {{{{{name}}}}}. Known placeholders: {known}. Fix the template.")]
    UnknownPlaceholder {
        /// Which template.
        template: String,
        /// The unknown name.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// The template leaves out a placeholder that keeps users distinct.
    #[error("the .qwc template {template} does not use {{{{{name}}}}}; without it users' files would be wrong or collide in QuickBooks. Add it (see qwc-templates/default.qwc).")]
    MissingPlaceholder {
        /// Which template.
        template: String,
        /// The missing name.
        name: &'static str,
    },
    /// A `{{` without a matching `}}`, or a malformed name.
    #[error("the .qwc template {template} has a malformed placeholder near byte {offset}: {reason}. Placeholders look like {{{{app_url}}}}.")]
    TemplateSyntax {
        /// Which template.
        template: String,
        /// Byte offset of the `{{`.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn user(name: &str) -> QwcUser {
        QwcUser {
            username: name.to_owned(),
            // A different OwnerID per name, as the store gives each user its own.
            owner_id: uuid::Uuid::from_u128(name.bytes().fold(0x1111_2222_3333_4444_5555_6666_7777_8888, |h, b| {
                (h ^ u128::from(b)).wrapping_mul(0x0100_0000_0000_0000_0000_0000_013b)
            })),
            company_slug: "acme".to_owned(),
            company_name: "Acme Ltd".to_owned(),
            file_id: uuid::Uuid::from_u128(0xabcd_ef01_2345_6789_abcd_ef01_2345_6789),
            run_every_minutes: None,
            run_every_seconds: None,
        }
    }

    #[test]
    fn an_empty_config_section_gives_the_defaults() {
        let s: QwcSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, QwcSettings::default());
        assert!(s.validate().is_ok());
    }

    #[test]
    fn a_misspelt_config_key_is_refused() {
        assert!(serde_json::from_str::<QwcSettings>(r#"{"run_every_minute": 5}"#).is_err());
    }

    #[test]
    fn schedule_defaults_to_fifteen_minutes_and_a_user_override_wins() {
        let s = QwcSettings { run_every_minutes: Some(30), ..QwcSettings::default() };
        let mut u = user("alice");
        assert_eq!(schedule(&QwcSettings::default(), &u).unwrap(), Schedule::Minutes(15));
        assert_eq!(schedule(&s, &u).unwrap(), Schedule::Minutes(30));
        u.run_every_seconds = Some(20);
        assert_eq!(schedule(&s, &u).unwrap(), Schedule::Seconds(20));
        assert_eq!(Schedule::Minutes(2).as_seconds(), 120);
    }

    #[test]
    fn schedule_with_both_units_at_one_level_is_refused() {
        let s = QwcSettings { run_every_minutes: Some(5), run_every_seconds: Some(30), ..QwcSettings::default() };
        assert!(matches!(schedule(&s, &user("a")), Err(QwcError::SchedulerConflict { .. })));
        assert!(matches!(s.validate(), Err(QwcError::SchedulerConflict { .. })));
        let mut u = user("a");
        u.run_every_minutes = Some(0);
        assert!(matches!(
            schedule(&QwcSettings::default(), &u),
            Err(QwcError::SchedulerZero { key: "run_every_minutes", .. })
        ));
    }

    #[test]
    fn names_are_distinct_per_user_and_use_the_company() {
        let s = QwcSettings::default();
        assert_eq!(app_name(&s, &user("alice")), "qbwcd \u{2013} Acme Ltd (alice)");
        assert_eq!(app_unique_name(&s, &user("alice")), "qbwcd.acme.alice");
        assert_ne!(app_name(&s, &user("alice")), app_name(&s, &user("bob")));
    }

    #[test]
    fn file_name_is_ascii_safe_and_deterministic() {
        let s = QwcSettings::default();
        assert_eq!(file_name(&s, &user("alice")), "qbwcd-acme-alice.qwc");
        let odd = user("Jörg \"Müller\"/..\\x");
        let name = file_name(&s, &odd);
        assert_eq!(name, "qbwcd-acme-J_rg_M_ller_.._x.qwc");
        assert_eq!(name, file_name(&s, &odd));
        let dots = QwcSettings { app_name: "..".into(), ..QwcSettings::default() };
        assert!(!file_name(&dots, &user("a")).starts_with('.'));
        assert_eq!(content_disposition(&s, &user("alice")), "attachment; filename=\"qbwcd-acme-alice.qwc\"");
    }

    #[test]
    fn guids_are_braced_upper_case() {
        let id = uuid::Uuid::from_u128(0x57f3b9b1_86f1_4fcc_b1ee_566de1813d20);
        assert_eq!(guid_braced(&id), "{57F3B9B1-86F1-4FCC-B1EE-566DE1813D20}");
        assert_eq!(uuid::Uuid::parse_str(&guid_braced(&id)).unwrap(), id);
    }
}
