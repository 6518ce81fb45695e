//! Jobs: enqueue, read, list, and operator actions.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::companies::find;
use super::wait::{wait_for, WaitQuery};
use super::webhooks::check_webhook_url;
use super::{ApiCaller, ApiError, ErrorBody};
use crate::app::AppState;
use crate::diagnostics::{catalog, Finding};
use crate::qbxml::RequestStatus;
use crate::queue::{submit, Enqueued, Job, JobFilter, JobState, SubmitOptions};
use crate::store::WebhookDelivery;
use crate::types::JobId;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// `POST /companies/{slug}/jobs` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueBody {
    /// A whole qbXML document, or one or more bare `…Rq` elements.
    pub qbxml: String,
    /// Higher runs first (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Unique per company: a repeat returns the existing job (200, not 201).
    pub idempotency_key: Option<String>,
    /// Jobs of the same company that must be done first.
    #[serde(default)]
    #[schema(value_type = Vec<String>, format = Uuid)]
    pub depends_on: Vec<JobId>,
    /// Where to POST the job's final state (default: the company's).
    pub webhook_url: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    pub id: JobId,
    /// Company slug.
    pub company: String,
    /// State.
    pub state: JobState,
    /// `read` or `write`.
    #[schema(value_type = String, example = "write")]
    pub kind: &'static str,
    /// Request element names, in order.
    pub requests: Vec<String>,
    /// Priority.
    pub priority: i32,
    /// Times sent.
    pub attempts: i32,
    /// Send budget for queries.
    pub max_attempts: i32,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Reached a final state.
    pub completed_at: Option<DateTime<Utc>>,
    /// Parsed status of each request (`request_id`, `status_code`,
    /// `status_severity`, `status_message`, …).
    #[schema(value_type = Vec<Object>)]
    pub statuses: Vec<RequestStatus>,
    /// What went wrong, with the steps to fix it (a diagnostic catalog entry).
    #[schema(value_type = Option<Object>)]
    pub diagnostic: Option<Finding>,
    /// One line about what went wrong.
    pub error: Option<String>,
    /// QuickBooks' answer verbatim (single-job view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// An iterator query's answer, page by page in the order QuickBooks
    /// sent them (single-job view of an iterator job only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub pages: Option<Vec<crate::queue::Page>>,
    /// How the webhook for the job's last final state went (single-job
    /// view, when the job has a webhook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView>,
}

/// The delivery of a job's latest webhook event.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    /// The event id (`X-Qbwcd-Event-Id`).
    pub event_id: String,
    /// Attempts made.
    pub attempts: i32,
    /// HTTP status of the last attempt.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<WebhookDelivery> for WebhookView {
    fn from(d: WebhookDelivery) -> Self {
        WebhookView {
            next_attempt_at: (d.state == "pending").then_some(d.next_attempt_at),
            state: d.state,
            event_id: d.event_id,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
        }
    }
}

impl JobView {
    /// The view of `job` of company `slug`; with `full`, the answer too.
    pub fn of(job: Job, slug: &str, full: bool) -> Self {
        let diagnostic = job.diagnostic.as_deref().map(|code| {
            let f = catalog().explain(code).unwrap_or_else(|| Finding::from_code(code));
            match &job.error {
                Some(e) => f.with_detail(e.clone()),
                None => f,
            }
        });
        JobView {
            id: job.id,
            company: slug.to_owned(),
            state: job.state,
            kind: job.kind.as_str(),
            requests: job.request_names.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            priority: job.priority,
            attempts: job.attempt,
            max_attempts: job.max_attempts,
            idempotency_key: job.idempotency_key,
            webhook_url: job.webhook_url,
            created_at: job.created_at,
            updated_at: job.updated_at,
            sent_at: job.sent_at,
            completed_at: job.completed_at,
            statuses: job.statuses,
            diagnostic,
            error: job.error,
            response: if full { job.response } else { None },
            pages: None,
            webhook: None,
        }
    }
}

/// `POST /companies/{slug}/jobs`: 201 with the new job, or 200 with the
/// existing one when the idempotency key was seen before. With
/// `?wait=SECONDS` the answer waits until the job is done, failed,
/// cancelled or unknown, or the time runs out (then the job is shown as it
/// is; its `state` says which).
#[utoipa::path(
    post, path = "/api/v1/companies/{slug}/jobs", tag = "jobs",
    params(("slug" = String, Path, description = "Company slug"), WaitQuery),
    request_body = EnqueueBody,
    responses(
        (status = 201, description = "Enqueued", body = JobView),
        (status = 200, description = "The job with the same idempotency key", body = JobView),
        (status = 400, description = "Invalid dependency or URL", body = ErrorBody),
        (status = 422, description = "The qbXML cannot be queued; the message says why", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
        (status = 413, description = "Larger than job_max_bytes", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn enqueue(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(slug): Path<String>,
    wait: QueryParams<WaitQuery>,
    body: JsonBody<EnqueueBody>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let Query(wait) = wait?;
    let Json(body) = body?;
    let company = find(&state, &slug).await?;
    if let Some(url) = &body.webhook_url {
        check_webhook_url(url, &state.settings).await?;
    }
    let opts = SubmitOptions {
        priority: body.priority,
        idempotency_key: body.idempotency_key,
        depends_on: body.depends_on,
        webhook_url: body.webhook_url,
    };
    let s = &state.settings;
    let enq =
        submit(state.store.as_ref(), &company, &body.qbxml, opts, s.job_max_bytes, s.max_attempts, state.clock.now())
            .await
            .map_err(|e| match e {
                crate::queue::SubmitError::Store(crate::store::StoreError::NotFound(what)) => {
                    ApiError::bad_request("unknown_dependency", format!("{what} does not exist"))
                }
                other => other.into(),
            })?;
    let status = if matches!(enq, Enqueued::Created(_)) { StatusCode::CREATED } else { StatusCode::OK };
    let job = match enq {
        Enqueued::Created(j) | Enqueued::Existing(j) => j,
    };
    if wait.wait.unwrap_or(0) == 0 {
        return Ok((status, Json(JobView::of(job, company.slug.as_str(), false))));
    }
    let job = wait_for(&state, job, wait.wait).await?;
    Ok((status, Json(full_view(&state, job, company.slug.as_str()).await?)))
}

type QueryParams<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// The single-job view: the answer, the webhook delivery, and an
/// iterator's pages (of the job's current attempt) in order.
async fn full_view(state: &AppState, job: Job, slug: &str) -> Result<JobView, ApiError> {
    let pages = if job.iterates { Some(state.store.pages(job.id, job.attempt).await?) } else { None };
    let mut view = JobView::of(job, slug, true);
    view.webhook = state.store.job_webhook(view.id).await?.map(Into::into);
    view.pages = pages;
    Ok(view)
}

async fn load(state: &AppState, id: &str) -> Result<(Job, String), ApiError> {
    let id = JobId::parse(id).map_err(|_| ApiError::not_found(format!("job {id:?}")))?;
    let job = state.store.job(id).await?.ok_or_else(|| ApiError::not_found(format!("job {id}")))?;
    let slug = state.store.company_by_id(job.company_id).await?.map(|c| c.slug.to_string()).unwrap_or_default();
    Ok((job, slug))
}

/// `GET /jobs/{id}`: state, attempts, timestamps, statuses, diagnostic,
/// answer, webhook delivery. `?wait=SECONDS` waits as on enqueue.
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id"), WaitQuery),
    responses(
        (status = 200, description = "The job, with QuickBooks' answer", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
    wait: QueryParams<WaitQuery>,
) -> Result<Json<JobView>, ApiError> {
    let Query(wait) = wait?;
    let (job, slug) = load(&state, &id).await?;
    let job = wait_for(&state, job, wait.wait).await?;
    Ok(Json(full_view(&state, job, &slug).await?))
}

/// `GET /companies/{slug}/jobs` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs in this state.
    pub state: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// Jobs in queue order (arrival).
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /companies/{slug}/jobs?state=&limit=&cursor=`: stable pages in
/// arrival order (the cursor is the last job's sequence number).
#[utoipa::path(
    get, path = "/api/v1/companies/{slug}/jobs", tag = "jobs",
    params(("slug" = String, Path, description = "Company slug"), ListQuery),
    responses(
        (status = 200, description = "A page of jobs (without answers)", body = JobPage),
        (status = 400, description = "Bad state or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(slug): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let company = find(&state, &slug).await?;
    let job_state = q
        .state
        .as_deref()
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_request", e))?;
    let after_seq = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| ApiError::bad_request("invalid_request", format!("cursor {c:?} is not valid")))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = JobFilter { company_id: Some(company.id), state: job_state, after_seq, limit: Some(limit) };
    let jobs = state.store.list_jobs(&filter).await?;
    let next_cursor = (jobs.len() as i64 == limit).then(|| jobs.last().map(|j| j.seq.to_string())).flatten();
    let jobs = jobs.into_iter().map(|j| JobView::of(j, company.slug.as_str(), false)).collect();
    Ok(Json(JobPage { jobs, next_cursor }))
}

/// `POST /jobs/{id}/retry`: failed or cancelled → queued (409 otherwise).
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id")),
    responses(
        (status = 200, description = "Queued again", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not allowed in the job's state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let (job, slug) = load(&state, &id).await?;
    let job = state.store.retry_job(job.id, state.clock.now()).await?;
    Ok(Json(JobView::of(job, &slug, false)))
}

/// `POST /jobs/{id}/cancel`: queued or held → cancelled (409 otherwise).
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not allowed in the job's state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let (job, slug) = load(&state, &id).await?;
    let job = state.store.cancel_job(job.id, state.clock.now()).await?;
    Ok(Json(JobView::of(job, &slug, false)))
}

/// `POST /jobs/{id}/resolve` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// Whether the write is in QuickBooks (done) or not (queued again).
    pub applied: bool,
}

/// `POST /jobs/{id}/resolve`: an operator's verdict on an `unknown` write.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/resolve", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Settled", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not allowed in the job's state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
    body: JsonBody<ResolveBody>,
) -> Result<Json<JobView>, ApiError> {
    let Json(body) = body?;
    let (job, slug) = load(&state, &id).await?;
    let job = state.store.resolve_job(job.id, body.applied, state.clock.now()).await?;
    Ok(Json(JobView::of(job, &slug, false)))
}
