//! `sendRequestXML`: check the company file on the first call, then settle
//! lost writes, continue an iterator, or claim the next job, and hand it to
//! the Web Connector wrapped for the version in use.

use chrono::Duration;
use tracing::Span;

use super::company_check::check_file;
use super::{record, record_job, record_session, Qbwc};
use crate::clip::{clip, CLIENT_TEXT_MAX};
use crate::diagnostics::Finding;
use crate::qbxml::{self, Version};
use crate::queue::{Completion, Job, JobState};
use crate::store::{CompanyFacts, NextJob, Session, StoreError};
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
        let now = self.now();
        let lease_until = self.lease_until(now);
        // A call without the HCP answer on a session that checked its file
        // already looks up what to send in the same round trip as the touch.
        let look = req.hcp_response.trim().is_empty();
        let Some(start) = self.store.start_send(ticket, look, now, self.idle_expiry(now), lease_until).await? else {
            self.session_not_live(ticket).await?;
            return Ok(String::new());
        };
        let session = start.session;
        record_session(session.company_id, &session.username, ticket);
        let first_call = !start.looked;
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
                    // What QuickBooks reported comes through the client: clipped
                    // like any client text before it is stored and shown.
                    qb_company_name: h.company_name.as_deref().map(|n| clip(n, CLIENT_TEXT_MAX)),
                    qb_product: h.product_name.as_deref().map(|n| clip(n, CLIENT_TEXT_MAX)),
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
        let next = match start.looked {
            true => start.next,
            false => self.store.next_job(session.company_id, ticket, now, lease_until).await?,
        };
        let mut claimed = match next {
            None => return self.nothing_to_send(ticket, &session, now).await,
            Some(NextJob::Claimed(job)) => Some(job),
            Some(NextJob::Recover(job)) => {
                record_job(job.id);
                if let Some(xml) = self.recovery_request(&job, version) {
                    return Ok(xml);
                }
                None
            }
            // An iterator this session started continues before anything
            // else: QuickBooks keeps the iterator only for this session.
            // At `iterator_max_pages` the iterator is stopped instead, so
            // QuickBooks releases it; its answer fails the job (receive).
            Some(NextJob::Continue(job)) => {
                record_job(job.id);
                let iterator = job.iterator_id.as_deref().unwrap_or_default();
                let stopping = self.iterator_at_limit(&job).await?;
                let body = match stopping {
                    true => qbxml::stop_iterator(&job.request, iterator),
                    false => qbxml::continue_iterator(&job.request, iterator),
                };
                match body.map_err(|e| Finding::from_code("server.internal").with_detail(e.to_string())) {
                    Ok(body) => {
                        if let Ok(xml) = self.request_for(&job, &body, version, None) {
                            record(&span, "outcome", if stopping { "stopped" } else { "continued" });
                            return Ok(xml);
                        }
                    }
                    Err(finding) => self.refuse_job(ticket, &session, &job, finding).await?,
                }
                // Writes whose answer was lost are settled before anything else.
                if let Some((job, xml)) = self.recovery_check(&session, ticket, version, now, lease_until).await? {
                    record_job(job.id);
                    return Ok(xml);
                }
                None
            }
        };
        for _ in 0..MAX_SKIPS {
            let job = match claimed.take() {
                Some(job) => job,
                None => match self.store.claim_next(session.company_id, ticket, now, lease_until).await? {
                    Some(job) => job,
                    None => return self.nothing_to_send(ticket, &session, now).await,
                },
            };
            record_job(job.id);
            // The claim recorded, on a write, its user's last answered set
            // (QuickBooks keeps recovery records per application).
            match self.request_for(&job, &job.request, version, job.old_message_set_id.as_deref()) {
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

    /// The qbXML for `body` of a job at the session's version, or why it
    /// cannot go. A write carries its message-set id for error recovery,
    /// and clears the record of its user's last answered set.
    fn request_for(
        &self,
        job: &Job,
        body: &str,
        session_version: Version,
        answered: Option<&str>,
    ) -> Result<String, Finding> {
        if let Some(Ok(asked)) = job.qbxml_version.as_deref().map(Version::parse) {
            if asked > session_version {
                return Err(Finding::from_code("version.qbxml_above_ceiling").with_detail(format!(
                    "the job asks for qbXML {asked}; this QuickBooks speaks up to {session_version}"
                )));
            }
        }
        let version = crate::queue::version_for(job, session_version);
        Ok(crate::queue::message_set_for(job, body, version, answered))
    }

    /// Whether the iterator `job` continues has fetched
    /// `iterator_max_pages` pages in this attempt (0: no limit).
    pub(super) async fn iterator_at_limit(&self, job: &Job) -> Result<bool, StoreError> {
        let cap = i64::from(self.settings.iterator_max_pages);
        Ok(cap > 0 && self.store.page_count(job.id, job.attempt).await? >= cap)
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
            self.store.complete_job(&lease, Completion::failed(JobState::Failed, &finding), self.now()).await?;
        }
        self.event(self.company_event(session, "job.failed", &finding, Some(job))).await;
        let _ = ticket;
        Ok(())
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
