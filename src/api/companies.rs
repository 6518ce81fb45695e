//! Companies and their Web Connector users.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::webhooks::check_webhook_url;
use super::{ApiCaller, ApiError, ErrorBody};
use crate::app::AppState;
use crate::store::{Company, NewCompany, NewUser};
use crate::types::{CompanySlug, Username};

/// `POST /companies` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCompanyBody {
    /// Lower-case letters, digits, `-` and `_`.
    pub slug: String,
    /// Display name (defaults to the slug).
    pub name: Option<String>,
    /// The company file's path on the QuickBooks PC; none = the open file.
    pub file_path: Option<String>,
    /// Where jobs without their own `webhook_url` report their final state.
    pub webhook_url: Option<String>,
}

/// A company as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyView {
    /// Slug.
    #[schema(value_type = String)]
    pub slug: CompanySlug,
    /// Display name.
    pub name: String,
    /// Registered company file path.
    pub file_path: Option<String>,
    /// The `FileID` in every user's `.qwc`.
    pub file_id: String,
    /// Highest qbXML version QuickBooks reported.
    pub qbxml_version: Option<String>,
    /// Company name QuickBooks reported.
    pub qb_company_name: Option<String>,
    /// QuickBooks product.
    pub qb_product: Option<String>,
    /// Last Web Connector login.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Jobs that the next session can be sent (single view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<i64>,
    /// The default webhook of the company's jobs.
    pub webhook_url: Option<String>,
    /// Users whose Web Connector stopped checking in (single view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silent_connectors: Option<Vec<crate::silence::SilentConnector>>,
    /// Last poll, jobs by state and open problems (single view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<super::HealthView>,
}

impl From<Company> for CompanyView {
    fn from(c: Company) -> Self {
        CompanyView {
            slug: c.slug,
            name: c.name,
            file_path: c.file_path,
            file_id: format!("{{{}}}", c.file_id).to_uppercase(),
            qbxml_version: c.qbxml_version,
            qb_company_name: c.qb_company_name,
            qb_product: c.qb_product,
            last_seen_at: c.last_seen_at,
            created_at: c.created_at,
            queue_depth: None,
            webhook_url: None,
            silent_connectors: None,
            health: None,
        }
    }
}

/// The view of a company with its default webhook.
async fn view_of(state: &AppState, c: Company) -> Result<CompanyView, ApiError> {
    let webhook_url = state.store.company_webhook(c.id).await?;
    Ok(CompanyView { webhook_url, ..CompanyView::from(c) })
}

pub(super) async fn find(state: &AppState, slug: &str) -> Result<Company, ApiError> {
    let slug = CompanySlug::parse(slug).map_err(|e| ApiError::not_found(format!("company {slug:?} ({e})")))?;
    state.store.company(&slug).await?.ok_or_else(|| ApiError::not_found(format!("company {slug}")))
}

/// `POST /companies`.
#[utoipa::path(
    post, path = "/api/v1/companies", tag = "companies",
    request_body = NewCompanyBody,
    responses(
        (status = 201, description = "Created", body = CompanyView),
        (status = 400, description = "Invalid slug or URL", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "The slug exists", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _caller: ApiCaller,
    body: Result<Json<NewCompanyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CompanyView>), ApiError> {
    let Json(body) = body?;
    let slug = CompanySlug::parse(&body.slug).map_err(|e| ApiError::bad_request("invalid_slug", e.to_string()))?;
    let webhook_url = body.webhook_url.filter(|u| !u.trim().is_empty());
    if let Some(url) = &webhook_url {
        check_webhook_url(url, &state.settings).await?;
    }
    let new = NewCompany {
        name: body.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| slug.to_string()),
        slug,
        file_path: body.file_path.filter(|p| !p.trim().is_empty()),
        file_id: uuid::Uuid::new_v4(),
    };
    let c = state.store.create_company(new, state.clock.now()).await?;
    if let Some(url) = &webhook_url {
        // A second statement: a failure here leaves the company without
        // its default webhook, which the error tells the caller to PATCH.
        state.store.set_company_webhook(c.id, Some(url), state.clock.now()).await?;
    }
    let mut view = CompanyView::from(c);
    view.webhook_url = webhook_url;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PATCH /companies/{slug}` body: only the keys present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompanyBody {
    /// The default webhook; `null` or `""` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
}

/// A key that is present deserializes to `Some`, even when `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /companies/{slug}`: changes the company's settings.
#[utoipa::path(
    patch, path = "/api/v1/companies/{slug}", tag = "companies",
    params(("slug" = String, Path, description = "Company slug")),
    request_body = UpdateCompanyBody,
    responses(
        (status = 200, description = "The company as it is now", body = CompanyView),
        (status = 400, description = "Invalid URL", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(slug): Path<String>,
    body: Result<Json<UpdateCompanyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CompanyView>, ApiError> {
    let Json(body) = body?;
    let c = find(&state, &slug).await?;
    if let Some(url) = body.webhook_url {
        let url = url.filter(|u| !u.trim().is_empty());
        if let Some(u) = &url {
            check_webhook_url(u, &state.settings).await?;
        }
        state.store.set_company_webhook(c.id, url.as_deref(), state.clock.now()).await?;
    }
    Ok(Json(view_of(&state, c).await?))
}

/// `GET /companies`.
#[utoipa::path(
    get, path = "/api/v1/companies", tag = "companies",
    responses(
        (status = 200, description = "Every company, by slug", body = Vec<CompanyView>),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, _caller: ApiCaller) -> Result<Json<Vec<CompanyView>>, ApiError> {
    let mut views = Vec::new();
    for c in state.store.list_companies().await? {
        views.push(view_of(&state, c).await?);
    }
    Ok(Json(views))
}

/// `GET /companies/{slug}`.
#[utoipa::path(
    get, path = "/api/v1/companies/{slug}", tag = "companies",
    params(("slug" = String, Path, description = "Company slug")),
    responses(
        (status = 200, description = "The company with its queue depth", body = CompanyView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<Json<CompanyView>, ApiError> {
    let c = find(&state, &slug).await?;
    let users: Vec<_> = state.store.list_users().await?.into_iter().filter(|u| u.company_id == c.id).collect();
    let silent = crate::silence::silent_connectors(&users, &state.settings.qwc, state.clock.now());
    let health = super::health::health_of(&state, &c).await?;
    let mut view = view_of(&state, c).await?;
    view.queue_depth = Some(health.queue_depth);
    view.silent_connectors = Some(silent);
    view.health = Some(health);
    Ok(Json(view))
}

/// `POST /companies/{slug}/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// The user name the Web Connector sends.
    pub username: String,
}

/// The created user, with its password: shown in this response only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    /// User name.
    #[schema(value_type = String)]
    pub username: Username,
    /// Company slug.
    #[schema(value_type = String)]
    pub company: CompanySlug,
    /// The generated password; it is stored only as a hash.
    pub password: String,
    /// The user's application `OwnerID`.
    pub owner_id: String,
}

/// `POST /companies/{slug}/users`.
#[utoipa::path(
    post, path = "/api/v1/companies/{slug}/users", tag = "companies",
    params(("slug" = String, Path, description = "Company slug")),
    request_body = NewUserBody,
    responses(
        (status = 201, description = "Created; the password is shown only here", body = CreatedUser),
        (status = 400, description = "Invalid user name", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
        (status = 409, description = "The user name exists", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_user(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(slug): Path<String>,
    body: Result<Json<NewUserBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let Json(body) = body?;
    let company = find(&state, &slug).await?;
    let username =
        Username::parse(&body.username).map_err(|e| ApiError::bad_request("invalid_username", e.to_string()))?;
    let password: SecretString = crate::auth::generate_password();
    let hash = crate::auth::hash_password_off_runtime(password.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let new = NewUser { username, company_id: company.id, password_hash: hash, owner_id: uuid::Uuid::new_v4() };
    let user = state.store.create_user(new, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            username: user.username,
            company: company.slug,
            password: password.expose_secret().to_owned(),
            owner_id: format!("{{{}}}", user.owner_id).to_uppercase(),
        }),
    ))
}
