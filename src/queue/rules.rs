use crate::diagnostics::{classify_hresult, classify_status, hresult_means_not_processed, Finding};
use crate::qbxml::ParsedResponse;

use super::{JobKind, JobState};

/// The state an answered job moves to, with the first problem found.
///
/// A job is `done` when no request failed; warnings (for example 500,
/// "not fully completed") and "no match" (1) are not failures.
pub fn outcome_of_answer(parsed: &ParsedResponse) -> (JobState, Option<Finding>) {
    match parsed.first_error() {
        Some(s) => {
            let finding = classify_status(s.status_code, &s.severity, &s.message);
            (JobState::Failed, finding)
        }
        None => (JobState::Done, None),
    }
}

/// The state a job moves to when `receiveResponseXML` carries an HRESULT
/// (QuickBooks' request processor threw instead of answering).
///
/// A read goes back to the queue while it has attempts left and the error
/// is transient. A write fails only when the HRESULT proves QuickBooks did
/// not process it (a parse error, say); otherwise it may have been applied
/// and becomes `unknown`, never resent blindly.
pub fn outcome_of_hresult(
    kind: JobKind,
    attempt: i32,
    max_attempts: i32,
    hresult: &str,
    message: &str,
) -> (JobState, Finding) {
    let finding = classify_hresult(hresult, message);
    let state = match kind {
        JobKind::Read if finding.is_transient() && attempt < max_attempts => JobState::Queued,
        JobKind::Read => JobState::Failed,
        JobKind::Write if hresult_means_not_processed(hresult) => JobState::Failed,
        JobKind::Write => JobState::Unknown,
    };
    (state, finding)
}

/// The percentage `receiveResponseXML` returns: 100 only when nothing is
/// left, otherwise 0–99 so the Web Connector asks for more.
pub fn progress(done_in_session: i64, remaining: i64) -> i32 {
    if remaining <= 0 {
        return 100;
    }
    let total = done_in_session.max(0) + remaining;
    let pct = done_in_session.max(0) * 100 / total;
    i32::try_from(pct.clamp(0, 99)).unwrap_or(99)
}

/// How far the store counts a company's queue on each answer (its
/// `queue_depth_at_most`): exact below this, estimated above.
pub const EXACT_REMAINING: i64 = 100;

/// Jobs left for a session's progress, from a count capped at
/// [`EXACT_REMAINING`]: exact when the count is below the cap; otherwise
/// what was waiting when the session opened less what it has finished
/// since (never below the capped count, since jobs may have been added).
pub fn remaining_estimate(capped_count: i64, queue_at_start: i64, finished_in_session: i64) -> i64 {
    if capped_count < EXACT_REMAINING {
        return capped_count;
    }
    capped_count.max(queue_at_start - finished_in_session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qbxml::parse_response;

    #[test]
    fn remaining_is_exact_near_the_end_and_estimated_from_the_start_before() {
        // Below the cap the count is the truth, whatever the session started with.
        assert_eq!(remaining_estimate(0, 5000, 10), 0);
        assert_eq!(remaining_estimate(42, 5000, 10), 42);
        // Above it: what was waiting less what was done, never below the count.
        assert_eq!(remaining_estimate(EXACT_REMAINING, 5000, 1000), 4000);
        assert_eq!(remaining_estimate(EXACT_REMAINING, 5000, 4990), EXACT_REMAINING);
        // Jobs added during the session: the count still bounds it below.
        assert_eq!(remaining_estimate(EXACT_REMAINING, 0, 7), EXACT_REMAINING);
        // The estimate never lets progress reach 100 while jobs remain.
        assert!(progress(4990, remaining_estimate(EXACT_REMAINING, 5000, 4990)) < 100);
    }

    #[test]
    fn progress_is_100_only_when_the_queue_is_empty() {
        assert_eq!(progress(3, 0), 100);
        assert_eq!(progress(0, 5), 0);
        assert_eq!(progress(1, 1), 50);
        assert_eq!(progress(999, 1), 99);
        assert_eq!(progress(0, 0), 100);
    }

    #[test]
    fn an_error_status_fails_the_job_and_a_warning_does_not() {
        let bad = parse_response("<QBXML><QBXMLMsgsRs><XAddRs statusCode=\"3100\" statusSeverity=\"Error\" statusMessage=\"in use\"/></QBXMLMsgsRs></QBXML>").unwrap();
        let (state, finding) = outcome_of_answer(&bad);
        assert_eq!(state, JobState::Failed);
        assert_eq!(finding.map(|f| f.code), Some("qbxml.3100".to_owned()));
        let warn = parse_response(
            "<QBXML><QBXMLMsgsRs><XQueryRs statusCode=\"500\" statusSeverity=\"Warn\"/></QBXMLMsgsRs></QBXML>",
        )
        .unwrap();
        assert_eq!(outcome_of_answer(&warn).0, JobState::Done);
    }

    #[test]
    fn a_write_is_failed_only_when_quickbooks_provably_did_not_process_it() {
        let (s, _) = outcome_of_hresult(JobKind::Write, 1, 3, "0x80040400", "parse error");
        assert_eq!(s, JobState::Failed);
        let (s, _) = outcome_of_hresult(JobKind::Write, 1, 3, "0x80040402", "Unexpected error");
        assert_eq!(s, JobState::Unknown);
    }

    #[test]
    fn a_read_is_retried_on_a_transient_hresult_while_attempts_remain() {
        assert_eq!(outcome_of_hresult(JobKind::Read, 1, 3, "0x80040414", "modal").0, JobState::Queued);
        assert_eq!(outcome_of_hresult(JobKind::Read, 3, 3, "0x80040414", "modal").0, JobState::Failed);
        assert_eq!(outcome_of_hresult(JobKind::Read, 1, 3, "0x80040400", "parse").0, JobState::Failed);
    }
}
