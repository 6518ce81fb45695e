//! The operator console: server-rendered pages under `/admin` for the
//! people who run QuickBooks connections.
//!
//! Templates (askama) are compiled into the binary, the one stylesheet is
//! embedded, and there is no script: every action is a plain form POST
//! that redirects to a page showing what happened (a flash message kept
//! on the session), except where a password is shown once, which is
//! answered directly and never stored. Every action calls the operation
//! the API and CLI call, and records an event naming the admin.
//!
//! Access: a console session (see [`session`]); API tokens never log in
//! here. Every POST carries the session's CSRF token ([`csrf`]).

mod company;
mod csrf;
mod diagnostics;
mod events;
mod home;
mod job;
mod page;
pub mod session;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub use page::{render, ConsoleError, Layout, Time};
pub use session::Console;

/// The stylesheet, served at `/admin/static/console.css`.
const CSS: &str = include_str!("console.css");

/// The console's routes (nest them under `/admin`).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route("/companies", post(home::create_company))
        .route("/events", get(events::show))
        .route("/diagnostics", get(diagnostics::show))
        .route(
            "/diagnostics/log",
            post(diagnostics::read_log).layer(axum::extract::DefaultBodyLimit::max(csrf::FORM_MAX_BYTES)),
        )
        .route("/companies/{slug}", get(company::show))
        .route("/companies/{slug}/edit", post(company::edit))
        .route("/companies/{slug}/users", post(company::add_user))
        .route("/companies/{slug}/jobs", get(company::jobs))
        .route("/users/{username}/qwc", get(company::download_qwc))
        .route("/users/{username}/link", post(company::create_link))
        .route("/users/{username}/password", post(company::reset_password))
        .route("/users/{username}/schedule", post(company::set_schedule))
        .route("/users/{username}/enabled", post(company::set_enabled))
        .route("/users/{username}/unlock", post(company::unlock))
        .route("/jobs/{id}", get(job::show))
        .route("/jobs/{id}/retry", post(job::retry))
        .route("/jobs/{id}/cancel", post(job::cancel))
        .route("/jobs/{id}/resolve", get(job::confirm_resolve).post(job::resolve))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/static/console.css", get(css))
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::check))
        .layer(axum::middleware::map_response(page::security_headers))
}

async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CSS)
}
