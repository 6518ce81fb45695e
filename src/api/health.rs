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
    /// The latest event, as people quote it (`E42`).
    pub reference: String,
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
            reference: format!("E{}", p.last_event_id),
        }
    }
}

/// Builds the health of `company`.
///
/// # Errors
/// When the store fails.
pub async fn health_of(state: &AppState, company: &Company) -> Result<HealthView, ApiError> {
    let queue_depth = state.store.queue_depth(company.id, state.clock.now()).await?;
    let mut jobs: BTreeMap<&'static str, i64> = JobState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for (state_name, n) in state.store.company_job_counts(company.id).await? {
        if let Some(s) = JobState::ALL.iter().find(|s| s.as_str() == state_name) {
            jobs.insert(s.as_str(), n);
        }
    }
    let problems: Vec<ProblemView> =
        state.store.open_problems(company.id).await?.into_iter().map(ProblemView::from).collect();
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
    get, path = "/api/v1/companies/{slug}/health", tag = "companies",
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
