//! Companies and their Web Connector users.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{ApiCaller, ApiError};
use crate::app::AppState;
use crate::store::{Company, NewCompany, NewUser};
use crate::types::{CompanySlug, Username};

/// `POST /companies` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCompanyBody {
    /// Lower-case letters, digits, `-` and `_`.
    pub slug: String,
    /// Display name (defaults to the slug).
    pub name: Option<String>,
    /// The company file's path on the QuickBooks PC; none = the open file.
    pub file_path: Option<String>,
}

/// A company as the API shows it.
#[derive(Debug, Serialize)]
pub struct CompanyView {
    /// Slug.
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
            health: None,
        }
    }
}

pub(super) async fn find(state: &AppState, slug: &str) -> Result<Company, ApiError> {
    let slug = CompanySlug::parse(slug).map_err(|e| ApiError::not_found(format!("company {slug:?} ({e})")))?;
    state.store.company(&slug).await?.ok_or_else(|| ApiError::not_found(format!("company {slug}")))
}

/// `POST /companies`.
pub async fn create(
    State(state): State<AppState>,
    _caller: ApiCaller,
    body: Result<Json<NewCompanyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CompanyView>), ApiError> {
    let Json(body) = body?;
    let slug = CompanySlug::parse(&body.slug).map_err(|e| ApiError::bad_request("invalid_slug", e.to_string()))?;
    let new = NewCompany {
        name: body.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| slug.to_string()),
        slug,
        file_path: body.file_path.filter(|p| !p.trim().is_empty()),
        file_id: uuid::Uuid::new_v4(),
    };
    let c = state.store.create_company(new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// `GET /companies`.
pub async fn list(State(state): State<AppState>, _caller: ApiCaller) -> Result<Json<Vec<CompanyView>>, ApiError> {
    Ok(Json(state.store.list_companies().await?.into_iter().map(Into::into).collect()))
}

/// `GET /companies/{slug}`.
pub async fn show(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<Json<CompanyView>, ApiError> {
    let c = find(&state, &slug).await?;
    let health = super::health::health_of(&state, &c).await?;
    let mut view = CompanyView::from(c);
    view.queue_depth = Some(health.queue_depth);
    view.health = Some(health);
    Ok(Json(view))
}

/// `POST /companies/{slug}/users` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// The user name the Web Connector sends.
    pub username: String,
}

/// The created user, with its password: shown in this response only.
#[derive(Debug, Serialize)]
pub struct CreatedUser {
    /// User name.
    pub username: Username,
    /// Company slug.
    pub company: CompanySlug,
    /// The generated password; it is stored only as a hash.
    pub password: String,
    /// The user's application `OwnerID`.
    pub owner_id: String,
}

/// `POST /companies/{slug}/users`.
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
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&to_hash))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
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
