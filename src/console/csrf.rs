//! The CSRF check in front of every console POST but the login (which
//! checks its own cookie): the browser must say the form came from this
//! server (`Sec-Fetch-Site`/`Origin`, as onboarding links check), and the
//! form must carry the session's token (field `csrf`). A forged or missing
//! one is a 403 before any handler runs, so no action can forget it. The
//! session is checked before the body is read, so a client without a login
//! cannot make the server buffer a form.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;

use super::page::ConsoleError;
use super::session::{constant_eq, Console};
use crate::app::AppState;
use crate::onboarding::{check_same_origin, RequestOrigin};

/// The largest console form: a pasted or uploaded QWCLog.txt.
pub const FORM_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The largest form of every other action (names, paths, a webhook URL).
const SMALL_FORM_MAX_BYTES: usize = 64 * 1024;

fn forbidden(why: &str) -> Response {
    ConsoleError::Forbidden(format!(
        "{why}: the form was not sent from this console's own page (or the page is older than your login). \
         Reload the page and try again"
    ))
    .into_response()
}

/// The middleware.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path() == "/login" || request.uri().path() == "/admin/login" {
        return next.run(request).await;
    }
    let headers = request.headers();
    let origin = RequestOrigin {
        sec_fetch_site: headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        origin: headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        host: headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    };
    if check_same_origin(&state.settings, origin).is_err() {
        return forbidden("cross-site request refused");
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let limit = if request.uri().path().ends_with("/diagnostics/log") { FORM_MAX_BYTES } else { SMALL_FORM_MAX_BYTES };
    let (mut parts, body) = request.into_parts();
    // A live session first: the handler's `Console` then comes from the
    // request's extensions, without a second look-up.
    let console = match Console::from_session(&mut parts, &state).await {
        Ok(Some(c)) => c,
        Ok(None) => return forbidden("no console session"),
        Err(refused) => return refused,
    };
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return ConsoleError::BadRequest(format!("the form is larger than {} KiB", limit >> 10)).into_response()
        }
    };
    let sent = form_token(&content_type, &bytes);
    if !sent.is_some_and(|t| constant_eq(t.as_bytes(), console.csrf.as_bytes())) {
        return forbidden("missing or wrong form token");
    }
    parts.extensions.insert(console);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The `csrf` field of a url-encoded or multipart form.
fn form_token(content_type: &str, body: &Bytes) -> Option<String> {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => {
            url::form_urlencoded::parse(body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned())
        }
        "multipart/form-data" => multipart_field(content_type, body, "csrf"),
        _ => None,
    }
}

/// A small text field of a multipart body: the part whose
/// `Content-Disposition` names it, up to the next boundary.
fn multipart_field(content_type: &str, body: &[u8], name: &str) -> Option<String> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim_matches('"').to_owned())?;
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let wanted = format!("name=\"{name}\"");
    for part in text.split(delimiter.as_str()) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else { continue };
        let disposition_names_it =
            head.lines().any(|l| l.to_ascii_lowercase().starts_with("content-disposition:") && l.contains(&wanted));
        if disposition_names_it {
            return Some(value.trim_end_matches("\r\n").to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_in_either_kind_of_form() {
        let form = Bytes::from_static(b"a=1&csrf=abc%20d&b=2");
        assert_eq!(form_token("application/x-www-form-urlencoded", &form).as_deref(), Some("abc d"));
        let body = Bytes::from_static(
            b"--XY\r\nContent-Disposition: form-data; name=\"log\"; filename=\"QWCLog.txt\"\r\n\r\nline\r\n\
              --XY\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XY--\r\n",
        );
        assert_eq!(form_token("multipart/form-data; boundary=XY", &body).as_deref(), Some("tok"));
        assert_eq!(form_token("text/plain", &form), None);
        assert_eq!(form_token("application/x-www-form-urlencoded", &Bytes::from_static(b"a=1")), None);
    }
}
