//! Exactly-once writes: qbXML error recovery for writes whose answer was lost.
//!
//! Every write leaves with `newMessageSetID` (persisted at claim time), and
//! QuickBooks keeps a recovery record of it. When the answer is lost the job
//! becomes `unknown`; the company's next session, before sending anything
//! else, sends an empty message set with `newMessageSetID` =
//! `oldMessageSetID` = that id — a status check. QuickBooks answers with the
//! stored response (the write's real outcome), or with a status such as 9002
//! "no stored response" when it cannot tell. The first completes the job as
//! if the answer had arrived; the second holds it for an operator. The write
//! itself is never sent again by qbwcd. (Facts and caveats:
//! `reference/error-recovery.md`; no public report confirms this flow
//! against a live QuickBooks, so the tests model QuickBooks' documented
//! behaviour.)

use tracing::Span;

use super::{record, Qbwc};
use crate::diagnostics::Finding;
use crate::qbxml::{self, MessageSet, OnError, Version};
use crate::queue::{outcome_of_answer, Completion, Job, JobState};
use crate::store::{Session, StoreError};

impl Qbwc {
    /// The status-check message set for a write leased for error recovery.
    pub(super) fn recovery_request(&self, job: &Job, version: Version) -> Option<String> {
        let id = job.message_set_id.as_deref()?;
        record(&Span::current(), "outcome", "recovery_check");
        tracing::info!(job.id = %job.id, "checking whether a write whose answer was lost was applied");
        let ms = MessageSet { new_id: id, old_id: Some(id) };
        Some(qbxml::wrap("", version, OnError::Stop, Some(ms)))
    }

    /// Settles a write from the answer to its status check.
    pub(super) async fn settle_recovery(
        &self,
        session: &Session,
        job: &Job,
        response: String,
        hresult: &str,
        message: &str,
    ) -> Result<Completion, StoreError> {
        let id = job.message_set_id.clone().unwrap_or_default();
        if !hresult.trim().is_empty() {
            // The check itself failed; the write stays unknown for the next try.
            let f = crate::diagnostics::classify_hresult(hresult, message);
            let lost = Finding::from_code("session.answer_lost")
                .with_detail(format!("the error-recovery check failed ({}); it will be tried again", f.code));
            return Ok(Completion::failed(JobState::Unknown, &lost));
        }
        let parsed = qbxml::parse_response(&response);
        match parsed {
            Ok(p) if !p.statuses.is_empty() => {
                // QuickBooks' stored answer is the write's real outcome.
                let (state, finding) = outcome_of_answer(&p);
                self.store.answered_message_set(session.user_id, &id).await?;
                tracing::info!(job.id = %job.id, state = %state, "error recovery found the write's answer");
                Ok(Completion::of_answer(state, finding.as_ref(), Some(response), p.statuses))
            }
            other => {
                let code = match &other {
                    Ok(p) => p.message_set_status_code.map(|c| c.to_string()).unwrap_or_else(|| "none".into()),
                    Err(e) => format!("unreadable answer: {e}"),
                };
                let finding = Finding::from_code("session.answer_lost").with_detail(format!(
                    "QuickBooks kept no answer for message set {id} (status {code}), so it cannot tell whether \
                     the write was applied. Check QuickBooks, then resolve the job as applied or not applied."
                ));
                Self::warn_finding(
                    &finding,
                    "error recovery could not establish a write's outcome; held for an operator",
                );
                Ok(Completion::failed(JobState::Held, &finding))
            }
        }
    }

    /// Completes an error-recovery check; the session goes on unless the
    /// check itself failed.
    pub(super) async fn finish_recovery(
        &self,
        session: &Session,
        job: &Job,
        response: String,
        hresult: &str,
        message: &str,
        live: bool,
    ) -> Result<i32, StoreError> {
        let (Some(lease), ticket) = (job.lease(), &session.ticket_hash) else {
            return Ok(-1);
        };
        let completion = self.settle_recovery(session, job, response, hresult, message).await?;
        let state = completion.state;
        if let Some(code) = completion.diagnostic.clone() {
            let f = Finding::from_code(&code).with_detail(completion.error.clone().unwrap_or_default());
            let ev = self.company_event(session, "job.recovery", &f, Some(job));
            let reference = self.event(ev).await;
            if state != JobState::Done {
                self.store.set_session_error(ticket, Some(&f.code), &f.one_line(&reference)).await?;
            }
        }
        if !self.store.complete_job(&lease, completion, self.now()).await? {
            return Ok(-1);
        }
        record(&Span::current(), "outcome", state.as_str());
        if state == JobState::Unknown || !live {
            return Ok(-1);
        }
        self.progress(session, 1).await
    }
}
