//! The event log: what happened to each company's connector, newest first
//! (`GET /events`, `GET /companies/{slug}/events`), and one event by the
//! reference health and `getLastError` quote (`GET /events/E14`).

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::companies::find;
use super::{ApiCaller, ApiError, ErrorBody};
use crate::app::AppState;
use crate::clock::parse_since;
use crate::diagnostics::{catalog, Finding};
use crate::store::{Event, EventFilter, Store, StoreError};
use crate::types::EventId;

/// An event as the API (and `qbwcd events --json`) shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Id (the `before` of a later page).
    pub id: i64,
    /// The reference people quote (`E14`), as health's problems and
    /// `getLastError` texts give it.
    pub reference: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What kind (`auth.failed`, `session.busy`, `session.stopped`,
    /// `connection.error`, `session.silent`, `qwc.downloaded`, …).
    pub kind: String,
    /// Diagnostic code (`qbwcd explain CODE`, `GET /diagnostics/{code}`).
    pub code: Option<String>,
    /// Company slug.
    pub company: Option<String>,
    /// Web Connector user name.
    pub user: Option<String>,
    /// The peer's address (a refused login's, a connector told to wait).
    pub address: Option<String>,
    /// The job it concerns.
    #[schema(format = Uuid)]
    pub job_id: Option<uuid::Uuid>,
    /// One line.
    pub message: String,
    /// The catalog entry for `code`, with the steps that fix it (single
    /// event view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub diagnostic: Option<Finding>,
}

impl EventView {
    /// The view of `e`; with `full`, its diagnostic's catalog entry too.
    pub fn of(e: Event, full: bool) -> EventView {
        let diagnostic = if full {
            e.code.as_deref().map(|c| catalog().explain(c).unwrap_or_else(|| Finding::from_code(c)))
        } else {
            None
        };
        EventView {
            id: e.id,
            reference: EventId(e.id).reference(),
            at: e.at,
            kind: e.kind,
            code: e.code,
            company: e.company_slug,
            user: e.username,
            address: e.address,
            job_id: e.job_id,
            message: e.message,
            diagnostic,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Events, newest first.
    pub events: Vec<EventView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Reads one page: `filter.limit` events, and whether older ones follow.
///
/// # Errors
/// When the store fails.
pub async fn page(store: &dyn Store, filter: EventFilter) -> Result<EventPage, StoreError> {
    let limit = filter.limit.clamp(1, EventFilter::MAX_PAGE);
    // One more than the page tells whether another page follows.
    let mut events = store.events(&EventFilter { limit: limit + 1, ..filter }).await?;
    let more = events.len() as i64 > limit;
    events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = if more { events.last().map(|e| e.id.to_string()) } else { None };
    Ok(EventPage { events: events.into_iter().map(|e| EventView::of(e, false)).collect(), next_cursor })
}

/// `GET /companies/{slug}/events` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyEventsQuery {
    /// Only events of this kind (`auth.failed`, …).
    pub kind: Option<String>,
    /// Only events at or after this: a time (`2026-05-01T12:00:00Z`) or an age (`30m`, `2h`, `7d`).
    pub since: Option<String>,
    /// Only events older than this one (`next_cursor` of the previous page; `14` or `E14`).
    pub before: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
}

/// `GET /events` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this company's events (slug).
    pub company: Option<String>,
    /// Only events of this kind (`auth.failed`, …).
    pub kind: Option<String>,
    /// Only events at or after this: a time (`2026-05-01T12:00:00Z`) or an age (`30m`, `2h`, `7d`).
    pub since: Option<String>,
    /// Only events older than this one (`next_cursor` of the previous page; `14` or `E14`).
    pub before: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
}

/// The filter for the parts of a query every listing shares.
fn filter_of(
    state: &AppState,
    company_id: Option<i64>,
    kind: Option<String>,
    since: Option<&str>,
    before: Option<&str>,
    limit: Option<i64>,
) -> Result<EventFilter, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_request", m);
    let limit = limit.unwrap_or(EventFilter::DEFAULT_PAGE);
    if !(1..=EventFilter::MAX_PAGE).contains(&limit) {
        return Err(invalid(format!("limit must be 1 to {}, got {limit}", EventFilter::MAX_PAGE)));
    }
    let since = since.map(|s| parse_since(s, state.clock.now())).transpose().map_err(|e| invalid(e.to_string()))?;
    let before = before.map(EventId::parse).transpose().map_err(|e| invalid(format!("before: {e}")))?;
    let kind = kind.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
    Ok(EventFilter { company_id, kind, since, before, limit })
}

/// `GET /events?company=&kind=&since=&before=&limit=`: every company's
/// events (and those of no company, such as a login by an unknown name),
/// newest first.
#[utoipa::path(
    get, path = "/api/v1/events", operation_id = "listEvents", tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = EventPage),
        (status = 400, description = "Bad since, before or limit", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(q) = query?;
    let company_id = match (q.company.as_deref(), caller.company_ids.as_deref()) {
        (Some(slug), _) => Some(find(&state, &caller, slug).await?.id),
        (None, None) => None,
        // A token limited to companies reads one company's events at a
        // time: events of other companies (and of none) stay unseen.
        (None, Some([only])) => Some(*only),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "this token is limited to several companies: give ?company=SLUG",
            ))
        }
    };
    let filter = filter_of(&state, company_id, q.kind, q.since.as_deref(), q.before.as_deref(), q.limit)?;
    Ok(Json(page(state.store.as_ref(), filter).await?))
}

/// `GET /companies/{slug}/events?kind=&since=&before=&limit=`: one
/// company's events, newest first.
#[utoipa::path(
    get, path = "/api/v1/companies/{slug}/events", operation_id = "listCompanyEvents", tag = "events",
    params(("slug" = String, Path, description = "Company slug"), CompanyEventsQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = EventPage),
        (status = 400, description = "Bad since, before or limit", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_for_company(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
    query: Result<Query<CompanyEventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(q) = query?;
    let company = find(&state, &caller, &slug).await?;
    let filter = filter_of(&state, Some(company.id), q.kind, q.since.as_deref(), q.before.as_deref(), q.limit)?;
    Ok(Json(page(state.store.as_ref(), filter).await?))
}

/// `GET /events/{id}`: one event, by its number or the reference people
/// quote (`14` or `E14`), with its diagnostic's catalog entry.
#[utoipa::path(
    get, path = "/api/v1/events/{id}", operation_id = "getEvent", tag = "events",
    params(("id" = String, Path, description = "Event id or reference: 14 or E14")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 400, description = "Not an event reference", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = EventId::parse(&id).map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    let event = state.store.event(id).await?.ok_or_else(|| ApiError::not_found(format!("event {id}")))?;
    // An event of no company is visible only to tokens without a limit.
    if caller.company_ids.is_some() {
        caller.check_company_id(event.company_id.unwrap_or(-1), || format!("event {id}"))?;
    }
    Ok(Json(EventView::of(event, true)))
}
