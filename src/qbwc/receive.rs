//! `receiveResponseXML`: store the answer under the job's fence (pages for
//! an iterator), classify it, and tell the Web Connector how far along it is.

use tracing::Span;

use super::{record, record_job, record_session, Qbwc};
use crate::diagnostics::Finding;
use crate::qbxml;
use crate::queue::{
    outcome_of_answer, outcome_of_hresult, progress, remaining_estimate, Completion, Job, JobState, EXACT_REMAINING,
};
use crate::store::{AcceptsJob, AnswerCompletion, AnswerStart, Session, StoreError};
use crate::types::TicketHash;

impl Qbwc {
    /// `receiveResponseXML`: stores the answer under the job's fence and
    /// returns progress (100 when the queue is empty), or -1 when the
    /// session must stop (getLastError says why).
    pub(super) async fn receive_response(
        &self,
        ticket: &TicketHash,
        response: String,
        hresult: &str,
        message: &str,
    ) -> i32 {
        match self.try_receive(ticket, response, hresult, message).await {
            Ok(p) => p,
            Err(e) => {
                // The answer is not stored: the lease lapses, a read is sent
                // again and a write becomes unknown. Nothing is lost silently.
                tracing::error!(error = %e, "receiveResponseXML: the database failed; the answer was not stored");
                record(&Span::current(), "outcome", "error");
                -1
            }
        }
    }

    async fn try_receive(
        &self,
        ticket: &TicketHash,
        response: String,
        hresult: &str,
        message: &str,
    ) -> Result<i32, StoreError> {
        let now = self.now();
        // The usual answer: QuickBooks answered and the answer reads. Its
        // outcome does not depend on the job, so the store can complete a
        // plain job in the same call that finds it.
        if hresult.trim().is_empty() {
            if let Ok(parsed) = qbxml::parse_response(&response) {
                return self.receive_parsed(ticket, response, parsed, now).await;
            }
        }
        let Some(start) = self.store.start_answer(ticket, now, self.idle_expiry(now)).await? else {
            record(&Span::current(), "outcome", "unknown_ticket");
            return Ok(-1);
        };
        self.receive_started(ticket, start, response, hresult, message, None).await
    }

    /// An answer that parsed: completed with its job in one store call
    /// when the job is plain (not an iterator page, not a recovery check);
    /// otherwise handed to [`Qbwc::receive_started`] as found.
    async fn receive_parsed(
        &self,
        ticket: &TicketHash,
        response: String,
        parsed: qbxml::ParsedResponse,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<i32, StoreError> {
        let span = Span::current();
        let response_bytes = response.len();
        let (completion, finding) = completion_of(&parsed, response);
        let state = completion.state;
        // The store completes the job in the same call only when the rule
        // says the answer completes it; otherwise it hands everything back.
        let answer_failed = parsed.first_error().is_some();
        let accepts: AcceptsJob =
            Box::new(move |job: &Job| answer_to(job, "", Some(answer_failed)) == AnswerTo::Completion);
        let taken = self.store.answer(ticket, now, self.idle_expiry(now), completion, accepts, EXACT_REMAINING).await?;
        let (start, remaining) = match taken {
            None => {
                record(&span, "outcome", "unknown_ticket");
                return Ok(-1);
            }
            Some(AnswerCompletion::Declined { start, completion }) => {
                let response = completion.response.unwrap_or_default();
                return self.receive_started(ticket, start, response, "", "", Some(parsed)).await;
            }
            Some(AnswerCompletion::Completed { start, remaining }) => (start, remaining),
        };
        let AnswerStart { session, live, job } = start;
        record_session(session.company_id, &session.username, ticket);
        let Some(job) = job else {
            return Ok(-1);
        };
        record_job(job.id);
        crate::metrics::note_answer(response_bytes);
        self.after_completion(
            ticket,
            &session,
            &job,
            live,
            AfterCompletion { state, finding, remaining, response_bytes },
        )
        .await
    }

    /// The rest of an answer, with its session and job found: every case
    /// that is not a plain completion ([`Qbwc::receive_parsed`]), or an
    /// answer that did not parse or came with an HRESULT. `parsed` is the
    /// answer already parsed, if it was.
    async fn receive_started(
        &self,
        ticket: &TicketHash,
        start: AnswerStart,
        response: String,
        hresult: &str,
        message: &str,
        parsed: Option<qbxml::ParsedResponse>,
    ) -> Result<i32, StoreError> {
        let span = Span::current();
        let now = self.now();
        // A session that is no longer live still hands in its answer (the
        // job's fence decides), but it is not extended and ends here.
        let AnswerStart { session, live, job } = start;
        record_session(session.company_id, &session.username, ticket);
        let Some(job) = job else {
            tracing::warn!(response_bytes = response.len(), "an answer arrived for no job; dropped");
            record(&span, "outcome", "no_job");
            return Ok(if live { 100 } else { -1 });
        };
        record_job(job.id);
        let Some(lease) = job.lease() else {
            return Ok(-1);
        };
        if hresult.trim().is_empty() {
            crate::metrics::note_answer(response.len());
        }
        let parsed = match (hresult.trim().is_empty(), parsed) {
            (false, _) => None,
            (true, Some(p)) => Some(Ok(p)),
            (true, None) => Some(qbxml::parse_response(&response)),
        };
        let answer_failed = match &parsed {
            Some(Ok(p)) => Some(p.first_error().is_some()),
            _ => None,
        };
        let (completion, finding) = match (answer_to(&job, hresult, answer_failed), parsed) {
            (AnswerTo::RecoveryCheck, _) => {
                return self.finish_recovery(&session, &job, response, hresult, message, live).await;
            }
            (AnswerTo::Hresult, _) => {
                let (state, finding) = outcome_of_hresult(job.kind, job.attempt, job.max_attempts, hresult, message);
                Self::warn_finding(&finding, "QuickBooks could not process the request");
                self.store.complete_job(&lease, Completion::failed(state, &finding), now).await?;
                note_job_finished(&job, state, now);
                self.stop_session(ticket, &session, &finding, Some(&job)).await?;
                record(&span, "outcome", "hresult");
                return Ok(-1);
            }
            (AnswerTo::IteratorPage, Some(Ok(parsed))) => {
                if self.iterator_at_limit(&job).await? {
                    return self.iterator_stopped(ticket, &session, &job, parsed, live).await;
                }
                return self.iterator_page(&session, &job, response, parsed, live).await;
            }
            (_, Some(Ok(parsed))) => completion_of(&parsed, response),
            (_, parsed) => {
                // Unreadable answer: a read may be asked again, a write's
                // fate is unknown. (Without an HRESULT there is always a
                // parse result; `None` cannot reach here.)
                let e = parsed.and_then(Result::err).map(|e| e.to_string()).unwrap_or_default();
                let finding = Finding::from_code("server.internal")
                    .with_detail(format!("QuickBooks' answer could not be read: {e}"));
                let state = match job.kind {
                    crate::queue::JobKind::Read if job.attempt < job.max_attempts => JobState::Queued,
                    crate::queue::JobKind::Read => JobState::Failed,
                    crate::queue::JobKind::Write => JobState::Unknown,
                };
                (Completion::failed(state, &finding).with_response(response), Some(finding))
            }
        };
        let state = completion.state;
        let response_bytes = completion.response.as_ref().map_or(0, String::len);
        let company_id = session.company_id;
        let remaining = self.store.complete_and_count(&lease, completion, now, company_id, EXACT_REMAINING).await?;
        self.after_completion(
            ticket,
            &session,
            &job,
            live,
            AfterCompletion { state, finding, remaining, response_bytes },
        )
        .await
    }

    /// After a completion: a stale answer is dropped; otherwise the
    /// message set is recorded, a failure becomes an event and what
    /// getLastError says, and the Web Connector hears how far along it is.
    async fn after_completion(
        &self,
        ticket: &TicketHash,
        session: &Session,
        job: &Job,
        live: bool,
        completed: AfterCompletion,
    ) -> Result<i32, StoreError> {
        let AfterCompletion { state, finding, remaining, response_bytes } = completed;
        let span = Span::current();
        let now = self.now();
        let Some(capped) = remaining else {
            tracing::warn!(job.id = %job.id, attempt = job.attempt, "a stale answer (the job was claimed again) was dropped");
            record(&span, "outcome", "stale");
            return Ok(if live { self.progress(session, 0).await? } else { -1 });
        };
        tracing::debug!(job.id = %job.id, state = %state, response_bytes, "answer stored");
        if let Some(id) = job.message_set_id.as_deref() {
            self.store.answered_message_set(session.user_id, id).await?;
        }
        note_job_finished(job, state, now);
        if let Some(f) = &finding {
            Self::warn_finding(f, "a job failed");
            let ev = self.company_event(session, "job.failed", f, Some(job));
            let reference = self.event(ev).await;
            self.store.set_session_error(ticket, Some(&f.code), &f.one_line(&reference)).await?;
        }
        record(&span, "outcome", state.as_str());
        if !live {
            return Ok(-1);
        }
        Ok(self.percent(session, 1, capped))
    }

    /// Stores one page of an iterator. While QuickBooks reports more, the
    /// job stays leased with the iterator id to continue; the last page
    /// completes it.
    async fn iterator_page(
        &self,
        session: &Session,
        job: &Job,
        response: String,
        parsed: qbxml::ParsedResponse,
        live: bool,
    ) -> Result<i32, StoreError> {
        let now = self.now();
        let Some(lease) = job.lease() else {
            return Ok(-1);
        };
        let lease = &lease;
        let more = parsed.statuses.iter().find_map(|s| match (s.iterator_remaining_count, s.iterator_id.as_deref()) {
            (Some(n), Some(id)) if n > 0 => Some(id.to_owned()),
            _ => None,
        });
        let stored = self
            .store
            .record_page(lease, &response, &parsed.statuses, more.as_deref(), self.lease_until(now), now)
            .await?;
        if !stored {
            tracing::warn!(job.id = %job.id, "a stale iterator page was dropped");
            return Ok(-1);
        }
        if more.is_some() {
            record(&Span::current(), "outcome", "page");
            tracing::debug!(job.id = %job.id, response_bytes = response.len(), "iterator page stored; more to come");
            let capped = self.store.queue_depth_at_most(session.company_id, now, EXACT_REMAINING).await?;
            return Ok(self.percent(session, 0, capped + 1).min(99));
        }
        let completion = Completion::of_answer(JobState::Done, None, None, parsed.statuses);
        if !self.store.complete_job(lease, completion, now).await? {
            return Ok(-1);
        }
        record(&Span::current(), "outcome", "done");
        if !live {
            return Ok(-1);
        }
        self.progress(session, 1).await
    }

    /// The answer to the `iterator="Stop"` sent when the job reached
    /// `iterator_max_pages`: the iterator is released in QuickBooks, and the
    /// job fails with `iterator.page_limit` (its pages stay stored).
    async fn iterator_stopped(
        &self,
        ticket: &TicketHash,
        session: &Session,
        job: &Job,
        parsed: qbxml::ParsedResponse,
        live: bool,
    ) -> Result<i32, StoreError> {
        let Some(lease) = job.lease() else {
            return Ok(-1);
        };
        let now = self.now();
        let cap = self.settings.iterator_max_pages;
        let finding = Finding::from_code("iterator.page_limit").with_detail(format!(
            "the iterator fetched {cap} pages (iterator_max_pages) and was stopped; the pages so far are stored"
        ));
        let completion = Completion::failed(JobState::Failed, &finding).with_statuses(parsed.statuses);
        let remaining =
            self.store.complete_and_count(&lease, completion, now, session.company_id, EXACT_REMAINING).await?;
        let completed =
            AfterCompletion { state: JobState::Failed, finding: Some(finding), remaining, response_bytes: 0 };
        self.after_completion(ticket, session, job, live, completed).await
    }

    /// Progress after `just_done` more jobs of this session. A live session
    /// stays below 100 so the Web Connector keeps asking.
    pub(super) async fn progress(&self, session: &Session, just_done: i64) -> Result<i32, StoreError> {
        let capped = self.store.queue_depth_at_most(session.company_id, self.now(), EXACT_REMAINING).await?;
        Ok(self.percent(session, just_done, capped))
    }

    /// Progress from a count of remaining jobs capped at
    /// [`EXACT_REMAINING`] (see [`remaining_estimate`]).
    fn percent(&self, session: &Session, just_done: i64, capped: i64) -> i32 {
        let finished = session.jobs_done + session.jobs_failed + just_done;
        let pct = progress(finished, remaining_estimate(capped, session.queue_at_start, finished));
        if self.is_live_mode() {
            pct.min(99)
        } else {
            pct
        }
    }
}

/// What an answer is to the job it answers: the one rule of
/// `receiveResponseXML`, applied by the store's one-call completion
/// ([`crate::store::ExchangeStore::answer`] completes only a
/// [`AnswerTo::Completion`]) and by [`Qbwc::receive_started`] alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AnswerTo {
    /// The answer to an error-recovery status check ([`Qbwc::finish_recovery`]).
    RecoveryCheck,
    /// QuickBooks could not process the request: it came with an HRESULT.
    Hresult,
    /// An iterator's page without an error: a page, not the end.
    IteratorPage,
    /// It completes the job: done or failed by its statuses, or, when it
    /// does not read, sent again (a read) or unknown (a write).
    Completion,
}

/// [`AnswerTo`] for `job`: `hresult` as the Web Connector sent it,
/// `answer_failed` whether the answer that parsed reports an error
/// (`None`: it did not parse, or there was none).
pub(super) fn answer_to(job: &Job, hresult: &str, answer_failed: Option<bool>) -> AnswerTo {
    answer_rule(job.recovering, job.iterates, hresult, answer_failed)
}

/// [`answer_to`] on the two facts of the job it looks at.
pub(super) fn answer_rule(recovering: bool, iterates: bool, hresult: &str, answer_failed: Option<bool>) -> AnswerTo {
    if recovering {
        AnswerTo::RecoveryCheck
    } else if !hresult.trim().is_empty() {
        AnswerTo::Hresult
    } else if iterates && answer_failed == Some(false) {
        AnswerTo::IteratorPage
    } else {
        AnswerTo::Completion
    }
}

/// The completion an answer that parsed gives its job, and why the job
/// failed if it did.
fn completion_of(parsed: &qbxml::ParsedResponse, response: String) -> (Completion, Option<Finding>) {
    let (state, finding) = outcome_of_answer(parsed);
    let completion = Completion::of_answer(state, finding.as_ref(), Some(response), parsed.statuses.clone());
    (completion, finding)
}

/// What a completion came to, for [`Qbwc::after_completion`].
struct AfterCompletion {
    /// The state the answer gave the job.
    state: JobState,
    /// Why it failed, if it did.
    finding: Option<Finding>,
    /// The company's remaining jobs, capped; `None` when the answer was
    /// stale (the job was claimed again).
    remaining: Option<i64>,
    /// The answer's size, for the log.
    response_bytes: usize,
}

/// Notes the job's time from enqueue to its answer for the metrics, when
/// the answer settled it (a read going back to the queue is not finished).
fn note_job_finished(job: &Job, state: JobState, now: chrono::DateTime<chrono::Utc>) {
    if matches!(state, JobState::Done | JobState::Failed | JobState::Unknown) {
        let elapsed = (now - job.created_at).to_std().unwrap_or_default();
        crate::metrics::note_job_finished(state.as_str(), elapsed);
    }
}
