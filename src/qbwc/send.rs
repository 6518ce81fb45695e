//! `sendRequestXML`: check the company file on the first call, then send
//! what [`ExchangeStore::next_job`](crate::store::ExchangeStore::next_job)
//! picks (a lost write's status check, an iterator's next page, or the head
//! of the queue), wrapped for the version in use.

use chrono::Duration;
use tracing::Span;

use super::company_check::check_file;
use super::{record, record_job, record_session, Qbwc};
use crate::clip::{clip, CLIENT_TEXT_MAX};
use crate::diagnostics::Finding;
use crate::qbxml::{self, Version};
use crate::queue::{Completion, Job, JobState};
use crate::store::{Company, CompanyFacts, NextJob, SendStart, Session, StoreError};
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

/// What the next job comes to on the wire.
enum Outgoing {
    /// The request to send.
    Send(String),
    /// It cannot go: the job fails with the finding, and the next is taken.
    Refuse(Finding),
    /// Nothing to send for it; the next is taken.
    Pass,
}

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

    /// Top to bottom: touch the session (and, on a later call, find the
    /// next job in the same round trip); on the first call check the
    /// company file and then find the next job; then send it, refusing jobs
    /// that cannot go (at most [`MAX_SKIPS`]) and taking the next.
    async fn try_send_request(&self, ticket: &TicketHash, req: SendRequest) -> Result<String, StoreError> {
        let now = self.now();
        let lease_until = self.lease_until(now);
        let hcp_given = !req.hcp_response.trim().is_empty();
        let start = self.store.start_send(ticket, hcp_given, now, self.idle_expiry(now), lease_until).await?;
        let (session, version, mut next) = match start {
            None => {
                self.session_not_live(ticket).await?;
                return Ok(String::new());
            }
            Some(SendStart::Ready { session, next }) => {
                record_session(session.company_id, &session.username, ticket);
                // The company's recorded ceiling matters only when QuickBooks
                // did not say which version it speaks.
                let ceiling = match req.major_version > 0 {
                    true => None,
                    false => self.company_of(&session).await?.qbxml_version,
                };
                let version = negotiated(req.major_version, req.minor_version, ceiling.as_deref());
                (session, version, next)
            }
            Some(SendStart::FirstCall(session)) => {
                record_session(session.company_id, &session.username, ticket);
                let company = self.company_of(&session).await?;
                let version = negotiated(req.major_version, req.minor_version, company.qbxml_version.as_deref());
                if !self.check_company_file(ticket, &session, &company, &req, version, now).await? {
                    record(&Span::current(), "outcome", "wrong_file");
                    return Ok(String::new());
                }
                let next = self.store.next_job(session.company_id, ticket, now, lease_until).await?;
                (session, version, next)
            }
        };
        for _ in 0..MAX_SKIPS {
            let Some(job) = next else {
                return self.nothing_to_send(ticket, &session, now).await;
            };
            match self.request_for_next(&job, version).await? {
                Outgoing::Send(xml) => return Ok(xml),
                Outgoing::Refuse(finding) => self.refuse_job(&session, leased(&job), finding).await?,
                Outgoing::Pass => {}
            }
            next = self.store.next_job(session.company_id, ticket, now, lease_until).await?;
        }
        Ok(String::new())
    }

    /// The first call's check of the company file QuickBooks opened (and
    /// the record of what its HCP answer says about it): `false` when the
    /// session must stop, with the reason recorded for getLastError.
    async fn check_company_file(
        &self,
        ticket: &TicketHash,
        session: &Session,
        company: &Company,
        req: &SendRequest,
        version: Version,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
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
            self.event(self.company_event(session, "company.check", w, None)).await;
        }
        let Some(stop) = verdict.stop else {
            return Ok(true);
        };
        Self::warn_finding(&stop, "company file check: nothing will be sent");
        self.stop_session(ticket, session, &stop, None).await?;
        Ok(false)
    }

    /// What `next` comes to on the wire: its request, or why it cannot go.
    async fn request_for_next(&self, next: &NextJob, version: Version) -> Result<Outgoing, StoreError> {
        let span = Span::current();
        Ok(match next {
            NextJob::Claimed(job) => {
                record_job(job.id);
                // The claim recorded, on a write, its user's last answered
                // set (QuickBooks keeps recovery records per application).
                match self.request_for(job, &job.request, version, job.old_message_set_id.as_deref()) {
                    Ok(xml) => {
                        record(&span, "outcome", "sent");
                        tracing::debug!(job.id = %job.id, request_bytes = xml.len(), qbxml.version = %version, "job sent");
                        Outgoing::Send(xml)
                    }
                    Err(finding) => Outgoing::Refuse(finding),
                }
            }
            // A lost write is settled before anything else is sent. The
            // claim picks only writes with a message-set id, so there is
            // always a check to send.
            NextJob::Recover(job) => {
                record_job(job.id);
                self.recovery_request(job, version).map_or(Outgoing::Pass, Outgoing::Send)
            }
            // An iterator this session started continues before anything
            // else: QuickBooks keeps the iterator only for this session.
            // At `iterator_max_pages` the iterator is stopped instead, so
            // QuickBooks releases it; its answer fails the job (receive).
            NextJob::Continue(job) => {
                record_job(job.id);
                let iterator = job.iterator_id.as_deref().unwrap_or_default();
                let stopping = self.iterator_at_limit(job).await?;
                let body = match stopping {
                    true => qbxml::stop_iterator(&job.request, iterator),
                    false => qbxml::continue_iterator(&job.request, iterator),
                };
                let body = body.map_err(|e| Finding::from_code("server.internal").with_detail(e.to_string()));
                match body.and_then(|body| self.request_for(job, &body, version, None)) {
                    Ok(xml) => {
                        record(&span, "outcome", if stopping { "stopped" } else { "continued" });
                        Outgoing::Send(xml)
                    }
                    Err(finding) => Outgoing::Refuse(finding),
                }
            }
        })
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
    /// and clears the record of its user's last answered set
    /// (`old_message_set_id`).
    fn request_for(
        &self,
        job: &Job,
        body: &str,
        session_version: Version,
        old_message_set_id: Option<&str>,
    ) -> Result<String, Finding> {
        if let Some(Ok(asked)) = job.qbxml_version.as_deref().map(Version::parse) {
            if asked > session_version {
                return Err(Finding::from_code("version.qbxml_above_ceiling").with_detail(format!(
                    "the job asks for qbXML {asked}; this QuickBooks speaks up to {session_version}"
                )));
            }
        }
        let version = crate::queue::version_for(job, session_version);
        Ok(crate::queue::message_set_for(job, body, version, old_message_set_id))
    }

    /// Whether the iterator `job` continues has fetched
    /// `iterator_max_pages` pages in this attempt (0: no limit).
    pub(super) async fn iterator_at_limit(&self, job: &Job) -> Result<bool, StoreError> {
        let cap = i64::from(self.settings.iterator_max_pages);
        Ok(cap > 0 && self.store.page_count(job.id, job.attempt).await? >= cap)
    }

    /// Fails a claimed job without sending it.
    async fn refuse_job(&self, session: &Session, job: &Job, finding: Finding) -> Result<(), StoreError> {
        Self::warn_finding(&finding, "job refused before sending");
        if let Some(lease) = job.lease() {
            self.store.complete_job(&lease, Completion::failed(JobState::Failed, &finding), self.now()).await?;
        }
        self.event(self.company_event(session, "job.failed", &finding, Some(job))).await;
        Ok(())
    }
}

/// The job `next` leased.
fn leased(next: &NextJob) -> &Job {
    match next {
        NextJob::Claimed(job) | NextJob::Recover(job) | NextJob::Continue(job) => job,
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
