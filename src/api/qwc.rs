//! A user's `.qwc` file, onboarding links, and the per-user poll interval.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::users::UserView;
use super::{ApiCaller, ApiError};
use crate::app::AppState;
use crate::onboarding::{self, CreatedLink, LinkView, OnboardingError};

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
    get, path = "/api/v1/users/{username}/qwc", operation_id = "downloadUserQwc", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "The .qwc file (attachment)", content_type = "application/x-qwc", body = String),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token's role is too low", body = super::ErrorBody),
        (status = 404, description = "No such user", body = super::ErrorBody),
        (status = 422, description = "The Web Connector would refuse this file; the message says what to change", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn download(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    super::users::find_user(&state, &caller, &username).await?;
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
    /// The link's page gets a button that sets a new password and shows it
    /// once (the old password then stops working); opening the link changes
    /// nothing.
    #[serde(default)]
    pub reset_password: bool,
}

/// `POST /users/{username}/qwc-link`: a signed, expiring URL that
/// downloads the user's `.qwc` without a token.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/qwc-link", operation_id = "createUserQwcLink", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    request_body(content = Option<LinkBody>, description = "Optional; an empty body means no password reset"),
    responses(
        (status = 201, description = "The link", body = crate::onboarding::CreatedLink),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token's role is too low", body = super::ErrorBody),
        (status = 404, description = "No such user", body = super::ErrorBody),
        (status = 422, description = "Links are off (no link_secret) or the file would be refused", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_link(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedLink>), ApiError> {
    let body: LinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        LinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?
    };
    super::users::find_user(&state, &caller, &username).await?;
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
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Json<Vec<LinkView>>, ApiError> {
    super::users::find_user(&state, &caller, &username).await?;
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
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<LinkView>, ApiError> {
    if caller.company_ids.is_some() {
        // A limited token revokes only links of its companies' users; any
        // other link gets the answer a missing one gets, naming no user.
        let missing = || ApiError::from(OnboardingError::UnknownLink(id.clone()));
        let links = state.store.list_qwc_links(None).await?;
        let link = links.into_iter().find(|l| l.nonce == id).ok_or_else(missing)?;
        super::users::find_user(&state, &caller, &link.username).await.map_err(|_| missing())?;
    }
    Ok(Json(onboarding::revoke_link(state.store.as_ref(), &id, state.clock.now()).await?))
}

/// `PATCH /users/{username}` body: only the keys present change; the
/// password never does (`POST /users/{username}/password`). The schedule
/// is one setting: sending either interval replaces both (at most one may
/// be set), and both `null` clear it (the `[qwc]` setting applies).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserBody {
    /// Poll every N minutes, written into the user's `.qwc`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub run_every_minutes: Option<Option<u32>>,
    /// Poll every N seconds ("real time"), written into the user's `.qwc`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub run_every_seconds: Option<Option<u32>>,
    /// Whether its Web Connector may log in (as `POST …/enable|disable`).
    pub enabled: Option<bool>,
}

/// A key that is present deserializes to `Some`, even when `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// `PATCH /users/{username}`: the user's schedule and whether it is enabled.
#[utoipa::path(
    patch, path = "/api/v1/users/{username}", operation_id = "updateUser", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    request_body = PatchUserBody,
    responses(
        (status = 200, description = "The user as it is now", body = UserView),
        (status = 400, description = "Both or a zero interval", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token's role is too low", body = super::ErrorBody),
        (status = 404, description = "No such user", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn patch_user(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
    body: Result<Json<PatchUserBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let Json(body) = body?;
    let now = state.clock.now();
    // Checked before anything is written, so a bad body changes nothing.
    let schedule = if body.run_every_minutes.is_some() || body.run_every_seconds.is_some() {
        Some(onboarding::check_schedule(body.run_every_minutes.flatten(), body.run_every_seconds.flatten())?)
    } else {
        None
    };
    let name = super::users::find_user(&state, &caller, &username).await?.username;
    if let Some((minutes, seconds)) = schedule {
        state.store.set_user_schedule(&name, minutes, seconds, now).await?;
    }
    if let Some(enabled) = body.enabled {
        state.store.set_user_enabled(&name, enabled, now).await?;
    }
    let u = state.store.user(name.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
    Ok(Json(UserView::load(&*state.store, u, &state.settings, now).await?))
}
