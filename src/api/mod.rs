//! The JSON API under `/api/v1`, for the applications that enqueue work and
//! read results, and for admins' tools. Every route but the diagnostics
//! catalog and the OpenAPI document needs a bearer token
//! (`qbwcd token create NAME`).

mod auth;
mod companies;
mod diagnostics;
mod error;
mod health;
mod jobs;
mod links;
mod openapi;
mod qwc;
mod users;
mod wait;
pub mod webhook_guard;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::app::AppState;

pub use auth::{generate_token, hash_token, ApiCaller};
pub use error::{ApiError, ErrorBody};
pub use health::{HealthView, ProblemView};
pub use jobs::{JobView, WebhookView};
pub use links::router as links_router;
pub use openapi::ApiDoc;
pub use wait::{listen_for_finished_jobs, settled, wait_for, WaitQuery};
pub use webhooks::{
    backoff, check_webhook_url, deliver_webhooks, sign, verify, Deliverer, WebhookEvent, EVENT_ID_HEADER,
    SIGNATURE_HEADER,
};

/// Declares the routes once: [`ROUTES`] lists them for the OpenAPI check,
/// and `routes()` registers exactly those.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every `/api/v1` route as `(method, path)`, in axum's path syntax.
        /// The router is built from the same list, and a test fails when
        /// one is missing from the OpenAPI document.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn routes() -> Router<AppState> {
            // Several methods on one path merge into one method router.
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

api_routes! {
    post "/companies" => companies::create,
    get "/companies" => companies::list,
    get "/companies/{slug}" => companies::show,
    patch "/companies/{slug}" => companies::update,
    post "/companies/{slug}/users" => companies::create_user,
    post "/companies/{slug}/jobs" => jobs::enqueue,
    get "/companies/{slug}/jobs" => jobs::list,
    get "/jobs/{id}" => jobs::show,
    post "/jobs/{id}/retry" => jobs::retry,
    post "/jobs/{id}/cancel" => jobs::cancel,
    post "/jobs/{id}/resolve" => jobs::resolve,
    get "/companies/{slug}/health" => health::show,
    patch "/users/{username}" => qwc::patch_user,
    get "/users/{username}/qwc" => qwc::download,
    post "/users/{username}/qwc-link" => qwc::create_link,
    get "/users/{username}/qwc-links" => qwc::list_links,
    delete "/qwc-links/{id}" => qwc::revoke_link,
    post "/users/{username}/disable" => users::disable,
    post "/users/{username}/enable" => users::enable,
    post "/users/{username}/password" => users::reset_password,
    get "/diagnostics/{code}" => diagnostics::show,
    get "/openapi.json" => openapi::document,
}

/// The `/api/v1` routes (nest them under that prefix).
pub fn router(state: &AppState) -> Router<AppState> {
    // Room for the largest accepted job plus JSON escaping.
    let limit = state.settings.job_max_bytes.saturating_mul(2).saturating_add(64 * 1024);
    routes().layer(DefaultBodyLimit::max(limit))
}
