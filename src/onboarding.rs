//! Per-user `.qwc` files and signed onboarding links, for the API, the
//! link pages and the CLI alike.
//!
//! A `.qwc` is rendered from the settings, the user (its own `OwnerID` and
//! poll interval) and its company (the shared `FileID`); nothing random goes
//! in, so downloading twice gives the same bytes, and a password change
//! leaves the file valid.
//!
//! An onboarding link is `<public_url>/qwc/<token>`: the token is signed
//! with `link_secret` and carries the user, a nonce and the expiry
//! ([`crate::qwc::link`]). The database keeps one row per nonce with the
//! download count and whether the link resets the password, so a link can
//! be counted and its reset done once, on any replica. The token itself is
//! never stored or logged.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::qwc::{self, LinkClaims, LinkError, QwcError, QwcUser};
use crate::store::{NewEvent, QwcLink, Store, StoreError, User};
use crate::types::Username;

/// The `link_secret` setting: the key onboarding links are signed with.
/// Its `Debug` never shows it, and it serializes as empty so printing the
/// settings cannot leak it.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct LinkSecret(Option<SecretString>);

impl LinkSecret {
    /// A secret from text (tests and tools).
    pub fn new(secret: &str) -> Self {
        LinkSecret(Some(SecretString::from(secret.to_owned())))
    }

    /// The key bytes, if a usable secret is configured.
    ///
    /// # Errors
    /// [`OnboardingError::LinksDisabled`] when it is unset or shorter than
    /// 32 bytes.
    pub fn key(&self) -> Result<&[u8], OnboardingError> {
        let secret = self.0.as_ref().map(|s| s.expose_secret().as_bytes()).unwrap_or_default();
        if secret.is_empty() {
            return Err(OnboardingError::LinksDisabled(
                "onboarding links are off because link_secret is not set. Set link_secret in the config file \
                 (or QBWCD_LINK_SECRET) to a random string of at least 32 bytes, e.g. the output of \
                 `openssl rand -hex 32`, and restart qbwcd"
                    .into(),
            ));
        }
        if secret.len() < qwc::link::MIN_SECRET_LEN {
            return Err(OnboardingError::LinksDisabled(format!(
                "link_secret is {} bytes; onboarding links need at least {} so they cannot be forged. \
                 Set it to a longer random string, e.g. the output of `openssl rand -hex 32`",
                secret.len(),
                qwc::link::MIN_SECRET_LEN
            )));
        }
        Ok(secret)
    }
}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "LinkSecret(***)" } else { "LinkSecret(unset)" })
    }
}

impl Serialize for LinkSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("")
    }
}

/// Why a `.qwc` or a link could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// No such user.
    #[error("no user {0:?}; see `qbwcd user list`")]
    UnknownUser(String),
    /// No onboarding link with this id.
    #[error("no onboarding link {0:?}; see `qbwcd link list`")]
    UnknownLink(String),
    /// The user's company is gone (a bug or a hand-edited database).
    #[error("the company of user {0:?} does not exist")]
    NoCompany(String),
    /// The Web Connector would reject the file; the message says what to change.
    #[error(transparent)]
    Qwc(#[from] QwcError),
    /// Links are not configured; the message says how to turn them on.
    #[error("{0}")]
    LinksDisabled(String),
    /// A poll interval that cannot go in a `.qwc`.
    #[error("{0}")]
    InvalidSchedule(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A rendered `.qwc`, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QwcFile {
    /// `<app>-<company>-<user>.qwc`.
    pub file_name: String,
    /// The `Content-Disposition` header value.
    pub content_disposition: String,
    /// The file.
    pub body: String,
}

/// Renders `username`'s `.qwc`.
///
/// # Errors
/// [`OnboardingError::UnknownUser`], a [`QwcError`] refusal, or a store error.
pub async fn qwc_for(store: &dyn Store, settings: &Settings, username: &str) -> Result<QwcFile, OnboardingError> {
    let user = store.user(username).await?.ok_or_else(|| OnboardingError::UnknownUser(username.to_owned()))?;
    render_for(store, settings, &user).await
}

async fn render_for(store: &dyn Store, settings: &Settings, user: &User) -> Result<QwcFile, OnboardingError> {
    let company = store
        .company_by_id(user.company_id)
        .await?
        .ok_or_else(|| OnboardingError::NoCompany(user.username.to_string()))?;
    // A negative stored interval becomes 0, which the checks refuse by name.
    let interval = |v: Option<i32>| v.map(|n| u32::try_from(n).unwrap_or(0));
    let qwc_user = QwcUser {
        username: user.username.to_string(),
        owner_id: user.owner_id,
        company_slug: company.slug.to_string(),
        company_name: company.name.clone(),
        file_id: company.file_id,
        run_every_minutes: interval(user.run_every_minutes),
        run_every_seconds: interval(user.run_every_seconds),
    };
    let deployment = qwc::Deployment { public_url: &settings.public_url, public: settings.public };
    let body = qwc::render(&settings.qwc, &deployment, &qwc_user)?;
    Ok(QwcFile {
        file_name: qwc::file_name(&settings.qwc, &qwc_user),
        content_disposition: qwc::content_disposition(&settings.qwc, &qwc_user),
        body,
    })
}

/// Checks a per-user poll interval and converts it for the store: at most
/// one of the two, neither 0.
///
/// # Errors
/// [`OnboardingError::InvalidSchedule`] saying what to change.
pub fn check_schedule(
    minutes: Option<u32>,
    seconds: Option<u32>,
) -> Result<(Option<i32>, Option<i32>), OnboardingError> {
    let bad = |m: &str| Err(OnboardingError::InvalidSchedule(m.to_owned()));
    if minutes.is_some() && seconds.is_some() {
        return bad("give run_every_minutes or run_every_seconds, not both: the Web Connector takes only one");
    }
    if minutes == Some(0) || seconds == Some(0) {
        return bad("a poll interval must be at least 1");
    }
    let conv = |v: Option<u32>| v.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    Ok((conv(minutes), conv(seconds)))
}

/// What `reset_password` on a link does, in the words the CLI help, the
/// CLI's output, the API documentation and the link's page all use: the
/// reset is the button's doing, never the opening's, because mail scanners
/// and chat previews open links before the person does.
pub const RESET_PASSWORD_WORDING: &str = "the link's page gets a button that sets a new password and shows it once \
     (the old password then stops working); opening the link changes nothing";

/// A link just made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedLink {
    /// The id to list or revoke it by (`qbwcd link revoke ID`,
    /// `DELETE /api/v1/qwc-links/{id}`).
    pub id: String,
    /// `<public_url>/qwc/<token>`; give it to the QuickBooks admin.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// How many downloads it allows.
    pub max_uses: u32,
    /// Whether the link's page gets a button that sets a new password and
    /// shows it once (the old password then stops working); opening the
    /// link changes nothing.
    pub reset_password: bool,
}

/// Makes an onboarding link for `username`. The user's `.qwc` is rendered
/// first, so a configuration the Web Connector would refuse is reported
/// now rather than to the person who opens the link.
///
/// # Errors
/// [`OnboardingError::LinksDisabled`] without a usable `link_secret`, and
/// as [`qwc_for`].
pub async fn create_link(
    store: &dyn Store,
    settings: &Settings,
    username: &str,
    reset_password: bool,
    now: DateTime<Utc>,
) -> Result<CreatedLink, OnboardingError> {
    let key = settings.link_secret.key()?;
    let user = store.user(username).await?.ok_or_else(|| OnboardingError::UnknownUser(username.to_owned()))?;
    render_for(store, settings, &user).await?;
    let q = &settings.qwc;
    let claims = qwc::new_claims(user.username.as_str(), now.timestamp(), q.link_ttl_seconds);
    let expires_at = DateTime::from_timestamp(claims.expires_at, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let max_uses = i32::try_from(q.link_max_uses).unwrap_or(i32::MAX);
    store
        .create_qwc_link(&QwcLink {
            nonce: claims.nonce.clone(),
            username: user.username.to_string(),
            reset_password,
            uses: 0,
            max_uses,
            expires_at,
            created_at: now,
            last_used_at: None,
            password_reset_at: None,
            revoked_at: None,
        })
        .await?;
    let token = qwc::sign_link(key, &claims);
    record(
        store,
        &user,
        now,
        "qwc.link_created",
        format!("onboarding link created for {} (reset_password: {reset_password})", user.username),
    )
    .await;
    Ok(CreatedLink {
        id: claims.nonce.clone(),
        url: format!("{}/qwc/{token}", settings.public_url.trim_end_matches('/')),
        expires_at,
        max_uses: q.link_max_uses,
        reset_password,
    })
}

/// An onboarding link as listed (`qbwcd link list`, `GET
/// /api/v1/users/{username}/qwc-links`): its id and counters, never the
/// token (which is not stored).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    /// The id to revoke it by: the link's nonce. Not a credential: a link
    /// works only with its full signed token.
    pub id: String,
    /// The user whose `.qwc` it downloads.
    pub username: String,
    /// `active`, `expired`, `used_up` or `revoked`.
    pub state: &'static str,
    /// Whether the link page sets a new password on first use.
    pub reset_password: bool,
    /// Downloads so far.
    pub uses: i32,
    /// Downloads allowed.
    pub max_uses: i32,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last download.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the password was reset through it.
    pub password_reset_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl LinkView {
    /// The view of `link` as of `now`.
    pub fn of(link: QwcLink, now: DateTime<Utc>) -> Self {
        let state = if link.revoked_at.is_some() {
            "revoked"
        } else if link.expires_at <= now {
            "expired"
        } else if link.uses >= link.max_uses {
            "used_up"
        } else {
            "active"
        };
        LinkView {
            id: link.nonce,
            username: link.username,
            state,
            reset_password: link.reset_password,
            uses: link.uses,
            max_uses: link.max_uses,
            expires_at: link.expires_at,
            created_at: link.created_at,
            last_used_at: link.last_used_at,
            password_reset_at: link.password_reset_at,
            revoked_at: link.revoked_at,
        }
    }
}

/// A user's links (everyone's without `username`), newest first.
///
/// # Errors
/// [`OnboardingError::UnknownUser`] for a user that does not exist, or a
/// store error.
pub async fn list_links(
    store: &dyn Store,
    username: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<LinkView>, OnboardingError> {
    if let Some(name) = username {
        store.user(name).await?.ok_or_else(|| OnboardingError::UnknownUser(name.to_owned()))?;
    }
    Ok(store.list_qwc_links(username).await?.into_iter().map(|l| LinkView::of(l, now)).collect())
}

/// Revokes link `id`: from now on it is refused (410) for the page, the
/// download and the password reset alike. Revoking twice is harmless.
///
/// # Errors
/// [`OnboardingError::UnknownLink`], or a store error.
pub async fn revoke_link(store: &dyn Store, id: &str, now: DateTime<Utc>) -> Result<LinkView, OnboardingError> {
    let link = store.revoke_qwc_link(id, now).await?.ok_or_else(|| OnboardingError::UnknownLink(id.to_owned()))?;
    if link.revoked_at == Some(now) {
        if let Ok(Some(user)) = store.user(&link.username).await {
            let msg = format!("onboarding link {} of {} revoked", link.nonce, link.username);
            record(store, &user, now, "qwc.link_revoked", msg).await;
        }
    }
    Ok(LinkView::of(link, now))
}

/// Why a link was refused, for its error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRefusal {
    /// 403 (not genuine, links off) or 410 (expired, used up).
    pub status: u16,
    /// What the person opening it is told.
    pub message: String,
}

impl From<LinkError> for LinkRefusal {
    fn from(e: LinkError) -> Self {
        LinkRefusal { status: e.status(), message: e.to_string() }
    }
}

fn not_valid() -> LinkRefusal {
    LinkError::BadSignature.into()
}

fn used_up() -> LinkRefusal {
    LinkRefusal {
        status: 410,
        message: "this link has been used as many times as it allows; ask your administrator for a new one".into(),
    }
}

/// Checks a link: genuine, not expired, known, with uses left.
///
/// # Errors
/// A [`LinkRefusal`] for the error page; a database failure is logged here
/// and becomes a 503 refusal.
pub async fn check_link(
    store: &dyn Store,
    settings: &Settings,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(LinkClaims, QwcLink), LinkRefusal> {
    // With links turned off, no token can be genuine: say so plainly.
    let key = settings.link_secret.key().map_err(|_| LinkRefusal {
        status: 403,
        message: "onboarding links are turned off on this server; ask your administrator for the .qwc file".into(),
    })?;
    let claims = qwc::verify_link(key, token, now.timestamp())?;
    let link = match store.qwc_link(&claims.nonce).await {
        Ok(Some(l)) if l.username == claims.username => l,
        Ok(_) => return Err(not_valid()),
        Err(e) => return Err(store_down(&e)),
    };
    if link.revoked_at.is_some() {
        return Err(LinkRefusal {
            status: 410,
            message: "this link was revoked; ask your administrator for a new one".into(),
        });
    }
    if link.uses >= link.max_uses {
        return Err(used_up());
    }
    Ok((claims, link))
}

fn store_down(e: &StoreError) -> LinkRefusal {
    tracing::error!(error = %e, "onboarding link: the database failed");
    LinkRefusal { status: 503, message: "the server cannot reach its database; try again in a minute".into() }
}

/// Downloads through a checked link: renders the file, then counts the use
/// (atomically; the last use goes to one caller only). Rendering first
/// means a refusal does not spend a use.
///
/// # Errors
/// A [`LinkRefusal`]: used up (410), or the file cannot be made.
pub async fn download_via_link(
    store: &dyn Store,
    settings: &Settings,
    link: &QwcLink,
    now: DateTime<Utc>,
) -> Result<QwcFile, LinkRefusal> {
    let file = match qwc_for(store, settings, &link.username).await {
        Ok(f) => f,
        Err(OnboardingError::Store(e)) => return Err(store_down(&e)),
        Err(OnboardingError::UnknownUser(_)) => return Err(not_valid()),
        Err(e) => {
            tracing::warn!(error = %e, "onboarding link: the .qwc cannot be made");
            return Err(LinkRefusal {
                status: 500,
                message: "the server cannot make this .qwc file right now; tell your administrator".into(),
            });
        }
    };
    match store.use_qwc_link(&link.nonce, now).await {
        Ok(Some(uses)) => {
            if let Ok(Some(user)) = store.user(&link.username).await {
                let msg = format!(
                    "{} downloaded through an onboarding link (use {uses} of {})",
                    file.file_name, link.max_uses
                );
                record(store, &user, now, "qwc.downloaded", msg).await;
            }
            Ok(file)
        }
        Ok(None) => Err(used_up()),
        Err(e) => Err(store_down(&e)),
    }
}

/// What the browser said about where a reset POST came from.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestOrigin<'a> {
    /// `Sec-Fetch-Site` (`same-origin`, `same-site`, `cross-site`, `none`).
    pub sec_fetch_site: Option<&'a str>,
    /// `Origin` (`https://qbwcd.example.com`, or `null`).
    pub origin: Option<&'a str>,
    /// `Host`, for a server reached under another name than `public_url`.
    pub host: Option<&'a str>,
}

/// Refuses a reset POST another site made the browser send (a page
/// elsewhere with a form aimed at a link it learned, e.g. from a proxy
/// log): the reset must come from the link's own page.
///
/// `Sec-Fetch-Site` decides where browsers send it (all current ones):
/// `same-origin`, or `none` (typed or bookmarked: no other site involved).
/// Otherwise `Origin` must be this server: `public_url`'s origin, or the
/// scheme-less `Host` the request came to. With neither header (browsers
/// from before 2020 on a same-origin form, or a script) the POST is let
/// through: every browser that would carry a cross-site form sends
/// `Origin`, and a script that has the link has the credential already.
///
/// # Errors
/// A 403 [`LinkRefusal`] saying to open the link itself.
pub fn check_same_origin(settings: &Settings, req: RequestOrigin<'_>) -> Result<(), LinkRefusal> {
    let refused = || {
        LinkRefusal {
        status: 403,
        message: "this form can only be sent from its own page; open the link you were given and press the button                   there"
            .into(),
    }
    };
    if let Some(site) = req.sec_fetch_site {
        return match site.trim().to_ascii_lowercase().as_str() {
            "same-origin" | "none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = req.origin.map(str::trim) else {
        return Ok(());
    };
    let Ok(url) = url::Url::parse(origin) else {
        return Err(refused()); // `null` (a sandboxed or privacy-sensitive context) included
    };
    let ours = url::Url::parse(&settings.public_url).ok().map(|u| u.origin());
    if ours.as_ref() == Some(&url.origin()) {
        return Ok(());
    }
    let authority = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => return Err(refused()),
    };
    match req.host {
        Some(host) if host.trim().eq_ignore_ascii_case(&authority) => Ok(()),
        _ => Err(refused()),
    }
}

/// Resets the password through a reset link, once: the first caller gets
/// the new password (to show once), later callers `None`.
///
/// # Errors
/// A [`LinkRefusal`] when the database or hashing fails.
pub async fn reset_password_via_link(
    store: &dyn Store,
    link: &QwcLink,
    now: DateTime<Utc>,
) -> Result<Option<SecretString>, LinkRefusal> {
    if !link.reset_password {
        return Ok(None);
    }
    // Claim first: of two concurrent requests only one resets.
    match store.claim_password_reset(&link.nonce, now).await {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(e) => return Err(store_down(&e)),
    }
    let username = Username::parse(&link.username).map_err(|_| not_valid())?;
    let password = crate::auth::generate_password();
    let hash = match crate::auth::hash_password_off_runtime(password.clone()).await {
        Ok(h) => h,
        Err(e) => return Err(internal(&e.to_string())),
    };
    if let Err(e) = store.set_password(&username, &hash, now).await {
        return Err(store_down(&e));
    }
    if let Ok(Some(user)) = store.user(username.as_str()).await {
        record(
            store,
            &user,
            now,
            "user.password_reset",
            format!("password of {username} reset through an onboarding link"),
        )
        .await;
    }
    Ok(Some(password))
}

fn internal(e: &str) -> LinkRefusal {
    tracing::error!(error = %e, "onboarding link: setting the new password failed");
    LinkRefusal { status: 500, message: "the new password could not be set; tell your administrator".into() }
}

/// Records an audit event about a user (never a token or password).
async fn record(store: &dyn Store, user: &User, now: DateTime<Utc>, kind: &'static str, message: String) {
    let event = NewEvent {
        at: now,
        company_id: Some(user.company_id),
        user_id: Some(user.id),
        address: None,
        job_id: None,
        kind,
        code: None,
        message,
    };
    if let Err(e) = store.record_event(event).await {
        tracing::error!(error = %e, "could not record an onboarding event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_post_must_come_from_the_same_origin() {
        let settings = Settings { public_url: "https://qbwcd.example.com".into(), ..Settings::default() };
        let check = |site, origin, host| {
            check_same_origin(&settings, RequestOrigin { sec_fetch_site: site, origin, host }).map_err(|r| r.status)
        };
        assert_eq!(check(Some("same-origin"), Some("https://evil.example"), None), Ok(()));
        assert_eq!(check(Some("none"), None, None), Ok(()));
        assert_eq!(check(Some("cross-site"), Some("https://qbwcd.example.com"), None), Err(403));
        assert_eq!(check(Some("same-site"), None, None), Err(403));
        assert_eq!(check(None, Some("https://qbwcd.example.com"), None), Ok(()));
        assert_eq!(check(None, Some("http://10.0.0.5:8080"), Some("10.0.0.5:8080")), Ok(()));
        assert_eq!(check(None, Some("https://evil.example"), Some("qbwcd.example.com")), Err(403));
        assert_eq!(check(None, Some("http://qbwcd.example.com"), None), Err(403), "another scheme is another origin");
        assert_eq!(check(None, Some("null"), Some("qbwcd.example.com")), Err(403));
        // Old browsers send neither header on a same-origin form.
        assert_eq!(check(None, None, Some("qbwcd.example.com")), Ok(()));
    }

    #[test]
    fn link_secrets_are_checked_and_never_shown() {
        assert!(
            matches!(LinkSecret::default().key(), Err(OnboardingError::LinksDisabled(m)) if m.contains("link_secret is not set"))
        );
        assert!(
            matches!(LinkSecret::new("short").key(), Err(OnboardingError::LinksDisabled(m)) if m.contains("5 bytes"))
        );
        let s = LinkSecret::new("0123456789abcdef0123456789abcdef");
        assert_eq!(s.key().unwrap().len(), 32);
        assert_eq!(format!("{s:?}"), "LinkSecret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"\"");
    }

    #[test]
    fn schedules_take_one_positive_interval() {
        assert_eq!(check_schedule(Some(5), None).unwrap(), (Some(5), None));
        assert_eq!(check_schedule(None, None).unwrap(), (None, None));
        assert!(check_schedule(Some(5), Some(30)).is_err());
        assert!(check_schedule(None, Some(0)).is_err());
    }
}
