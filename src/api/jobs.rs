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
use crate::queue::{submit, Enqueued, Job, JobCursor, JobFilter, JobState, SubmitOptions};
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
    /// Unique per company: a repeat with the same body (qbXML, priority,
    /// `depends_on`, `webhook_url`) returns the existing job (200, not
    /// 201); with another body it is refused (409 `idempotency_conflict`).
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
    /// `newMessageSetID` of the write's last send (error recovery); none for reads.
    pub new_message_set_id: Option<String>,
    /// The message set exactly as last sent to QuickBooks (single-job view,
    /// once sent): the job's `…Rq` elements at the version of the session
    /// that sent it, with its `onError` and, for a write, its
    /// `newMessageSetID` (and `oldMessageSetID`). Rebuilt from the stored
    /// job by the send path's own function; an iterator shows the request
    /// that started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
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
            new_message_set_id: job.message_set_id,
            request: None,
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
    post, path = "/api/v1/companies/{slug}/jobs", operation_id = "enqueueJob", tag = "jobs",
    params(("slug" = String, Path, description = "Company slug"), WaitQuery),
    request_body = EnqueueBody,
    responses(
        (status = 201, description = "Enqueued", body = JobView),
        (status = 200, description = "The job with the same idempotency key and the same body", body = JobView),
        (status = 409, description = "The idempotency key was used for a different body (`idempotency_conflict`; `job_id` names that job)", body = ErrorBody),
        (status = 400, description = "Invalid dependency or URL", body = ErrorBody),
        (status = 422, description = "The qbXML cannot be queued; the message says why", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
        (status = 413, description = "Larger than job_max_bytes", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn enqueue(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
    wait: QueryParams<WaitQuery>,
    body: JsonBody<EnqueueBody>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let Query(wait) = wait?;
    let Json(body) = body?;
    let company = find(&state, &caller, &slug).await?;
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
pub async fn full_view(state: &AppState, job: Job, slug: &str) -> Result<JobView, ApiError> {
    let pages = if job.iterates { Some(state.store.pages(job.id, job.attempt).await?) } else { None };
    let request = sent_request(state.store.as_ref(), &job).await?;
    let mut view = JobView::of(job, slug, true);
    view.request = request;
    view.webhook = state.store.job_webhook(view.id).await?.map(Into::into);
    view.pages = pages;
    Ok(view)
}

/// The job's message set as last sent (see [`crate::queue::last_sent`]),
/// at the version of the session that sent it.
///
/// # Errors
/// When the store fails.
pub async fn sent_request(
    store: &dyn crate::store::Store,
    job: &Job,
) -> Result<Option<String>, crate::store::StoreError> {
    let Some(ticket) = job.ticket_hash.as_ref().filter(|_| job.sent_at.is_some()) else {
        return Ok(None);
    };
    let session = store.session(&crate::types::TicketHash(ticket.clone())).await?;
    Ok(crate::queue::last_sent(job, session.as_ref().and_then(|s| s.qbxml_version.as_deref())))
}

/// The job and its company's slug, if the caller may see its company (404
/// otherwise, as for a job that does not exist).
async fn load(state: &AppState, caller: &ApiCaller, id: &str) -> Result<(Job, String), ApiError> {
    let id = JobId::parse(id).map_err(|_| ApiError::not_found(format!("job {id:?}")))?;
    let job = state.store.job(id).await?.ok_or_else(|| ApiError::not_found(format!("job {id}")))?;
    caller.check_company_id(job.company_id, || format!("job {id}"))?;
    let slug = state.store.company_by_id(job.company_id).await?.map(|c| c.slug.to_string()).unwrap_or_default();
    Ok((job, slug))
}

/// `GET /jobs/{id}`: state, attempts, timestamps, statuses, diagnostic,
/// answer, webhook delivery. `?wait=SECONDS` waits as on enqueue.
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", operation_id = "getJob", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id"), WaitQuery),
    responses(
        (status = 200, description = "The job, with QuickBooks' answer", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    wait: QueryParams<WaitQuery>,
) -> Result<Json<JobView>, ApiError> {
    let Query(wait) = wait?;
    let (job, slug) = load(&state, &caller, &id).await?;
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
    /// `next_cursor` of the previous page: the jobs older than its last.
    /// (`cursor` is accepted as another name for it.)
    #[serde(alias = "cursor")]
    pub before: Option<String>,
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// Jobs, newest first.
    pub jobs: Vec<JobView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /companies/{slug}/jobs?state=&limit=&before=`: the company's jobs,
/// newest first, in stable pages (an opaque cursor; jobs queued meanwhile
/// appear on a fresh first page, never shift a later one).
#[utoipa::path(
    get, path = "/api/v1/companies/{slug}/jobs", operation_id = "listCompanyJobs", tag = "jobs",
    params(("slug" = String, Path, description = "Company slug"), ListQuery),
    responses(
        (status = 200, description = "A page of jobs, newest first (without answers)", body = JobPage),
        (status = 400, description = "Bad state, limit or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
    query: QueryParams<ListQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let Query(q) = query?;
    let company = find(&state, &caller, &slug).await?;
    let job_state = q
        .state
        .as_deref()
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_request", e))?;
    let before = q
        .before
        .as_deref()
        .map(|c| JobCursor::parse(c).map_err(|e| ApiError::bad_request("invalid_request", e)))
        .transpose()?;
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=1000) => n,
        Some(n) => return Err(ApiError::bad_request("invalid_request", format!("limit {n} is not within 1–1000"))),
    };
    let filter = JobFilter {
        company_id: Some(company.id),
        state: job_state,
        before_seq: before.map(|c| c.0),
        limit: Some(limit),
    };
    let jobs = state.store.list_jobs(&filter).await?;
    let next_cursor = page_cursor(&jobs, limit);
    let jobs = jobs.into_iter().map(|j| JobView::of(j, company.slug.as_str(), false)).collect();
    Ok(Json(JobPage { jobs, next_cursor }))
}

/// The cursor of the page after `jobs`, when it was full (the next may be
/// empty: one query fewer than asking for `limit + 1`, at the cost of a
/// last empty page now and then).
pub fn page_cursor(jobs: &[Job], limit: i64) -> Option<String> {
    (jobs.len() as i64 == limit).then(|| jobs.last().map(|j| JobCursor::after(j).to_string())).flatten()
}

/// `POST /jobs/{id}/retry`: failed or cancelled → queued (409 otherwise).
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/retry", operation_id = "retryJob", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id")),
    responses(
        (status = 200, description = "Queued again", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not allowed in the job's state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let (job, slug) = load(&state, &caller, &id).await?;
    let job = state.store.retry_job(job.id, state.clock.now()).await?;
    Ok(Json(JobView::of(job, &slug, false)))
}

/// `POST /jobs/{id}/cancel`: queued or held → cancelled (409 otherwise).
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/cancel", operation_id = "cancelJob", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not allowed in the job's state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let (job, slug) = load(&state, &caller, &id).await?;
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
    post, path = "/api/v1/jobs/{id}/resolve", operation_id = "resolveJob", tag = "jobs",
    params(("id" = String, Path, format = Uuid, description = "Job id")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Settled", body = JobView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not allowed in the job's state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    body: JsonBody<ResolveBody>,
) -> Result<Json<JobView>, ApiError> {
    let Json(body) = body?;
    let (job, slug) = load(&state, &caller, &id).await?;
    let job = state.store.resolve_job(job.id, body.applied, state.clock.now()).await?;
    Ok(Json(JobView::of(job, &slug, false)))
}
