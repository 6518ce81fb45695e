//! A user's `.qwc` file, onboarding links, and the per-user poll interval.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ApiCaller, ApiError};
use crate::app::AppState;
use crate::onboarding::{self, CreatedLink, LinkView, OnboardingError};
use crate::types::{CompanySlug, Username};

impl From<OnboardingError> for ApiError {
    fn from(e: OnboardingError) -> Self {
        match e {
            OnboardingError::UnknownUser(u) => ApiError::not_found(format!("user {u:?}")),
            OnboardingError::UnknownLink(id) => ApiError::not_found(format!("onboarding link {id:?}")),
            OnboardingError::Store(s) => s.into(),
            // The Web Connector would reject the file: say why and what to change.
            OnboardingError::Qwc(q) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "qwc_refused", q.to_string()),
            OnboardingError::LinksDisabled(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "links_disabled", m),
            OnboardingError::InvalidSchedule(m) => ApiError::bad_request("invalid_schedule", m),
            e @ OnboardingError::NoCompany(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

/// `GET /users/{username}/qwc`: the user's `.qwc` as an attachment.
#[utoipa::path(
    get, path = "/api/v1/users/{username}/qwc", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "The .qwc file (attachment)", content_type = "application/x-qwc", body = String),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 404, description = "No such user", body = super::ErrorBody),
        (status = 422, description = "The Web Connector would refuse this file; the message says what to change", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn download(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let file = onboarding::qwc_for(state.store.as_ref(), &state.settings, &username).await?;
    Ok((
        [
            (header::CONTENT_TYPE, crate::qwc::CONTENT_TYPE.to_owned()),
            (header::CONTENT_DISPOSITION, file.content_disposition),
        ],
        file.body,
    )
        .into_response())
}

/// `POST /users/{username}/qwc-link` body (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The link page sets a new password on first use and shows it once.
    #[serde(default)]
    pub reset_password: bool,
}

/// `POST /users/{username}/qwc-link`: a signed, expiring URL that
/// downloads the user's `.qwc` without a token.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/qwc-link", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    request_body(content = Option<LinkBody>, description = "Optional; an empty body means no password reset"),
    responses(
        (status = 201, description = "The link", body = crate::onboarding::CreatedLink),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 404, description = "No such user", body = super::ErrorBody),
        (status = 422, description = "Links are off (no link_secret) or the file would be refused", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_link(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(username): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedLink>), ApiError> {
    let body: LinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        LinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?
    };
    let now = state.clock.now();
    let link =
        onboarding::create_link(state.store.as_ref(), &state.settings, &username, body.reset_password, now).await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// `GET /users/{username}/qwc-links`: the user's onboarding links,
/// newest first (ids and counters; tokens are never stored).
#[utoipa::path(
    get, path = "/api/v1/users/{username}/qwc-links", tag = "users", operation_id = "listUserQwcLinks",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "The links", body = [crate::onboarding::LinkView]),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 404, description = "No such user", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_links(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Json<Vec<LinkView>>, ApiError> {
    Ok(Json(onboarding::list_links(state.store.as_ref(), Some(&username), state.clock.now()).await?))
}

/// `DELETE /qwc-links/{id}`: revokes one onboarding link; its page,
/// download and password reset are refused (410) from now on.
#[utoipa::path(
    delete, path = "/api/v1/qwc-links/{id}", tag = "users", operation_id = "revokeQwcLink",
    params(("id" = String, Path, description = "The link's id, from listUserQwcLinks")),
    responses(
        (status = 200, description = "The link, revoked", body = crate::onboarding::LinkView),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 404, description = "No such link", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_link(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<LinkView>, ApiError> {
    Ok(Json(onboarding::revoke_link(state.store.as_ref(), &id, state.clock.now()).await?))
}

/// `PATCH /users/{username}` body: the user's own poll interval, written
/// into its `.qwc`. Both fields are replaced; leave both out (or null) to
/// fall back to the `[qwc]` setting.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserBody {
    /// Poll every N minutes.
    pub run_every_minutes: Option<u32>,
    /// Poll every N seconds.
    pub run_every_seconds: Option<u32>,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// User name.
    #[schema(value_type = String)]
    pub username: Username,
    /// Company slug.
    #[schema(value_type = String)]
    pub company: CompanySlug,
    /// Whether it may log in.
    pub enabled: bool,
    /// Own poll interval in minutes.
    pub run_every_minutes: Option<i32>,
    /// Own poll interval in seconds.
    pub run_every_seconds: Option<i32>,
}

/// `PATCH /users/{username}`.
#[utoipa::path(
    patch, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    request_body = PatchUserBody,
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Both or a zero interval", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 404, description = "No such user", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn patch_user(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(username): Path<String>,
    body: Result<Json<PatchUserBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let Json(body) = body?;
    let name = Username::parse(&username).map_err(|_| ApiError::not_found(format!("user {username:?}")))?;
    let (minutes, seconds) = onboarding::check_schedule(body.run_every_minutes, body.run_every_seconds)?;
    state.store.set_user_schedule(&name, minutes, seconds, state.clock.now()).await?;
    let u = state.store.user(name.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
    Ok(Json(UserView::from(u)))
}

impl From<crate::store::User> for UserView {
    fn from(u: crate::store::User) -> Self {
        UserView {
            username: u.username,
            company: u.company_slug,
            enabled: u.enabled,
            run_every_minutes: u.run_every_minutes,
            run_every_seconds: u.run_every_seconds,
        }
    }
}
