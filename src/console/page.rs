//! What every console page shares: the layout's data, times shown both
//! relative and exact, rendering, errors and the response headers.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::store::StoreError;

/// The data of the layout around every page: who is logged in, the CSRF
/// token its forms carry, the flash message, the title and which nav
/// entry is current.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The admin's name; empty on the login and error pages.
    pub admin: String,
    /// The session's CSRF token, for the forms.
    pub csrf: String,
    /// What the last action did.
    pub flash: Option<String>,
    /// The page's title.
    pub title: String,
    /// The product name (`[brand] name`).
    pub brand: String,
    /// The current nav entry: `companies`, `events` or `diagnostics`.
    pub nav: &'static str,
}

/// A moment as a page shows it: relative ("5 min ago") and exact (UTC),
/// with the ISO form for `<time datetime>`.
#[derive(Clone, Debug)]
pub struct Time {
    /// RFC 3339.
    pub iso: String,
    /// `2026-12-03 09:41:07 UTC`.
    pub exact: String,
    /// `5 min ago`, `in 2 h`.
    pub relative: String,
}

impl Time {
    /// `at` seen from `now`.
    pub fn of(at: DateTime<Utc>, now: DateTime<Utc>) -> Time {
        Time {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            exact: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            relative: relative(at, now),
        }
    }

    /// [`Time::of`] for an optional moment.
    pub fn opt(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Time> {
        at.map(|t| Time::of(t, now))
    }
}

/// "just now", "5 min ago", "3 h ago", "2 days ago", or "in …" ahead.
fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let (n, ahead) = (secs.unsigned_abs(), secs < 0);
    let amount = match n {
        0..=44 => return "just now".into(),
        45..=5399 => format!("{} min", (n + 30) / 60),
        5400..=129_599 => format!("{} h", (n + 1800) / 3600),
        _ => {
            let days = (n + 43_200) / 86_400;
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        }
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A page that could not be shown, as a page saying why.
#[derive(Debug)]
pub enum ConsoleError {
    /// 404 with what was not found.
    NotFound(String),
    /// 400 with what is wrong in the request.
    BadRequest(String),
    /// 403 with why.
    Forbidden(String),
    /// 409: the thing changed or is in the wrong state.
    Conflict(String),
    /// 503: the database failed (logged, not shown).
    Unavailable,
}

impl From<crate::api::ApiError> for ConsoleError {
    /// The shared operations answer the API's errors; the console shows
    /// their message under the same status.
    fn from(e: crate::api::ApiError) -> Self {
        match e.status.as_u16() {
            404 => ConsoleError::NotFound(e.message),
            403 => ConsoleError::Forbidden(e.message),
            409 => ConsoleError::Conflict(e.message),
            400..=499 => ConsoleError::BadRequest(e.message),
            _ => {
                tracing::error!(error = %e.message, "console: an operation failed");
                ConsoleError::Unavailable
            }
        }
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ConsoleError::NotFound(format!("{what} was not found")),
            StoreError::Conflict(why) => ConsoleError::Conflict(why),
            e => {
                tracing::error!(error = %e, "console: the database failed");
                ConsoleError::Unavailable
            }
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    message: String,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ConsoleError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ConsoleError::Conflict(m) => (StatusCode::CONFLICT, m),
            ConsoleError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "the database is not answering; try again in a moment".to_owned())
            }
        };
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let page = ErrorPage { layout: Layout { title, ..Layout::default() }, status: status.as_u16(), message };
        (status, render(&page)).into_response()
    }
}

/// Renders a template as an HTML response (a 500 if the template fails,
/// which only a bug does).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console: a template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

/// Headers on every console answer: no caching (pages hold customer data
/// and passwords shown once), no framing, no scripts, forms only to this
/// server, no referrer to elsewhere.
pub async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
             base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_relative_both_ways() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - chrono::Duration::minutes(5), now), "5 min ago");
        assert_eq!(relative(now - chrono::Duration::hours(3), now), "3 h ago");
        assert_eq!(relative(now - chrono::Duration::days(1), now), "1 day ago");
        assert_eq!(relative(now + chrono::Duration::days(3), now), "in 3 days");
    }
}
