//! `/admin/jobs/{id}`: the request as sent and the answer (pretty-printed,
//! folded when large), statuses, the diagnostic with its steps, the
//! webhook delivery; retry, cancel, and settling a lost write behind a
//! confirmation page that says what to check in QuickBooks first. Each
//! action is the store call the API's and CLI's `retry`, `cancel` and
//! `resolve` make.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use quick_xml::events::Event;
use serde::Deserialize;

use super::page::{render, ConsoleError, Layout, Time};
use super::session::{Console, ConsoleEvent};
use crate::api::JobView;
use crate::app::AppState;
use crate::qbxml::Version;
use crate::queue::Job;
use crate::types::JobId;

/// Bodies longer than this are folded (a `<details>` closed by default).
const FOLD_BYTES: usize = 4 * 1024;
/// Bodies longer than this are shown as they are, not re-indented.
const PRETTY_MAX_BYTES: usize = 2 * 1024 * 1024;

/// A qbXML body as the page shows it.
struct Body {
    text: String,
    bytes: usize,
    folded: bool,
}

impl Body {
    fn of(xml: &str) -> Body {
        Body { text: pretty(xml), bytes: xml.len(), folded: xml.len() > FOLD_BYTES }
    }
}

/// Re-indents XML for reading; anything that does not parse (or is very
/// large) is shown as it is.
fn pretty(xml: &str) -> String {
    if xml.len() > PRETTY_MAX_BYTES {
        return xml.to_owned();
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(e) => {
                if writer.write_event(e).is_err() {
                    return xml.to_owned();
                }
            }
            Err(_) => return xml.to_owned(),
        }
    }
    String::from_utf8(writer.into_inner()).unwrap_or_else(|_| xml.to_owned())
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct JobPage {
    layout: Layout,
    job: JobView,
    slug: String,
    created: Time,
    updated: Time,
    sent: Option<Time>,
    completed: Option<Time>,
    request: Option<Body>,
    response: Option<Body>,
    webhook_next: Option<Time>,
    can_retry: bool,
    can_cancel: bool,
    can_resolve: bool,
    submitted: String,
}

/// A job by its id as the URL gives it.
async fn find(state: &AppState, id: &str) -> Result<Job, ConsoleError> {
    let parsed = JobId::parse(id).map_err(|_| ConsoleError::NotFound(format!("{id:?} is not a job id")))?;
    state.store.job(parsed).await?.ok_or_else(|| ConsoleError::NotFound(format!("there is no job {id}")))
}

/// A job and its company's slug and reported qbXML version (the schema its
/// result is read with).
async fn load(state: &AppState, id: &str) -> Result<(Job, String, Option<Version>), ConsoleError> {
    let job = find(state, id).await?;
    let company = state.store.company_by_id(job.company_id).await?;
    let reported = company.as_ref().and_then(crate::submit::reported_version);
    Ok((job, company.map(|c| c.slug.to_string()).unwrap_or_default(), reported))
}

/// `GET /admin/jobs/{id}`.
pub async fn show(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let now = state.clock.now();
    let (job, slug, reported) = load(&state, &id).await?;
    let submitted = job.request.clone();
    let can_resolve = job.awaits_verdict();
    let view = crate::api::job_view(&state, job, &slug, reported).await?;
    let page = JobPage {
        layout: console.layout(&state, format!("Job {}", view.id), "companies"),
        slug,
        created: Time::of(view.created_at, now),
        updated: Time::of(view.updated_at, now),
        sent: Time::opt(view.sent_at, now),
        completed: Time::opt(view.completed_at, now),
        request: view.request.as_deref().map(Body::of),
        response: view.response.as_deref().map(Body::of),
        webhook_next: Time::opt(view.webhook.as_ref().and_then(|w| w.next_attempt_at), now),
        can_retry: view.state.can_retry(),
        can_cancel: view.state.can_cancel(),
        can_resolve,
        submitted: pretty(&submitted),
        job: view,
    };
    Ok(render(&page))
}

/// `POST /admin/jobs/{id}/retry`: failed or cancelled → queued.
pub async fn retry(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let job = find(&state, &id).await?;
    let job = state.store.retry_job(job.id, state.clock.now()).await?;
    let event = event("console.job_retried", &job, format!("queued job {} again", job.id));
    Ok(console.done(&state, &format!("/admin/jobs/{}", job.id), event, "Job queued again.".into()).await)
}

/// `POST /admin/jobs/{id}/cancel`: queued or held → cancelled.
pub async fn cancel(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let job = find(&state, &id).await?;
    let job = state.store.cancel_job(job.id, state.clock.now()).await?;
    let event = event("console.job_cancelled", &job, format!("cancelled job {}", job.id));
    Ok(console.done(&state, &format!("/admin/jobs/{}", job.id), event, "Job cancelled.".into()).await)
}

fn event(kind: &'static str, job: &Job, message: String) -> ConsoleEvent {
    ConsoleEvent { kind, company_id: Some(job.company_id), job_id: Some(job.id), message, ..Default::default() }
}

#[derive(Template)]
#[template(path = "console/resolve.html")]
struct ResolvePage {
    layout: Layout,
    id: String,
    slug: String,
    requests: Vec<String>,
    request: Option<Body>,
    sent: Option<Time>,
    message_set_id: Option<String>,
}

/// `GET /admin/jobs/{id}/resolve`: what to check in QuickBooks, then the
/// two verdicts.
pub async fn confirm_resolve(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let now = state.clock.now();
    let (job, slug, reported) = load(&state, &id).await?;
    let awaiting = job.awaits_verdict();
    let view = crate::api::job_view(&state, job, &slug, reported).await?;
    if !awaiting {
        return Err(ConsoleError::Conflict(format!(
            "job {} is {}: only a write whose outcome is unknown (or held for an operator) is settled by hand",
            view.id, view.state
        )));
    }
    let page = ResolvePage {
        layout: console.layout(&state, format!("Settle job {}", view.id), "companies"),
        id: view.id.to_string(),
        slug,
        requests: view.requests.clone(),
        request: view.request.as_deref().map(Body::of),
        sent: Time::opt(view.sent_at, now),
        message_set_id: view.new_message_set_id.clone(),
    };
    Ok(render(&page))
}

/// The verdict.
#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    /// `applied` or `not_applied`.
    verdict: String,
}

/// `POST /admin/jobs/{id}/resolve`: as `jobs resolve --applied` /
/// `--not-applied` and `POST /api/v1/jobs/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, ConsoleError> {
    let applied = match form.verdict.as_str() {
        "applied" => true,
        "not_applied" => false,
        other => return Err(ConsoleError::BadRequest(format!("unknown verdict {other:?}"))),
    };
    let job = find(&state, &id).await?;
    let job = state.store.resolve_job(job.id, applied, state.clock.now()).await?;
    let (said, flash) = if applied {
        ("applied (marked done)", "Marked done: the write is in QuickBooks.")
    } else {
        ("not applied (queued again)", "Queued again: the write will be sent in the next session.")
    };
    let event = event("console.job_resolved", &job, format!("settled write {} as {said}", job.id));
    Ok(console.done(&state, &format!("/admin/jobs/{}", job.id), event, flash.into()).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_indented_and_anything_else_is_left_alone() {
        let p = pretty("<?xml version=\"1.0\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\"><CustomerQueryRq/></QBXMLMsgsRq></QBXML>");
        assert!(p.contains("\n  <QBXMLMsgsRq onError=\"stopOnError\">\n    <CustomerQueryRq/>"), "{p}");
        assert_eq!(pretty("not <xml"), "not <xml");
    }
}
