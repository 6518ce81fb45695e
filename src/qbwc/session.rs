//! Helpers the exchange handlers share: the live session of a call, its
//! company, and the record of why a session stops.

use chrono::Duration;
use tracing::Span;

use super::{record, record_session, Qbwc};
use crate::diagnostics::Finding;
use crate::queue::Job;
use crate::store::{Company, NewEvent, Session, StoreError};
use crate::types::TicketHash;

impl Qbwc {
    /// Records, for a ticket whose session is not live, why the exchange
    /// ends (unknown ticket, or a session that ended).
    pub(super) async fn session_not_live(&self, ticket: &TicketHash) -> Result<(), StoreError> {
        let Some(session) = self.store.session(ticket).await? else {
            record(&Span::current(), "outcome", "unknown_ticket");
            return Ok(());
        };
        record_session(session.company_id, &session.username, ticket);
        record(&Span::current(), "outcome", "session_ended");
        Ok(())
    }

    /// The session's company; read only when a call needs it (the first
    /// call's file check, a version not given by QuickBooks, a write).
    pub(super) async fn company_of(&self, session: &Session) -> Result<Company, StoreError> {
        self.store
            .company_by_id(session.company_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("company {}", session.company_id)))
    }

    pub(super) fn lease_until(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + Duration::seconds(i64::try_from(self.settings.lease_seconds).unwrap_or(900))
    }

    /// Whether this session stays open when the queue is empty.
    pub(super) fn is_live_mode(&self) -> bool {
        self.settings.live_idle_seconds > 0
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
            address: session.remote_addr.clone(),
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
