//! The Web Connector protocol: one handler per SOAP method, and the session
//! rules between them. Every answer is in-band — a SOAP fault makes the Web
//! Connector retry forever — so database trouble becomes `busy`, an empty
//! request or a negative percentage, and the reason goes to the logs.

mod authenticate;
mod company_check;
mod ending;
mod receive;
mod recovery;
mod send;
mod session;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{field, Span};

use crate::auth::Verifier;
use crate::clip::{clip, CLIENT_TEXT_MAX};
use crate::clock::Clock;
use crate::config::Settings;
use crate::diagnostics::Finding;
use crate::soap::{Call, Reply};
use crate::store::{NewEvent, Store};
use crate::types::{EventId, JobId, TicketHash};

/// What the handlers need to know about the HTTP request.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    /// The client's address: the peer's, or behind a trusted proxy the one
    /// it forwarded (see `trusted_proxies`).
    pub remote_addr: Option<String>,
}

/// The longest HRESULT kept: real ones are at most 11 characters
/// (`-2147220448`); anything longer is not one, and becomes a diagnostic
/// code, a span field and an event column.
const HRESULT_MAX: usize = 64;

/// The longest event message stored. Every client-supplied part of it is
/// already clipped to [`CLIENT_TEXT_MAX`]; this bounds the sum, whatever
/// a future message is made of.
const EVENT_MESSAGE_MAX: usize = 4 * CLIENT_TEXT_MAX;

/// The protocol service. Cheap to clone.
#[derive(Clone)]
pub struct Qbwc {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    verifier: Verifier,
}

impl Qbwc {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Arc<Settings>, verifier: Verifier) -> Self {
        Qbwc { store, clock, settings, verifier }
    }

    /// The bounded password queue, which the console's logins share.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Answers one call. Never fails: every problem has an in-band answer.
    pub async fn handle(&self, call: Call, ctx: &CallContext) -> Reply {
        match call {
            Call::ServerVersion => Reply::ServerVersion(server_version()),
            Call::GetServerVersion { .. } => Reply::GetServerVersion(server_version()),
            Call::ClientVersion { version } => Reply::ClientVersion(self.client_version(&version)),
            Call::Authenticate { username, password } => {
                Reply::Authenticate(self.authenticate(&username, password, ctx).await)
            }
            Call::SendRequestXml { ticket, hcp_response, company_file_name, major_version, minor_version, .. } => {
                let company_file_name = clip(&company_file_name, CLIENT_TEXT_MAX);
                let req = send::SendRequest { hcp_response, company_file_name, major_version, minor_version };
                Reply::SendRequestXml(self.send_request(&ticket.hash(), req).await)
            }
            // The HRESULT and message are the client's word: clipped before
            // they can reach an event, a log line or a session's last error
            // (trimmed first, so a blank HRESULT stays blank).
            Call::ReceiveResponseXml { ticket, response, hresult, message } => {
                let (hresult, message) = (clip(hresult.trim(), HRESULT_MAX), clip(message.trim(), CLIENT_TEXT_MAX));
                Reply::ReceiveResponseXml(self.receive_response(&ticket.hash(), response, &hresult, &message).await)
            }
            Call::ConnectionError { ticket, hresult, message } => {
                let (hresult, message) = (clip(hresult.trim(), HRESULT_MAX), clip(message.trim(), CLIENT_TEXT_MAX));
                Reply::ConnectionError(self.connection_error(&ticket.hash(), &hresult, &message).await)
            }
            Call::GetLastError { ticket } => Reply::GetLastError(self.last_error(&ticket.hash()).await),
            Call::CloseConnection { ticket } => Reply::CloseConnection(self.close(&ticket.hash()).await),
            // qbwcd has no interactive pages: it never answers "Interactive
            // mode", so these arrive only from a confused client. Answer
            // in-band without opening anything.
            Call::GetInteractiveUrl { .. } => Reply::GetInteractiveUrl(String::new()),
            Call::InteractiveDone { .. } => Reply::InteractiveDone("Done".into()),
            Call::InteractiveRejected { .. } => {
                Reply::InteractiveRejected("qbwcd does not use interactive mode; nothing to do.".into())
            }
        }
    }

    /// `clientVersion`: empty to continue, or `E:` when the Web Connector
    /// is older than `min_client_version`.
    fn client_version(&self, version: &str) -> String {
        let min = self.settings.min_client_version.trim();
        if min.is_empty() || version_at_least(version, min) {
            return String::new();
        }
        record(&Span::current(), "outcome", "client_too_old");
        format!(
            "E:This server needs QuickBooks Web Connector {min} or later; this one is {version}. \
             Install the current Web Connector from Intuit, then run Update Selected again."
        )
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn idle_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::seconds(i64::try_from(self.settings.session_idle_seconds).unwrap_or(900))
    }

    /// Records an event and returns its id as the reference people quote.
    /// A failure to record is logged, never fatal: the answer matters more.
    async fn event(&self, mut e: NewEvent) -> String {
        if e.message.chars().count() > EVENT_MESSAGE_MAX {
            e.message = clip(&e.message, EVENT_MESSAGE_MAX);
        }
        if let Some(code) = e.code.as_mut().filter(|c| c.chars().count() > HRESULT_MAX) {
            *code = clip(code, HRESULT_MAX);
        }
        match self.store.record_event(e).await {
            Ok(id) => EventId(id).reference(),
            Err(err) => {
                tracing::error!(error = %err, "could not record an event");
                "none".into()
            }
        }
    }

    /// Logs a diagnostic as a `warn` event with its code.
    fn warn_finding(finding: &Finding, what: &str) {
        tracing::warn!(diagnostic = %finding.code, title = %finding.entry.title, "{what}");
    }
}

/// A short server identification for `serverVersion`.
pub fn server_version() -> String {
    format!("qbwcd {}", env!("CARGO_PKG_VERSION"))
}

/// Dotted-number comparison (`2.1.0.30` ≥ `2.0`); unparsable parts count as 0.
fn version_at_least(have: &str, want: &str) -> bool {
    let parts = |s: &str| s.trim().split('.').map(|p| p.trim().parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    let (mut a, mut b) = (parts(have), parts(want));
    let n = a.len().max(b.len());
    a.resize(n, 0);
    b.resize(n, 0);
    a >= b
}

/// Records a span field if the span has it. Values may come from the
/// client (a user name), so they are escaped and clipped here, once for
/// every field.
fn record(span: &Span, field_name: &str, value: impl std::fmt::Display) {
    let text = crate::clip::clip(&value.to_string(), crate::clip::CLIENT_TEXT_MAX);
    if field_name == "outcome" {
        crate::metrics::note_outcome(&text);
    }
    span.record(field_name, field::display(text));
}

/// Records the job id on the current span.
fn record_job(job: JobId) {
    record(&Span::current(), "job.id", job);
}

/// Records the session's company and user on the current span.
fn record_session(company_id: i64, username: &str, ticket: &TicketHash) {
    let span = Span::current();
    record(&span, "company.id", company_id);
    record(&span, "user", username);
    record(&span, "qbwc.ticket", ticket.short());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_versions_compare_numerically() {
        assert!(version_at_least("2.3.0.36", "2.1.0.30"));
        assert!(version_at_least("2.1", "2.1.0.0"));
        assert!(!version_at_least("2.0.0.116", "2.1"));
        assert!(version_at_least("10.0", "9.9"));
    }
}
