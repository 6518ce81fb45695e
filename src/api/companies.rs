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
use crate::config::Settings;
use crate::store::{Company, CompanyChanges, NewCompany, NewUser, OpenWork, Removed};
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
    /// Whether its Web Connector users may log in.
    pub enabled: bool,
    /// When it was disabled.
    pub disabled_at: Option<DateTime<Utc>>,
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
            enabled: c.disabled_at.is_none(),
            disabled_at: c.disabled_at,
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

/// The company by slug, if the caller may see it (404 otherwise, as for
/// one that does not exist).
pub(super) async fn find(state: &AppState, caller: &ApiCaller, slug: &str) -> Result<Company, ApiError> {
    let slug = CompanySlug::parse(slug).map_err(|e| ApiError::not_found(format!("company {slug:?} ({e})")))?;
    let company = state.store.company(&slug).await?.ok_or_else(|| ApiError::not_found(format!("company {slug}")))?;
    caller.check_company(company)
}

/// `POST /companies`.
#[utoipa::path(
    post, path = "/api/v1/companies", operation_id = "createCompany", tag = "companies",
    request_body = NewCompanyBody,
    responses(
        (status = 201, description = "Created", body = CompanyView),
        (status = 400, description = "Invalid slug or URL", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 409, description = "The slug exists", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Result<Json<NewCompanyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CompanyView>), ApiError> {
    if caller.company_ids.is_some() {
        // It could not see the company it made.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token {:?} is limited to some companies; only an unlimited admin token creates companies",
                caller.token_name
            ),
        ));
    }
    let Json(body) = body?;
    Ok((StatusCode::CREATED, Json(create_company(&state, body).await?)))
}

/// Creates a company (the API's `createCompany` and the console's form):
/// the slug checked, the name defaulting to it, empty texts as absent, the
/// webhook URL checked before anything is stored.
///
/// # Errors
/// A bad slug or webhook URL (400), a taken slug (409), the database.
pub async fn create_company(state: &AppState, body: NewCompanyBody) -> Result<CompanyView, ApiError> {
    let slug = CompanySlug::parse(&body.slug).map_err(|e| ApiError::bad_request("invalid_slug", e.to_string()))?;
    let webhook_url = checked_webhook(&state.settings, body.webhook_url.as_deref()).await?;
    let new = new_company(slug, body.name.as_deref(), body.file_path.as_deref(), webhook_url);
    let webhook_url = new.webhook_url.clone();
    let c = state.store.create_company(new, state.clock.now()).await?;
    let mut view = CompanyView::from(c);
    view.webhook_url = webhook_url;
    Ok(view)
}

/// A company to create from what a caller gave (the API, the console's
/// form, `qbwcd company add`), tidied as an edit is (see
/// [`checked_changes`]): texts trimmed, an empty name meaning the slug, an
/// empty file path none; `webhook_url` is already checked.
pub fn new_company(
    slug: CompanySlug,
    name: Option<&str>,
    file_path: Option<&str>,
    webhook_url: Option<&str>,
) -> NewCompany {
    let given = |text: Option<&str>| text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    NewCompany {
        name: given(name).unwrap_or_else(|| slug.to_string()),
        slug,
        file_path: given(file_path),
        file_id: uuid::Uuid::new_v4(),
        webhook_url: webhook_url.map(str::to_owned),
    }
}

/// A company edit as `PATCH /companies/{slug}`, the console's form and
/// `qbwcd company update` all take it, checked before anything is written:
/// texts trimmed, an empty name refused, an empty file path or webhook URL
/// meaning none, a webhook URL held to `webhook_allow_hosts` and refused
/// when it points at a private or metadata address.
///
/// # Errors
/// 400 for an empty name or a webhook URL that is refused.
pub async fn checked_changes<'a>(
    settings: &Settings,
    edit: CompanyChanges<'a>,
) -> Result<CompanyChanges<'a>, ApiError> {
    let name = match edit.name.map(str::trim) {
        Some("") => return Err(ApiError::bad_request("invalid_request", "name must not be empty")),
        other => other,
    };
    let file_path = edit.file_path.map(|p| p.map(str::trim).filter(|p| !p.is_empty()));
    let webhook_url = match edit.webhook_url {
        Some(url) => Some(checked_webhook(settings, url).await?),
        None => None,
    };
    Ok(CompanyChanges { name, file_path, webhook_url, enabled: edit.enabled })
}

/// A company's webhook URL as given, trimmed: none when empty, else checked
/// (see [`checked_changes`]).
///
/// # Errors
/// 400 for a URL that is refused.
pub async fn checked_webhook<'a>(settings: &Settings, url: Option<&'a str>) -> Result<Option<&'a str>, ApiError> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => {
            check_webhook_url(u, settings).await?;
            Ok(Some(u))
        }
        None => Ok(None),
    }
}

/// `PATCH /companies/{slug}` body: only the keys present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompanyBody {
    /// Display name (not empty).
    pub name: Option<String>,
    /// The company file's full path on the QuickBooks PC; `null` or `""`
    /// clears it (the Web Connector then uses the file open in QuickBooks).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub file_path: Option<Option<String>>,
    /// The default webhook; `null` or `""` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
}

/// A key that is present deserializes to `Some`, even when `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /companies/{slug}`: changes the company's name, file path and
/// default webhook; nothing else happens (no user or job is touched).
#[utoipa::path(
    patch, path = "/api/v1/companies/{slug}", operation_id = "updateCompany", tag = "companies",
    params(("slug" = String, Path, description = "Company slug")),
    request_body = UpdateCompanyBody,
    responses(
        (status = 200, description = "The company as it is now", body = CompanyView),
        (status = 400, description = "Invalid URL or empty name", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
    body: Result<Json<UpdateCompanyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CompanyView>, ApiError> {
    let Json(body) = body?;
    let c = find(&state, &caller, &slug).await?;
    let edit = CompanyChanges {
        name: body.name.as_deref(),
        file_path: body.file_path.as_ref().map(Option::as_deref),
        webhook_url: body.webhook_url.as_ref().map(Option::as_deref),
        enabled: None,
    };
    let changes = checked_changes(&state.settings, edit).await?;
    state.store.update_company(c.id, &changes, state.clock.now()).await?;
    let c = find(&state, &caller, &slug).await?;
    Ok(Json(view_of(&state, c).await?))
}

async fn set_enabled(
    state: &AppState,
    caller: &ApiCaller,
    slug: &str,
    enabled: bool,
) -> Result<Json<CompanyView>, ApiError> {
    let c = find(state, caller, slug).await?;
    state.store.set_company_enabled(c.id, enabled, state.clock.now()).await?;
    let c = find(state, caller, slug).await?;
    Ok(Json(view_of(state, c).await?))
}

/// `POST /companies/{slug}/disable`: its Web Connector users are refused
/// (`nvu`; the event says `company_disabled`) until it is enabled again.
/// Its jobs stay queued, and jobs can still be queued for it.
#[utoipa::path(
    post, path = "/api/v1/companies/{slug}/disable", tag = "companies", operation_id = "disableCompany",
    params(("slug" = String, Path, description = "Company slug")),
    responses(
        (status = 200, description = "The company, disabled", body = CompanyView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn disable(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<Json<CompanyView>, ApiError> {
    set_enabled(&state, &caller, &slug, false).await
}

/// `POST /companies/{slug}/enable`.
#[utoipa::path(
    post, path = "/api/v1/companies/{slug}/enable", tag = "companies", operation_id = "enableCompany",
    params(("slug" = String, Path, description = "Company slug")),
    responses(
        (status = 200, description = "The company, enabled", body = CompanyView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn enable(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<Json<CompanyView>, ApiError> {
    set_enabled(&state, &caller, &slug, true).await
}

/// `DELETE /companies/{slug}`: removes the company with its users,
/// sessions, finished jobs (with their pages and webhook deliveries),
/// problems and events. Refused (409 `company_has_work`, with the counts)
/// while any job is queued, sent, unknown or held: cancel or settle them
/// first.
#[utoipa::path(
    delete, path = "/api/v1/companies/{slug}", tag = "companies", operation_id = "deleteCompany",
    params(("slug" = String, Path, description = "Company slug")),
    responses(
        (status = 200, description = "What was removed with it", body = Removed),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
        (status = 409, description = "Jobs are still open, or live tokens are limited to it (`company_has_work`); `open_work` says which", body = CompanyHasWork),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let c = find(&state, &caller, &slug).await?;
    match state.store.remove_company(c.id).await? {
        Ok(removed) => Ok(Json(removed).into_response()),
        Err(open_work) => {
            let body = CompanyHasWork {
                code: "company_has_work".into(),
                message: format!(
                    "company {} cannot be removed yet ({open_work}); cancel queued or held jobs, settle unknown \
                     ones (qbwcd jobs resolve) and revoke tokens limited to it first",
                    c.slug
                ),
                open_work,
            };
            Ok((StatusCode::CONFLICT, Json(body)).into_response())
        }
    }
}

/// The 409 of `DELETE /companies/{slug}`: the common error shape plus the counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyHasWork {
    /// `company_has_work`.
    pub code: String,
    /// What to do first.
    pub message: String,
    /// The open jobs by state.
    pub open_work: OpenWork,
}

/// `GET /companies`.
#[utoipa::path(
    get, path = "/api/v1/companies", operation_id = "listCompanies", tag = "companies",
    responses(
        (status = 200, description = "Every company, by slug", body = Vec<CompanyView>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, caller: ApiCaller) -> Result<Json<Vec<CompanyView>>, ApiError> {
    let mut views = Vec::new();
    for c in state.store.list_companies().await?.into_iter().filter(|c| caller.sees(c.id)) {
        views.push(view_of(&state, c).await?);
    }
    Ok(Json(views))
}

/// `GET /companies/{slug}`.
#[utoipa::path(
    get, path = "/api/v1/companies/{slug}", operation_id = "getCompany", tag = "companies",
    params(("slug" = String, Path, description = "Company slug")),
    responses(
        (status = 200, description = "The company with its queue depth", body = CompanyView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<Json<CompanyView>, ApiError> {
    let c = find(&state, &caller, &slug).await?;
    Ok(Json(full_view(state.store.as_ref(), &state.settings.qwc, c, state.clock.now()).await?))
}

/// The single company view: its webhook, queue depth, silent connectors
/// and health (the API and `qbwcd company show --json` share it).
///
/// # Errors
/// When the store fails.
pub async fn full_view(
    store: &dyn crate::store::Store,
    qwc: &crate::qwc::QwcSettings,
    c: Company,
    now: DateTime<Utc>,
) -> Result<CompanyView, crate::store::StoreError> {
    let users = store.company_users(c.id).await?;
    let silent = crate::silence::silent_connectors(&users, qwc, now);
    let health = super::health::health_at(store, &c, now).await?;
    let webhook_url = store.company_webhook(c.id).await?;
    let mut view = CompanyView { webhook_url, ..CompanyView::from(c) };
    view.queue_depth = Some(health.queue_depth);
    view.silent_connectors = Some(silent);
    view.health = Some(health);
    Ok(view)
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
    post, path = "/api/v1/companies/{slug}/users", operation_id = "createCompanyUser", tag = "companies",
    params(("slug" = String, Path, description = "Company slug")),
    request_body = NewUserBody,
    responses(
        (status = 201, description = "Created; the password is shown only here", body = CreatedUser),
        (status = 400, description = "Invalid user name", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
        (status = 409, description = "The user name exists", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
    body: Result<Json<NewUserBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let Json(body) = body?;
    let company = find(&state, &caller, &slug).await?;
    let (user, password) = add_user(&state, &company, &body.username).await?;
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

/// Adds a Web Connector user to a company with a generated password (the
/// API's `createCompanyUser` and the console's form); the password is
/// returned to be shown once and stored only as a hash.
///
/// # Errors
/// A bad user name (400), a taken one (409), hashing or the database.
pub async fn add_user(
    state: &AppState,
    company: &Company,
    username: &str,
) -> Result<(crate::store::User, SecretString), ApiError> {
    let username = Username::parse(username).map_err(|e| ApiError::bad_request("invalid_username", e.to_string()))?;
    let password: SecretString = crate::auth::generate_password();
    let hash = crate::auth::hash_password_off_runtime(password.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let new = NewUser { username, company_id: company.id, password_hash: hash, owner_id: uuid::Uuid::new_v4() };
    let user = state.store.create_user(new, state.clock.now()).await?;
    Ok((user, password))
}
