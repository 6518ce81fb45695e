//! `GET /companies/{slug}/health`: is this company's connector working, and
//! if not, what must someone do? Also part of the single company view.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::companies::find;
use super::{ApiCaller, ApiError};
use crate::app::AppState;
use crate::diagnostics::{Finding, Fixer, Severity};
use crate::queue::JobState;
use crate::store::{Company, Problem};
use crate::types::EventId;

/// A company's health.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// `ok` with no open problem, else `attention`.
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
    /// Last time a Web Connector of the company logged in.
    pub last_poll_at: Option<DateTime<Utc>>,
    /// Jobs the next session could be sent.
    pub queue_depth: i64,
    /// Jobs by state, every state present.
    #[schema(value_type = Object)]
    pub jobs: BTreeMap<&'static str, i64>,
    /// Open problems, most recent first, each with the steps that fix it.
    pub problems: Vec<ProblemView>,
}

/// One open problem with its catalog entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemView {
    /// Diagnostic code (`0x80040420`, `company.unc_path`, …).
    pub code: String,
    /// The catalog entry explaining it, when that is a family entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explained_by: Option<String>,
    /// How bad: `info`, `warning` or `error`.
    #[schema(value_type = String)]
    pub severity: Severity,
    /// Whether it clears by itself.
    pub transient: bool,
    /// Who fixes it: `quickbooks_admin`, `server_operator` or `integrating_developer`.
    #[schema(value_type = String)]
    pub fixer: Fixer,
    /// One line.
    pub title: String,
    /// Why it happens.
    pub cause: String,
    /// What to do, first step first.
    pub steps: Vec<String>,
    /// First seen since it was last cleared.
    pub first_seen_at: DateTime<Utc>,
    /// Last seen.
    pub last_seen_at: DateTime<Utc>,
    /// Times seen since it was last cleared.
    pub occurrences: i64,
    /// What the latest occurrence said.
    pub last_detail: String,
    /// The latest event, as people quote it (`E42`); absent for a problem
    /// seen in the current state rather than in an event (such as work
    /// queued for a company whose Web Connector never connected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl From<Problem> for ProblemView {
    fn from(p: Problem) -> Self {
        let finding = crate::diagnostics::catalog().explain(&p.code).unwrap_or_else(|| Finding::from_code(&p.code));
        let e = finding.entry;
        ProblemView {
            explained_by: (e.code != p.code).then(|| e.code.clone()),
            code: p.code,
            severity: e.severity,
            transient: e.transient,
            fixer: e.fixer,
            title: e.title.clone(),
            cause: e.cause.clone(),
            steps: e.steps.clone(),
            first_seen_at: p.first_seen,
            last_seen_at: p.last_seen,
            occurrences: p.count,
            last_detail: p.last_detail,
            reference: Some(EventId(p.last_event_id).reference()),
        }
    }
}

impl ProblemView {
    /// A problem of the company's current state, seen `now`.
    fn observed(code: &str, detail: String, since: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let f = Finding::from_code(code);
        let e = f.entry;
        ProblemView {
            explained_by: (e.code != code).then(|| e.code.clone()),
            code: code.to_owned(),
            severity: e.severity,
            transient: e.transient,
            fixer: e.fixer,
            title: e.title.clone(),
            cause: e.cause.clone(),
            steps: e.steps.clone(),
            first_seen_at: since,
            last_seen_at: now,
            occurrences: 1,
            last_detail: detail,
            reference: None,
        }
    }
}

/// Work waits but nothing will collect it: no enabled user, or users whose
/// Web Connector never logged in. `since`: when the company was created
/// (the condition held from then at the latest, for lack of a better mark).
fn connector_problem(
    users: &[crate::store::User],
    queue_depth: i64,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<ProblemView> {
    if queue_depth == 0 {
        return None;
    }
    let enabled: Vec<_> = users.iter().filter(|u| u.enabled).collect();
    if enabled.is_empty() {
        let detail = if users.is_empty() {
            format!("{queue_depth} job(s) waiting; the company has no Web Connector user")
        } else {
            format!("{queue_depth} job(s) waiting; every Web Connector user of the company is disabled")
        };
        return Some(ProblemView::observed("company.no_connector", detail, since, now));
    }
    if enabled.iter().all(|u| u.last_seen_at.is_none()) {
        let names: Vec<&str> = enabled.iter().map(|u| u.username.as_str()).collect();
        let detail = format!("{queue_depth} job(s) waiting; never connected: {}", names.join(", "));
        return Some(ProblemView::observed("company.never_connected", detail, since, now));
    }
    None
}

/// Builds the health of `company`.
///
/// # Errors
/// When the store fails.
pub async fn health_of(state: &AppState, company: &Company) -> Result<HealthView, ApiError> {
    Ok(health_at(state.store.as_ref(), company, state.clock.now()).await?)
}

/// The health of `company` at `now`, from the store alone (the API and
/// `qbwcd company show` share it).
///
/// # Errors
/// When the store fails.
pub async fn health_at(
    store: &dyn crate::store::Store,
    company: &Company,
    now: DateTime<Utc>,
) -> Result<HealthView, crate::store::StoreError> {
    let queue_depth = store.queue_depth(company.id, now).await?;
    let mut jobs: BTreeMap<&'static str, i64> = JobState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for (state_name, n) in store.company_job_counts(company.id).await? {
        if let Some(s) = JobState::ALL.iter().find(|s| s.as_str() == state_name) {
            jobs.insert(s.as_str(), n);
        }
    }
    let mut problems: Vec<ProblemView> =
        store.open_problems(company.id).await?.into_iter().map(ProblemView::from).collect();
    if queue_depth > 0 {
        let users = store.company_users(company.id).await?;
        if let Some(p) = connector_problem(&users, queue_depth, company.created_at, now) {
            problems.insert(0, p);
        }
    }
    Ok(HealthView {
        status: if problems.is_empty() { "ok" } else { "attention" },
        last_poll_at: company.last_seen_at,
        queue_depth,
        jobs,
        problems,
    })
}

/// `GET /companies/{slug}/health`.
#[utoipa::path(
    get, path = "/api/v1/companies/{slug}/health", operation_id = "getCompanyHealth", tag = "companies",
    params(("slug" = String, Path, description = "Company slug")),
    responses(
        (status = 200, description = "Last poll, jobs by state, open problems with their fixes", body = HealthView),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token's role is too low", body = super::ErrorBody),
        (status = 404, description = "No such company", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<Json<HealthView>, ApiError> {
    let company = find(&state, &caller, &slug).await?;
    Ok(Json(health_of(&state, &company).await?))
}
