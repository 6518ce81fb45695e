//! The JSON API under `/api/v1`, for the applications that enqueue work and
//! read results, and for admins' tools. Every route but the diagnostics
//! catalog and the OpenAPI document needs a bearer token
//! (`qbwcd token create NAME`) with the role the route names.

mod admins;
mod auth;
mod companies;
mod diagnostics;
mod error;
mod events;
mod health;
mod jobs;
mod links;
mod openapi;
mod qbxml;
mod qwc;
mod span;
mod tokens;
mod users;
mod wait;
pub mod webhook_guard;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::app::AppState;

pub use auth::{generate_token, hash_token, token_name, Access, ApiCaller, Role};
pub use companies::{
    add_user, checked_changes, checked_webhook, create_company, full_view as company_view, new_company, CompanyView,
    NewCompanyBody,
};
pub use error::{ApiError, ErrorBody};
pub use events::{page as event_page, EventPage, EventView};
pub use health::{health_of, HealthView, ProblemView};
pub use jobs::{full_view as job_view, job_result, page_cursor, sent_request, JobView, WebhookView};
pub use links::router as links_router;
pub use openapi::ApiDoc;
pub use users::{new_password, UserView};
pub use wait::{wait_for, WaitQuery};
pub use webhooks::{check_webhook_url, sign, verify, WebhookEvent, EVENT_ID_HEADER, SIGNATURE_HEADER};

/// Declares the routes once, each with what it needs from its caller: a
/// [`Role`] (a token with at least that role) or [`Access::Public`].
/// [`ROUTES`] lists them for the OpenAPI check, [`ROUTE_ACCESS`] for the
/// role check, and `routes()` registers exactly those, each behind
/// [`auth::authorize`] with its access; a route cannot be added without
/// saying it.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path, $access:expr,)*) => {
        /// Every `/api/v1` route as `(method, path)`, in axum's path syntax.
        /// The router is built from the same list, and a test fails when
        /// one is missing from the OpenAPI document.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// Every `/api/v1` route as `(method, path, access)`: what its
        /// caller needs. A test sends each one a token with a lower role.
        pub const ROUTE_ACCESS: &[(&str, &str, Access)] = &[$((stringify!($method), $path, $access.access())),*];

        fn routes(state: &AppState) -> Router<AppState> {
            // Several methods on one path merge into one method router; each
            // method's handler gets its own check (a route layer runs only
            // for a matched route, before any extractor reads the body).
            Router::new()$(.route(
                $path,
                axum::routing::$method($handler).route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    |s: axum::extract::State<AppState>, r: axum::extract::Request, n: axum::middleware::Next| {
                        auth::authorize_with(s, $access.access(), r, n)
                    },
                )),
            ))*
        }
    };
}

// Roles: `Role::Read` reads; `Role::Enqueue` also enqueues, retries and
// cancels jobs; `Role::Admin` also manages companies, users, passwords,
// links and webhooks and settles lost writes (`resolve`).
api_routes! {
    post "/companies" => companies::create, Role::Admin,
    get "/companies" => companies::list, Role::Read,
    get "/companies/{slug}" => companies::show, Role::Read,
    patch "/companies/{slug}" => companies::update, Role::Admin,
    delete "/companies/{slug}" => companies::remove, Role::Admin,
    post "/companies/{slug}/disable" => companies::disable, Role::Admin,
    post "/companies/{slug}/enable" => companies::enable, Role::Admin,
    post "/companies/{slug}/users" => companies::create_user, Role::Admin,
    get "/companies/{slug}/users" => users::list_for_company, Role::Read,
    post "/companies/{slug}/jobs" => jobs::enqueue, Role::Enqueue,
    get "/companies/{slug}/jobs" => jobs::list, Role::Read,
    get "/jobs/{id}" => jobs::show, Role::Read,
    post "/jobs/{id}/retry" => jobs::retry, Role::Enqueue,
    post "/jobs/{id}/cancel" => jobs::cancel, Role::Enqueue,
    post "/jobs/{id}/resolve" => jobs::resolve, Role::Admin,
    get "/companies/{slug}/health" => health::show, Role::Read,
    get "/companies/{slug}/events" => events::list_for_company, Role::Read,
    get "/events" => events::list, Role::Read,
    get "/events/{id}" => events::show, Role::Read,
    get "/users/{username}" => users::show, Role::Read,
    patch "/users/{username}" => qwc::patch_user, Role::Admin,
    delete "/users/{username}" => users::remove, Role::Admin,
    post "/users/{username}/unlock" => users::unlock, Role::Admin,
    get "/users/{username}/qwc" => qwc::download, Role::Admin,
    post "/users/{username}/qwc-link" => qwc::create_link, Role::Admin,
    get "/users/{username}/qwc-links" => qwc::list_links, Role::Admin,
    delete "/qwc-links/{id}" => qwc::revoke_link, Role::Admin,
    post "/users/{username}/disable" => users::disable, Role::Admin,
    post "/users/{username}/enable" => users::enable, Role::Admin,
    post "/users/{username}/password" => users::reset_password, Role::Admin,
    get "/tokens" => tokens::list, Role::Admin,
    post "/tokens" => tokens::create, Role::Admin,
    post "/tokens/{name}/revoke" => tokens::revoke, Role::Admin,
    get "/qbxml/types" => qbxml::list, Role::Read,
    get "/qbxml/types/{name}" => qbxml::show, Role::Read,
    get "/admins" => admins::list, Role::Admin,
    post "/admins" => admins::create, Role::Admin,
    delete "/admins/{name}" => admins::remove, Role::Admin,
    post "/admins/{name}/password" => admins::passwd, Role::Admin,
    get "/diagnostics/{code}" => diagnostics::show, Access::Public,
    get "/openapi.json" => openapi::document, Access::Public,
}

/// The `/api/v1` routes (nest them under that prefix).
pub fn router(state: &AppState) -> Router<AppState> {
    // Room for the largest accepted job plus JSON escaping.
    let limit = state.settings.job_max_bytes.saturating_mul(2).saturating_add(64 * 1024);
    // `layer` wraps each route after routing, so the span sees the
    // matched route, and the role check inside it records the token's id.
    routes(state).layer(DefaultBodyLimit::max(limit)).layer(axum::middleware::from_fn(span::request_span))
}
