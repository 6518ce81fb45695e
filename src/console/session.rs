//! Console sessions: login, the session cookie, logout, and the
//! [`Console`] extractor every page takes.
//!
//! The cookie holds 32 random bytes; the database keeps only their SHA-256
//! (`admin_session`), so replicas share sessions and a copy of the
//! database logs no one in. A session ends when unused for
//! `console_idle_timeout_seconds`, at logout, or when its admin is removed
//! or gets a new password. The cookie is `HttpOnly`, `SameSite=Strict`,
//! scoped to `/admin`, and `Secure` when `public_url` is https.
//!
//! Logins go through the Web Connector's bounded password queue and its
//! lockout store, under the key `console:NAME` at the client's address, so
//! the same rules apply (per name and address, and per address) without a
//! console name sharing a counter with a Web Connector user of that name.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine as _;
use rand::RngCore as _;
use secrecy::SecretString;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::page::{render, ConsoleError, Layout};
use crate::app::AppState;
use crate::store::{AdminLogin, LoginFailure, NewEvent};

/// The session cookie.
pub const SESSION_COOKIE: &str = "qbwcd_console";
/// The login form's own CSRF cookie (there is no session yet to tie it to).
pub const LOGIN_COOKIE: &str = "qbwcd_console_login";

/// A logged-in admin, taken from the session cookie. A page without one
/// redirects to the login page (and back after it).
#[derive(Clone, Debug)]
pub struct Console {
    /// The admin's row id.
    pub admin_id: i64,
    /// The admin's name.
    pub admin: String,
    /// SHA-256 of the cookie.
    token_hash: String,
    /// The token the session's forms carry.
    pub csrf: String,
    /// The message the action before left.
    pub flash: Option<String>,
}

impl Console {
    /// The layout of a page for this admin.
    pub fn layout(&self, state: &AppState, title: impl Into<String>, nav: &'static str) -> Layout {
        Layout {
            admin: self.admin.clone(),
            csrf: self.csrf.clone(),
            flash: self.flash.clone(),
            title: title.into(),
            brand: state.settings.brand.name.clone(),
            nav,
        }
    }

    /// Ends an action: records the event naming the admin, leaves `flash`
    /// for the next page and redirects there (POST → redirect → GET).
    pub async fn done(&self, state: &AppState, to: &str, event: ConsoleEvent, flash: String) -> Response {
        self.record(state, event).await;
        if let Err(e) = state.store.set_admin_flash(&self.token_hash, &flash).await {
            tracing::warn!(error = %e, "console: could not keep the flash message");
        }
        Redirect::to(to).into_response()
    }

    /// Records an event naming the admin (kind `console.<action>`).
    pub async fn record(&self, state: &AppState, e: ConsoleEvent) {
        let event = NewEvent {
            at: state.clock.now(),
            company_id: e.company_id,
            user_id: e.user_id,
            address: None,
            job_id: e.job_id,
            kind: e.kind,
            code: None,
            message: crate::clip::clip(&format!("admin {:?} (console): {}", self.admin, e.message), 4096),
        };
        if let Err(e) = state.store.record_event(event).await {
            tracing::warn!(error = %e, "console: could not record an admin action");
        }
    }
}

/// An admin action, as its event records it.
#[derive(Debug, Default)]
pub struct ConsoleEvent {
    /// `console.<action>`.
    pub kind: &'static str,
    /// The company it concerns.
    pub company_id: Option<i64>,
    /// The Web Connector user it concerns.
    pub user_id: Option<i64>,
    /// The job it concerns.
    pub job_id: Option<crate::types::JobId>,
    /// What was done, in words.
    pub message: String,
}

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// SHA-256 of a cookie value, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token of a session cookie: derived, so it needs no storage,
/// and different from the stored hash.
pub fn csrf_of(token: &str) -> String {
    hex::encode(Sha256::new().chain_update(b"qbwcd console csrf\0").chain_update(token.as_bytes()).finalize())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if state.settings.public_url.starts_with("https:") { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    let text = format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict{secure}{age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn idle_cutoff(state: &AppState) -> chrono::DateTime<chrono::Utc> {
    let idle = i64::try_from(state.settings.console_idle_timeout_seconds.max(1)).unwrap_or(i64::MAX);
    state.clock.now() - chrono::Duration::try_seconds(idle).unwrap_or(chrono::Duration::days(365))
}

impl Console {
    /// The admin of the request's live session, marking it used (or the
    /// one the CSRF check already found); `None` without one.
    ///
    /// # Errors
    /// The database's failure, as a page.
    pub async fn from_session(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Response> {
        if let Some(found) = parts.extensions.get::<Console>() {
            return Ok(Some(found.clone()));
        }
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let hash = token_hash(token);
        match state.store.use_admin_session(&hash, state.clock.now(), idle_cutoff(state)).await {
            Ok(Some(s)) => Ok(Some(Console {
                admin_id: s.admin_id,
                admin: s.admin_name,
                csrf: csrf_of(token),
                token_hash: hash,
                flash: s.flash,
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(ConsoleError::from(e).into_response()),
        }
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(console) = Console::from_session(parts, state).await? {
            return Ok(console);
        }
        // Nested under /admin, the router sees the path without it.
        let original = parts.extensions.get::<axum::extract::OriginalUri>().map(|o| &o.0).unwrap_or(&parts.uri);
        let here = original.path_and_query().map(|p| p.as_str()).unwrap_or("/admin");
        let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        Err(Redirect::to(&format!("/admin/login?next={next}")).into_response())
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    next: String,
    name: String,
    error: Option<String>,
}

/// `?next=` on the login page.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a console path is a place to go back to (no other site, no `//host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        // Only a page of this console, as a header can carry it: no other
        // site, no control characters (a `Location` cannot hold them).
        Some(n) if n.starts_with("/admin") && !n.contains('\\') && !n.chars().any(|c| c.is_control()) => n.to_owned(),
        _ => "/admin".to_owned(),
    }
}

fn login_form(state: &AppState, status: StatusCode, next: &str, name: &str, error: Option<String>) -> Response {
    let csrf = random_token();
    let page = LoginPage {
        layout: Layout { title: "Log in".into(), brand: state.settings.brand.name.clone(), ..Layout::default() },
        csrf: csrf.clone(),
        next: next.to_owned(),
        name: name.to_owned(),
        error,
    };
    let mut r = (status, render(&page)).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(state, LOGIN_COOKIE, &csrf, None));
    r
}

/// `GET /admin/login`.
pub async fn login_page(State(state): State<AppState>, Query(q): Query<Next>) -> Response {
    login_form(&state, StatusCode::OK, &safe_next(q.next.as_deref()), "", None)
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// The lockout key of a console name (cut like the Web Connector's).
fn lockout_name(name: &str) -> String {
    format!("console:{}", name.chars().take(65).collect::<String>())
}

/// `POST /admin/login`: the password checked on the bounded queue, under
/// the lockout rules; a session on success.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !constant_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return ConsoleError::Forbidden(
            "this login form has expired or was sent from another site; open the login page and try again".into(),
        )
        .into_response();
    }
    let next = safe_next(form.next.as_deref());
    let addr = state.proxies.client_ip(peer.ip(), &headers).to_string();
    let now = state.clock.now();
    let key = lockout_name(&form.name);
    let shown = crate::clip::clip(&form.name, crate::clip::CLIENT_TEXT_MAX);
    let locked = match state.store.login_locked_until(&key, &addr, now).await {
        Ok(l) => l,
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    if let Some(until) = locked {
        let wait = super::Time::of(until, now);
        let msg = format!("too many failed logins from this address; try again {} ({})", wait.relative, wait.exact);
        return login_form(&state, StatusCode::TOO_MANY_REQUESTS, &next, &form.name, Some(msg));
    }
    let admin = match state.store.admin(&form.name).await {
        Ok(a) => a,
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    let password = SecretString::from(form.password);
    let ok = match state.qbwc.verifier().verify(password, admin.as_ref().map(|a| a.password_hash.clone())).await {
        Ok(ok) => ok,
        Err(_) => {
            let msg = "the server is busy checking passwords; try again in a few seconds".to_owned();
            return login_form(&state, StatusCode::SERVICE_UNAVAILABLE, &next, &form.name, Some(msg));
        }
    };
    let Some(admin) = admin.filter(|_| ok) else {
        let auth = &state.settings.auth;
        let failure = LoginFailure {
            username: key,
            addr: addr.clone(),
            guess: true,
            now,
            window_start: auth.window_start(now),
            user_rule: auth.user_rule(),
            addr_rule: auth.address_rule(),
        };
        if let Err(e) = state.store.record_login_failure(failure).await {
            tracing::error!(error = %e, "console: could not record a failed login");
        }
        tracing::warn!(remote_addr = %addr, "console login refused");
        let event = NewEvent {
            at: now,
            company_id: None,
            user_id: None,
            address: Some(addr.clone()),
            job_id: None,
            kind: "console.login_failed",
            code: None,
            message: format!("console login as {shown:?} from {addr} refused: wrong name or password"),
        };
        if let Err(e) = state.store.record_event(event).await {
            tracing::warn!(error = %e, "console: could not record a failed login");
        }
        let msg = "wrong name or password".to_owned();
        return login_form(&state, StatusCode::UNAUTHORIZED, &next, &form.name, Some(msg));
    };
    let token = random_token();
    let login = AdminLogin {
        admin_id: admin.id,
        token_hash: token_hash(&token),
        lockout_name: key,
        addr: addr.clone(),
        now,
        idle_cutoff: idle_cutoff(&state),
    };
    if let Err(e) = state.store.record_admin_login(login).await {
        return ConsoleError::from(e).into_response();
    }
    let console = Console {
        admin_id: admin.id,
        admin: admin.name.clone(),
        token_hash: token_hash(&token),
        csrf: csrf_of(&token),
        flash: None,
    };
    let message = format!("logged in from {addr}");
    console.record(&state, ConsoleEvent { kind: "console.login", message, ..ConsoleEvent::default() }).await;
    let mut r = Redirect::to(&next).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &token, None));
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&state, LOGIN_COOKIE, "", Some(0)));
    r
}

/// `POST /admin/logout`: the session ends and its cookie is cleared.
pub async fn logout(State(state): State<AppState>, console: Console) -> Response {
    console
        .record(&state, ConsoleEvent { kind: "console.logout", message: "logged out".into(), ..Default::default() })
        .await;
    if let Err(e) = state.store.end_admin_session(&console.token_hash).await {
        return ConsoleError::from(e).into_response();
    }
    let mut r = Redirect::to("/admin/login").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    r
}

/// Equal bytes, in time independent of where they differ.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
