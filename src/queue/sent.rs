//! The message set a job is sent as: built by `sendRequestXML`, and
//! rebuilt by the same function for the job view, so what an operator
//! reads is what QuickBooks was sent without storing a copy per send.

use super::Job;
use crate::qbxml::{self, MessageSet, Version};

/// The qbXML document for `body` of `job` at `version`: the job's
/// `onError`, and for a write its `newMessageSetID` (with
/// `oldMessageSetID` = `old_message_set_id`, its user's last answered set,
/// when that is another one).
pub fn message_set_for(job: &Job, body: &str, version: Version, old_message_set_id: Option<&str>) -> String {
    let message_set = job
        .message_set_id
        .as_deref()
        .map(|id| MessageSet { new_id: id, old_id: old_message_set_id.filter(|old| *old != id) });
    qbxml::wrap(body, version, job.on_error(), message_set)
}

/// The version a job is sent at in a session that speaks `session_version`:
/// the one the job asked for, else the session's. (A job asking for more
/// than the session speaks is refused before sending.)
pub fn version_for(job: &Job, session_version: Version) -> Version {
    match job.qbxml_version.as_deref().map(Version::parse) {
        Some(Ok(asked)) if asked <= session_version => asked,
        _ => session_version,
    }
}

/// The job's message set as it was last sent, rebuilt from what is stored:
/// the submitted `…Rq` elements, the version (the job's, else that of the
/// session it was sent in, `session_version`), `onError` and the write's
/// `newMessageSetID` and `oldMessageSetID` (both recorded by its claim).
/// `None` when it was never sent or the session's version is not known.
/// Not reproduced: an iterator's continuation pages (shown as the request
/// that started it) and an error-recovery status check (the write itself
/// is shown).
pub fn last_sent(job: &Job, session_version: Option<&str>) -> Option<String> {
    job.sent_at?;
    let asked = job.qbxml_version.as_deref().and_then(|v| Version::parse(v).ok());
    let session = session_version.and_then(|v| Version::parse(v).ok());
    let version = match (asked, session) {
        (_, Some(s)) => version_for(job, s),
        (Some(a), None) => a,
        (None, None) => return None,
    };
    Some(message_set_for(job, &job.request, version, job.old_message_set_id.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{JobKind, JobState};
    use crate::types::JobId;

    fn job(version: Option<&str>, message_set_id: Option<&str>, sent: bool) -> Job {
        let now = chrono::Utc::now();
        Job {
            id: JobId::new(),
            seq: 1,
            company_id: 1,
            state: JobState::Done,
            kind: if message_set_id.is_some() { JobKind::Write } else { JobKind::Read },
            priority: 0,
            request: "<CustomerQueryRq/>".into(),
            qbxml_version: version.map(str::to_owned),
            on_error: "continueOnError".into(),
            request_names: "CustomerQueryRq".into(),
            attempt: u8::from(sent).into(),
            max_attempts: 3,
            ticket_hash: sent.then(|| "t".into()),
            lease_expires_at: None,
            response: None,
            statuses: Vec::new(),
            diagnostic: None,
            error: None,
            idempotency_key: None,
            webhook_url: None,
            hold_reason: None,
            iterates: false,
            iterator_id: None,
            message_set_id: message_set_id.map(str::to_owned),
            old_message_set_id: message_set_id.map(|_| "prev99".to_owned()),
            recovering: false,
            submission_hash: None,
            sent_by: None,
            created_at: now,
            updated_at: now,
            sent_at: sent.then_some(now),
            completed_at: None,
        }
    }

    #[test]
    fn the_last_sent_request_is_what_the_send_path_builds() {
        let j = job(None, Some("abc123"), true);
        let sent = last_sent(&j, Some("13.0")).unwrap();
        assert_eq!(sent, message_set_for(&j, &j.request, Version::new(13, 0), Some("prev99")));
        assert!(sent.contains("<?qbxml version=\"13.0\"?>") && sent.contains("newMessageSetID=\"abc123\""));
        assert!(sent.contains("oldMessageSetID=\"prev99\""));
        assert!(sent.contains("onError=\"continueOnError\""));
    }

    #[test]
    fn the_job_s_own_version_wins_and_unknown_versions_give_nothing() {
        let j = job(Some("8.0"), None, true);
        assert!(last_sent(&j, Some("13.0")).unwrap().contains("version=\"8.0\""));
        assert!(last_sent(&j, None).unwrap().contains("version=\"8.0\""));
        assert_eq!(last_sent(&job(None, None, true), None), None, "no version known");
        assert_eq!(last_sent(&job(None, None, false), Some("13.0")), None, "never sent");
    }
}
