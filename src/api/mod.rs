//! The JSON API under `/api/v1`, for the applications that enqueue work and
//! read results, and for admins' tools. Every route but the diagnostics
//! catalog needs a bearer token (`qbwcd token create NAME`).

mod auth;
mod companies;
mod diagnostics;
mod error;
mod health;
mod jobs;
mod links;
mod qwc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use axum::Router;

use crate::app::AppState;

pub use auth::{generate_token, hash_token, ApiCaller};
pub use error::ApiError;
pub use health::{HealthView, ProblemView};
pub use jobs::JobView;
pub use links::router as links_router;

/// The `/api/v1` routes (nest them under that prefix).
pub fn router(state: &AppState) -> Router<AppState> {
    // Room for the largest accepted job plus JSON escaping.
    let limit = state.settings.job_max_bytes.saturating_mul(2).saturating_add(64 * 1024);
    Router::new()
        .route("/companies", post(companies::create).get(companies::list))
        .route("/companies/{slug}", get(companies::show))
        .route("/companies/{slug}/users", post(companies::create_user))
        .route("/companies/{slug}/health", get(health::show))
        .route("/companies/{slug}/jobs", post(jobs::enqueue).get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/jobs/{id}/resolve", post(jobs::resolve))
        .route("/diagnostics/{code}", get(diagnostics::show))
        .route("/users/{username}", patch(qwc::patch_user))
        .route("/users/{username}/qwc", get(qwc::download))
        .route("/users/{username}/qwc-link", post(qwc::create_link))
        .layer(DefaultBodyLimit::max(limit))
}
