//! The pages behind an onboarding link, `/qwc/{token}`: no API token, the
//! signed link is the credential.
//!
//! - `GET /qwc/{token}`: a page with a download button. For a link made
//!   with `reset_password`, the page offers a button that sets a new
//!   password; nothing changes on a GET, because mail scanners and chat
//!   link previews fetch links before the person does, and would otherwise
//!   use up the one showing of the password.
//! - `POST /qwc/{token}`: on a reset link, sets a new password the first
//!   time and shows it once (later posts say it was already shown). Only
//!   from the link's own page: a cross-site POST is refused with 403
//!   ([`onboarding::check_same_origin`]).
//! - `GET /qwc/{token}/file`: the `.qwc`. Only this counts a use, so
//!   looking at the page, or resetting the password, spends none.
//!
//! Refusals are HTML pages: 403 for a link that is altered, not ours, or
//! while links are off; 410 for one that expired or was used up. Every
//! answer is `no-store` and sends no referrer, because the URL is a
//! credential. For the same reason nothing here logs the path or the token
//! (a request-logging layer added later must not log these URIs either).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use secrecy::ExposeSecret;

use crate::app::AppState;
use crate::onboarding::{self, LinkRefusal};
use crate::qwc::{link_error_page_html, xml_escape};
use crate::store::QwcLink;

/// The `/qwc/{token}` routes (merge them at the root).
pub fn router() -> Router<AppState> {
    Router::new().route("/qwc/{token}", get(page).post(reset)).route("/qwc/{token}/file", get(file))
}

/// Headers every link answer carries: never cached, never leaked onward.
fn private(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex, nofollow"));
    resp
}

fn refused(r: &LinkRefusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
    private((status, axum::response::Html(link_error_page_html(r.status, &r.message))).into_response())
}

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let now = state.clock.now();
    match onboarding::check_link(state.store.as_ref(), &state.settings, &token, now).await {
        Ok((_, link)) => private(axum::response::Html(landing(&state, &link, &token, None)).into_response()),
        Err(r) => refused(&r),
    }
}

async fn reset(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = onboarding::RequestOrigin {
        sec_fetch_site: headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        origin: header(header::ORIGIN),
        host: header(header::HOST),
    };
    if let Err(r) = onboarding::check_same_origin(&state.settings, origin) {
        return refused(&r);
    }
    let now = state.clock.now();
    let link = match onboarding::check_link(state.store.as_ref(), &state.settings, &token, now).await {
        Ok((_, link)) => link,
        Err(r) => return refused(&r),
    };
    match onboarding::reset_password_via_link(state.store.as_ref(), &link, now).await {
        Ok(Some(password)) => {
            let html = landing(&state, &link, &token, Some(password.expose_secret()));
            private(axum::response::Html(html).into_response())
        }
        // Already reset (or not a reset link): show the page as it now is.
        Ok(None) => {
            let link = state.store.qwc_link(&link.nonce).await.ok().flatten().unwrap_or(link);
            private(axum::response::Html(landing(&state, &link, &token, None)).into_response())
        }
        Err(r) => refused(&r),
    }
}

async fn file(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let now = state.clock.now();
    let link = match onboarding::check_link(state.store.as_ref(), &state.settings, &token, now).await {
        Ok((_, link)) => link,
        Err(r) => return refused(&r),
    };
    match onboarding::download_via_link(state.store.as_ref(), &state.settings, &link, now).await {
        Ok(f) => private(
            (
                [
                    (header::CONTENT_TYPE, crate::qwc::CONTENT_TYPE.to_owned()),
                    (header::CONTENT_DISPOSITION, f.content_disposition),
                ],
                f.body,
            )
                .into_response(),
        ),
        Err(r) => refused(&r),
    }
}

/// The link's page. `password` is shown only in the answer to the reset.
/// The download button is relative (`<token>/file` from `/qwc/<token>`),
/// so it works behind a reverse-proxy path prefix too. The page is in the
/// operator's name (`[brand]`) and says which button to press first: on a
/// reset link the password one, so the password is in hand when the Web
/// Connector asks for it.
fn landing(state: &AppState, link: &QwcLink, token: &str, password: Option<&str>) -> String {
    let contact = state.settings.brand.contact();
    let brand = xml_escape(contact.name).into_owned();
    let user = xml_escape(&link.username).into_owned();
    let guide = format!("<a href=\"{}\">setup guide</a>", xml_escape(&support_url(state)));
    let left = link.max_uses - link.uses;
    let download = format!(
        "<p><a class=\"button\" href=\"{}/file\" download>Download the .qwc file</a></p>\n<p class=\"small\">This link \
         allows {left} more download{}.</p>\n",
        xml_escape(token),
        if left == 1 { "" } else { "s" },
    );
    let mut body = format!(
        "<main><h1>Connect QuickBooks to {brand}</h1>\n<p>This page gives you the <code>.qwc</code> file for the Web \
         Connector user <strong>{user}</strong> of {brand}. Open it on the PC that runs QuickBooks.</p>\n"
    );
    if let Some(pw) = password {
        body.push_str(&format!(
            "<section class=\"secret\"><h2>Your new password</h2><p><code id=\"password\">{}</code></p>\n<p>Type it into \
             the Web Connector's Password field for this application. It is shown only now and is not stored \
             anywhere it could be shown again: copy it before you leave this page. The old password no longer \
             works.</p></section>\n<h2>Next: download the file</h2>\n<p>Press <strong>Download the .qwc file</strong>, \
             then follow the {guide}.</p>\n{download}",
            xml_escape(pw)
        ));
    } else if link.reset_password && link.password_reset_at.is_none() {
        body.push_str(&format!(
            "<ol><li>First press <strong>Set and show my new password</strong> and copy the password it shows.</li>\n\
             <li>Then press <strong>Download the .qwc file</strong>.</li>\n<li>Then follow the {guide}.</li></ol>\n\
             <section><h2>1. Password</h2><p>This link comes with a new password for the Web Connector: the button \
             below sets it and shows it once, and the old password then stops working. Opening this page changed \
             nothing.</p>\n<form method=\"post\"><button type=\"submit\">Set and show my new password</button></form>\
             </section>\n<section><h2>2. The file</h2>\n{download}</section>\n"
        ));
    } else {
        let password = if link.reset_password {
            "The new password was shown when its button was first pressed and is not shown again; if nobody kept \
             it, ask for a new link."
        } else {
            "You also need the Web Connector password you were given with this link."
        };
        body.push_str(&format!(
            "<p>Press <strong>Download the .qwc file</strong>, then follow the {guide}. {password}</p>\n{download}"
        ));
    }
    body.push_str(&contact.html());
    body.push_str("</main>\n");
    html_page(&format!("Connect QuickBooks to {brand}"), &body)
}

fn support_url(state: &AppState) -> String {
    let q = &state.settings.qwc;
    q.support_url
        .clone()
        .unwrap_or_else(|| format!("{}{}", state.settings.public_url.trim_end_matches('/'), q.support_path))
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" \
         content=\"noindex\">\n<title>{title}</title>\n<style>body{{font:16px/1.5 system-ui,sans-serif;\
         max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}}code{{background:#f1f1f1;padding:0 .2em}}\
         .secret code{{font-size:1.4rem}}.button,button{{display:inline-block;background:#2a6;color:#fff;\
         padding:.6em 1.2em;border:0;border-radius:4px;text-decoration:none;font-size:1rem;cursor:pointer}}\
         .small{{color:#666;font-size:.9rem}}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}
