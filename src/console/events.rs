//! `/admin/events`: the event log, newest first, filtered by company,
//! kind and time, a page at a time (the cursor is the last event's id).
//! The same store query and paging as `GET /api/v1/events`
//! ([`crate::api::events::page`]), so each filter walks its index.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::page::{render, ConsoleError, Layout, Time};
use super::session::Console;
use crate::api::{event_page as page, EventView};
use crate::app::AppState;
use crate::clock::parse_since;
use crate::diagnostics::catalog;
use crate::store::EventFilter;
use crate::types::{CompanySlug, EventId};

/// Events on one page.
const PAGE_SIZE: i64 = 50;

/// Kinds offered as suggestions in the filter (any kind may be typed).
const KINDS: &[&str] = &[
    "auth.failed",
    "auth.ok",
    "connection.error",
    "console.login",
    "console.login_failed",
    "job.failed",
    "job.finished",
    "job.recovery",
    "qwc.downloaded",
    "qwc.link_created",
    "session.busy",
    "session.closed",
    "session.opened",
    "session.silent",
    "session.stopped",
];

/// `?company=&kind=&since=&before=`.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    company: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    before: String,
}

/// One row: the event, its time, and how bad its code is.
struct Row {
    e: EventView,
    at: Time,
    /// `info`, `warning` or `error` from the code's catalog entry; empty
    /// for an event without a code.
    level: String,
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    layout: Layout,
    company: String,
    kind: String,
    since: String,
    kinds: &'static [&'static str],
    /// What is wrong with the filter, shown beside it.
    error: Option<String>,
    rows: Vec<Row>,
    /// The query string of the next (older) page.
    next: Option<String>,
    /// Whether this is not the first page.
    paged: bool,
}

/// `GET /admin/events`.
pub async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ConsoleError> {
    let now = state.clock.now();
    let (company, kind, since) = (q.company.trim().to_owned(), q.kind.trim().to_owned(), q.since.trim().to_owned());
    let mut page_view = EventsPage {
        layout: console.layout(&state, "Events", "events"),
        company: company.clone(),
        kind: kind.clone(),
        since: since.clone(),
        kinds: KINDS,
        error: None,
        rows: Vec::new(),
        next: None,
        paged: !q.before.trim().is_empty(),
    };
    let filter = match filter_of(&state, &company, &kind, &since, q.before.trim()).await {
        Ok(f) => f,
        Err(FilterError::Bad(why)) => {
            page_view.error = Some(why);
            return Ok(render(&page_view));
        }
        Err(FilterError::Store(e)) => return Err(e.into()),
    };
    let events = page(state.store.as_ref(), filter).await?;
    page_view.next = events.next_cursor.map(|before| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("company", &company)
            .append_pair("kind", &kind)
            .append_pair("since", &since)
            .append_pair("before", &before)
            .finish()
    });
    page_view.rows = events
        .events
        .into_iter()
        .map(|e| {
            let level = e
                .code
                .as_deref()
                .and_then(|c| catalog().explain(c))
                .map(|f| f.entry.severity.to_string())
                .unwrap_or_default();
            Row { at: Time::of(e.at, now), level, e }
        })
        .collect();
    Ok(render(&page_view))
}

enum FilterError {
    /// Shown to the person beside the filter.
    Bad(String),
    Store(crate::store::StoreError),
}

/// The store's filter for the form's fields; a field that does not parse
/// is said in words.
async fn filter_of(
    state: &AppState,
    company: &str,
    kind: &str,
    since: &str,
    before: &str,
) -> Result<EventFilter, FilterError> {
    let company_id = if company.is_empty() {
        None
    } else {
        let slug = CompanySlug::parse(company).map_err(|e| FilterError::Bad(format!("company: {e}")))?;
        match state.store.company(&slug).await.map_err(FilterError::Store)? {
            Some(c) => Some(c.id),
            None => return Err(FilterError::Bad(format!("there is no company {company:?}"))),
        }
    };
    let since = (!since.is_empty())
        .then(|| parse_since(since, state.clock.now()))
        .transpose()
        .map_err(|e| FilterError::Bad(format!("since: {e}")))?;
    let before = (!before.is_empty())
        .then(|| EventId::parse(before))
        .transpose()
        .map_err(|e| FilterError::Bad(format!("before: {e}")))?;
    let kind = (!kind.is_empty()).then(|| kind.to_owned());
    Ok(EventFilter { company_id, kind, since, before, limit: PAGE_SIZE })
}
