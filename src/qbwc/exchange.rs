//! `sendRequestXML` and `receiveResponseXML`: one job out, its answer in.

use chrono::Duration;
use tracing::Span;

use super::company_check::check_file;
use super::{record, record_job, record_session, Qbwc};
use crate::diagnostics::Finding;
use crate::qbxml::{self, MessageSet, Version};
use crate::queue::{outcome_of_answer, outcome_of_hresult, progress, Completion, Job, JobState};
use crate::store::{Company, CompanyFacts, NewEvent, Session, StoreError};
use crate::types::TicketHash;

/// The parameters of `sendRequestXML` qbwcd uses.
pub(super) struct SendRequest {
    pub hcp_response: String,
    pub company_file_name: String,
    pub major_version: i32,
    pub minor_version: i32,
}

/// Jobs refused before sending (their version is too high) in one call,
/// at most; the rest wait for the next call.
const MAX_SKIPS: usize = 64;

impl Qbwc {
    /// A live session for `ticket`, touched; `None` ends the exchange.
    async fn live_session(&self, ticket: &TicketHash) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        if let Some(session) = self.store.touch_live_session(ticket, now, self.idle_expiry(now)).await? {
            record_session(session.company_id, &session.username, ticket);
            return Ok(Some(session));
        }
        // Not live: look again only to say why.
        let Some(session) = self.store.session(ticket).await? else {
            record(&Span::current(), "outcome", "unknown_ticket");
            return Ok(None);
        };
        record_session(session.company_id, &session.username, ticket);
        record(&Span::current(), "outcome", "session_ended");
        Ok(None)
    }

    /// The session's company; read only when a call needs it (the first
    /// call's file check, a version not given by QuickBooks, a write).
    async fn company_of(&self, session: &Session) -> Result<Company, StoreError> {
        self.store
            .company_by_id(session.company_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("company {}", session.company_id)))
    }

    /// `sendRequestXML`: checks the company file on the first call, then
    /// claims the next job and returns it wrapped for the version in use;
    /// `""` when the session must stop (getLastError says why).
    pub(super) async fn send_request(&self, ticket: &TicketHash, req: SendRequest) -> String {
        match self.try_send_request(ticket, req).await {
            Ok(xml) => xml,
            Err(e) => {
                tracing::error!(error = %e, "sendRequestXML: the database failed");
                record(&Span::current(), "outcome", "error");
                let finding = Finding::from_code("server.database_unavailable");
                let _ = self.store.set_session_error(ticket, Some(&finding.code), &finding.one_line("none")).await;
                String::new()
            }
        }
    }

    async fn try_send_request(&self, ticket: &TicketHash, req: SendRequest) -> Result<String, StoreError> {
        let span = Span::current();
        let Some(session) = self.live_session(ticket).await? else {
            return Ok(String::new());
        };
        let now = self.now();
        let first_call = !req.hcp_response.trim().is_empty() || session.company_file_name.is_none();
        let mut company = None;
        if first_call || req.major_version <= 0 {
            company = Some(self.company_of(&session).await?);
        }
        let ceiling = company.as_ref().and_then(|c| c.qbxml_version.as_deref());
        let version = negotiated(req.major_version, req.minor_version, ceiling);
        if let (true, Some(company)) = (first_call, company.as_ref()) {
            let owner = self.store.user(&session.username).await?.map(|u| u.owner_id.to_string()).unwrap_or_default();
            let hcp = qbxml::parse_hcp(&req.hcp_response, &owner).ok().filter(|h| !h.supported_versions.is_empty());
            if let Some(h) = &hcp {
                let facts = CompanyFacts {
                    qbxml_version: h.ceiling().map(|v| v.to_string()),
                    qb_company_name: h.company_name.clone(),
                    qb_product: h.product_name.clone(),
                };
                self.store.record_company_facts(company.id, &facts, now).await?;
            }
            self.store.set_session_file(ticket, &req.company_file_name, &version.to_string()).await?;
            let verdict = check_file(company, &req.company_file_name, hcp.as_ref());
            for w in &verdict.warnings {
                Self::warn_finding(w, "company file check");
                self.event(self.company_event(&session, "company.check", w, None)).await;
            }
            if let Some(stop) = verdict.stop {
                Self::warn_finding(&stop, "company file check: nothing will be sent");
                self.stop_session(ticket, &session, &stop, None).await?;
                record(&span, "outcome", "wrong_file");
                return Ok(String::new());
            }
        }
        // An iterator this session started continues before anything else:
        // QuickBooks keeps the iterator only for this session.
        if let Some(job) = self.store.leased_job(ticket).await? {
            if let (JobState::Sent, Some(iterator)) = (job.state, job.iterator_id.as_deref()) {
                record_job(job.id);
                let body = qbxml::continue_iterator(&job.request, iterator);
                if let Ok(xml) = self.request_for(&job, &body, version, None) {
                    record(&span, "outcome", "continued");
                    return Ok(xml);
                }
            }
        }
        let lease_until = self.lease_until(now);
        // Writes whose answer was lost are settled before anything else.
        if let Some((job, xml)) = self.recovery_check(&session, ticket, version, now, lease_until).await? {
            record_job(job.id);
            return Ok(xml);
        }
        for _ in 0..MAX_SKIPS {
            let Some(job) = self.store.claim_next(session.company_id, ticket, now, lease_until).await? else {
                return self.nothing_to_send(ticket, &session, now).await;
            };
            record_job(job.id);
            if job.message_set_id.is_some() && company.is_none() {
                company = Some(self.company_of(&session).await?);
            }
            let answered = company.as_ref().and_then(|c| c.last_message_set_id.as_deref());
            match self.request_for(&job, &job.request, version, answered) {
                Ok(xml) => {
                    record(&span, "outcome", "sent");
                    tracing::debug!(job.id = %job.id, request_bytes = xml.len(), qbxml.version = %version, "job sent");
                    return Ok(xml);
                }
                Err(finding) => self.refuse_job(ticket, &session, &job, finding).await?,
            }
        }
        Ok(String::new())
    }

    fn lease_until(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + Duration::seconds(i64::try_from(self.settings.lease_seconds).unwrap_or(900))
    }

    /// With nothing to send: in a live session still inside its idle window,
    /// `""` with `getLastError` answering `NoOp` (the Web Connector waits
    /// five seconds and asks again); otherwise `""` with a closing line.
    async fn nothing_to_send(
        &self,
        ticket: &TicketHash,
        session: &Session,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, StoreError> {
        let idle = now - session.last_work_at.unwrap_or(session.created_at);
        let window = Duration::seconds(i64::try_from(self.settings.live_idle_seconds).unwrap_or(0));
        if window > Duration::zero() && idle < window {
            record(&Span::current(), "outcome", "noop");
            self.store.set_session_error(ticket, None, "NoOp").await?;
        } else {
            record(&Span::current(), "outcome", "no_work");
            let done = Finding::from_code("session.no_more_work");
            self.store.set_session_error(ticket, None, &done.one_line("none")).await?;
        }
        Ok(String::new())
    }

    /// Whether this session stays open when the queue is empty.
    fn is_live_mode(&self) -> bool {
        self.settings.live_idle_seconds > 0
    }

    /// The qbXML for `body` of a job at the session's version, or why it
    /// cannot go. A write carries its message-set id for error recovery,
    /// and clears the record of the company's last answered set.
    fn request_for(
        &self,
        job: &Job,
        body: &str,
        session_version: Version,
        answered: Option<&str>,
    ) -> Result<String, Finding> {
        let version = match job.qbxml_version.as_deref().map(Version::parse) {
            Some(Ok(asked)) if asked > session_version => {
                return Err(Finding::from_code("version.qbxml_above_ceiling").with_detail(format!(
                    "the job asks for qbXML {asked}; this QuickBooks speaks up to {session_version}"
                )));
            }
            Some(Ok(asked)) => asked,
            _ => session_version,
        };
        let message_set =
            job.message_set_id.as_deref().map(|id| MessageSet { new_id: id, old_id: answered.filter(|a| *a != id) });
        Ok(qbxml::wrap(body, version, job.on_error(), message_set))
    }

    /// Fails a claimed job without sending it.
    async fn refuse_job(
        &self,
        ticket: &TicketHash,
        session: &Session,
        job: &Job,
        finding: Finding,
    ) -> Result<(), StoreError> {
        Self::warn_finding(&finding, "job refused before sending");
        if let Some(lease) = job.lease() {
            let completion = Completion {
                state: JobState::Failed,
                response: None,
                statuses: Vec::new(),
                diagnostic: Some(finding.code.clone()),
                error: Some(finding.detail.clone().unwrap_or_else(|| finding.entry.title.clone())),
            };
            self.store.complete_job(&lease, completion, self.now()).await?;
        }
        self.event(self.company_event(session, "job.failed", &finding, Some(job))).await;
        let _ = ticket;
        Ok(())
    }

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
        let span = Span::current();
        let now = self.now();
        // A session that is no longer live still hands in its answer (the
        // job's fence decides), but it is not extended and ends here.
        let (session, live) = match self.store.touch_live_session(ticket, now, self.idle_expiry(now)).await? {
            Some(s) => (s, true),
            None => match self.store.session(ticket).await? {
                Some(s) => (s, false),
                None => {
                    record(&span, "outcome", "unknown_ticket");
                    return Ok(-1);
                }
            },
        };
        record_session(session.company_id, &session.username, ticket);
        let Some(job) = self.store.leased_job(ticket).await? else {
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
        if job.recovering {
            return self.finish_recovery(&session, &job, response, hresult, message, live).await;
        }
        if !hresult.trim().is_empty() {
            let (state, finding) = outcome_of_hresult(job.kind, job.attempt, job.max_attempts, hresult, message);
            Self::warn_finding(&finding, "QuickBooks could not process the request");
            let completion = Completion {
                state,
                response: None,
                statuses: Vec::new(),
                diagnostic: Some(finding.code.clone()),
                error: Some(finding.detail.clone().unwrap_or_else(|| finding.entry.title.clone())),
            };
            self.store.complete_job(&lease, completion, now).await?;
            note_job_finished(&job, state, now);
            self.stop_session(ticket, &session, &finding, Some(&job)).await?;
            record(&span, "outcome", "hresult");
            return Ok(-1);
        }
        let (completion, finding) = match qbxml::parse_response(&response) {
            Ok(parsed) if job.iterates && parsed.first_error().is_none() => {
                return self.iterator_page(&session, &job, response, parsed, live).await;
            }
            Ok(parsed) => {
                let (state, finding) = outcome_of_answer(&parsed);
                let error = finding.as_ref().map(|f| f.detail.clone().unwrap_or_else(|| f.entry.title.clone()));
                let diagnostic = finding.as_ref().map(|f| f.code.clone());
                let statuses = parsed.statuses;
                (Completion { state, response: Some(response), statuses, diagnostic, error }, finding)
            }
            Err(e) => {
                // Unreadable answer: a read may be asked again, a write's
                // fate is unknown.
                let finding = Finding::from_code("server.internal")
                    .with_detail(format!("QuickBooks' answer could not be read: {e}"));
                let state = match job.kind {
                    crate::queue::JobKind::Read if job.attempt < job.max_attempts => JobState::Queued,
                    crate::queue::JobKind::Read => JobState::Failed,
                    crate::queue::JobKind::Write => JobState::Unknown,
                };
                let error = finding.detail.clone();
                (
                    Completion {
                        state,
                        response: Some(response),
                        statuses: Vec::new(),
                        diagnostic: Some(finding.code.clone()),
                        error,
                    },
                    Some(finding),
                )
            }
        };
        let state = completion.state;
        let response_bytes = completion.response.as_ref().map_or(0, String::len);
        if !self.store.complete_job(&lease, completion, now).await? {
            tracing::warn!(job.id = %job.id, attempt = job.attempt, "a stale answer (the job was claimed again) was dropped");
            record(&span, "outcome", "stale");
            return Ok(if live { self.progress(&session, 0).await? } else { -1 });
        }
        tracing::debug!(job.id = %job.id, state = %state, response_bytes, "answer stored");
        if let Some(id) = job.message_set_id.as_deref() {
            self.store.answered_message_set(session.company_id, id).await?;
        }
        note_job_finished(&job, state, now);
        if let Some(f) = &finding {
            Self::warn_finding(f, "a job failed");
            let ev = self.company_event(&session, "job.failed", f, Some(&job));
            let reference = self.event(ev).await;
            self.store.set_session_error(ticket, Some(&f.code), &f.one_line(&reference)).await?;
        }
        record(&span, "outcome", state.as_str());
        if !live {
            return Ok(-1);
        }
        self.progress(&session, 1).await
    }

    /// Completes an error-recovery check; the session goes on unless the
    /// check itself failed.
    async fn finish_recovery(
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
            let remaining = self.store.queue_depth(session.company_id, now).await?;
            return Ok(progress(session.jobs_done + session.jobs_failed, remaining + 1).min(99));
        }
        let completion = Completion {
            state: JobState::Done,
            response: None,
            statuses: parsed.statuses,
            diagnostic: None,
            error: None,
        };
        if !self.store.complete_job(lease, completion, now).await? {
            return Ok(-1);
        }
        record(&Span::current(), "outcome", "done");
        if !live {
            return Ok(-1);
        }
        self.progress(session, 1).await
    }

    /// Progress after `just_done` more jobs of this session. A live session
    /// stays below 100 so the Web Connector keeps asking.
    async fn progress(&self, session: &Session, just_done: i64) -> Result<i32, StoreError> {
        let remaining = self.store.queue_depth(session.company_id, self.now()).await?;
        let pct = progress(session.jobs_done + session.jobs_failed + just_done, remaining);
        Ok(if self.is_live_mode() { pct.min(99) } else { pct })
    }

    /// Records why the session stops, for getLastError and the event log.
    pub(super) async fn stop_session(
        &self,
        ticket: &TicketHash,
        session: &Session,
        finding: &Finding,
        job: Option<&Job>,
    ) -> Result<(), StoreError> {
        let reference = self.event(self.company_event(session, "session.stopped", finding, job)).await;
        self.store.set_session_error(ticket, Some(&finding.code), &finding.one_line(&reference)).await
    }

    /// An event about a session's company.
    pub(super) fn company_event(
        &self,
        session: &Session,
        kind: &'static str,
        finding: &Finding,
        job: Option<&Job>,
    ) -> NewEvent {
        NewEvent {
            at: self.now(),
            company_id: Some(session.company_id),
            user_id: Some(session.user_id),
            job_id: job.map(|j| j.id),
            kind,
            code: Some(finding.code.clone()),
            message: match &finding.detail {
                Some(d) => format!("{}: {d}", finding.entry.title),
                None => finding.entry.title.clone(),
            },
        }
    }
}

/// The version to speak: what this call says the host supports (capped at
/// the newest qbwcd knows), else what the company reported before, else 13.0.
fn negotiated(major: i32, minor: i32, company_ceiling: Option<&str>) -> Version {
    if major > 0 {
        let v = Version::new(u16::try_from(major).unwrap_or(u16::MAX), u16::try_from(minor.max(0)).unwrap_or(0));
        return Version::negotiate(v);
    }
    company_ceiling.and_then(|c| Version::parse(c).ok()).map(Version::negotiate).unwrap_or(Version::new(13, 0))
}

/// Notes the job's time from enqueue to its answer for the metrics, when
/// the answer settled it (a read going back to the queue is not finished).
fn note_job_finished(job: &Job, state: JobState, now: chrono::DateTime<chrono::Utc>) {
    if matches!(state, JobState::Done | JobState::Failed | JobState::Unknown) {
        let elapsed = (now - job.created_at).to_std().unwrap_or_default();
        crate::metrics::note_job_finished(state.as_str(), elapsed);
    }
}
