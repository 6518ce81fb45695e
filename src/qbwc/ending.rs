//! `connectionError`, `getLastError` and `closeConnection`.

use tracing::Span;

use super::{record, record_session, Qbwc};
use crate::diagnostics::{classify_hresult, Finding};
use crate::types::TicketHash;

impl Qbwc {
    /// `connectionError`: QuickBooks could not be opened. Records the
    /// HRESULT with its diagnostic (against the company when the ticket is
    /// known), releases the session's leases, and answers `done`: qbwcd
    /// offers no other company file to try.
    pub(super) async fn connection_error(&self, ticket: &TicketHash, hresult: &str, message: &str) -> String {
        let now = self.now();
        let finding = classify_hresult(hresult, message);
        record(&Span::current(), "outcome", &finding.code);
        Self::warn_finding(&finding, "the Web Connector could not open QuickBooks");
        let session = match self.store.session(ticket).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "connectionError: the database failed");
                return "done".into();
            }
        };
        // An unknown ticket is no session of ours: anyone can send one, so
        // it leaves no row behind, only a count (`qbwcd_unknown_ticket_calls_total`).
        let Some(session) = session else {
            crate::metrics::note_unknown_ticket();
            return "done".into();
        };
        record_session(session.company_id, &session.username, ticket);
        let reference = self.event(self.company_event(&session, "connection.error", &finding, None)).await;
        let line = finding.one_line(&reference);
        let result = async {
            self.store.set_session_error(ticket, Some(&finding.code), &line).await?;
            self.store.close_session(ticket, now).await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "connectionError: could not end the session");
        }
        "done".into()
    }

    /// `getLastError`: the reason the session stopped, as one line a person
    /// can act on, with a reference to look up.
    pub(super) async fn last_error(&self, ticket: &TicketHash) -> String {
        match self.store.session(ticket).await {
            Ok(Some(s)) => {
                record_session(s.company_id, &s.username, ticket);
                let live = s.is_live(self.now());
                match s.last_error {
                    // NoOp keeps a session waiting: only ever for a live one.
                    Some(e) if e == "NoOp" && !live => Finding::from_code("session.unknown_ticket").one_line("none"),
                    Some(e) if !e.is_empty() => e,
                    _ => Finding::from_code("session.no_more_work").one_line("none"),
                }
            }
            Ok(None) => {
                record(&Span::current(), "outcome", "unknown_ticket");
                Finding::from_code("session.unknown_ticket").one_line("none")
            }
            Err(e) => {
                tracing::error!(error = %e, "getLastError: the database failed");
                Finding::from_code("server.database_unavailable").one_line("none")
            }
        }
    }

    /// `closeConnection`: ends the session (releasing any lease: an answer
    /// that never came is a lost answer) and sums it up.
    pub(super) async fn close(&self, ticket: &TicketHash) -> String {
        let now = self.now();
        match self.store.close_session(ticket, now).await {
            Ok(Some(s)) => {
                record_session(s.company_id, &s.username, ticket);
                record(&Span::current(), "outcome", "closed");
                tracing::info!(done = s.jobs_done, failed = s.jobs_failed, "session closed");
                summary(s.jobs_done, s.jobs_failed, s.first_problem.as_deref())
            }
            Ok(None) => "qbwcd: session ended.".into(),
            Err(e) => {
                tracing::error!(error = %e, "closeConnection: the database failed");
                "qbwcd: session ended; the server could not record it.".into()
            }
        }
    }
}

/// `"qbwcd: 3 requests done, 1 failed (qbxml.3100: see qbwcd explain qbxml.3100)."`
fn summary(done: i64, failed: i64, first_problem: Option<&str>) -> String {
    let plural = |n: i64| if n == 1 { "request" } else { "requests" };
    let mut s = format!("qbwcd: {done} {} done", plural(done));
    if failed > 0 {
        s.push_str(&format!(", {failed} failed"));
    }
    match first_problem {
        Some(code) => s.push_str(&format!(" (first problem {code}: see `qbwcd explain {code}`)")),
        None => s.push('.'),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn the_summary_counts_and_names_the_first_problem() {
        assert_eq!(summary(3, 0, None), "qbwcd: 3 requests done.");
        assert_eq!(
            summary(1, 1, Some("qbxml.3100")),
            "qbwcd: 1 request done, 1 failed (first problem qbxml.3100: see `qbwcd explain qbxml.3100`)"
        );
    }
}
