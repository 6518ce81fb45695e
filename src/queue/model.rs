use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diagnostics::Finding;
use crate::qbxml::{OnError, RequestStatus, Version};
use crate::types::{JobId, TicketHash};

/// Where a job is in its life.
///
/// `queued → sent → done | failed | unknown`, plus `cancelled` and `held`
/// (waiting on dependencies or an operator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the company's next session.
    Queued,
    /// Handed to a Web Connector; leased to its ticket.
    Sent,
    /// Answered without errors.
    Done,
    /// Answered with an error, refused, or out of attempts.
    Failed,
    /// A write whose answer was lost: it may or may not have been applied.
    Unknown,
    /// Cancelled by an operator or application.
    Cancelled,
    /// Waiting for its dependencies (or an operator).
    Held,
}

impl JobState {
    /// Every state, for help texts and validation.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Sent,
        JobState::Done,
        JobState::Failed,
        JobState::Unknown,
        JobState::Cancelled,
        JobState::Held,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Sent => "sent",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Unknown => "unknown",
            JobState::Cancelled => "cancelled",
            JobState::Held => "held",
        }
    }

    /// Whether the job will not change again by itself.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Cancelled)
    }

    /// Whether the job is settled for whoever waits on it: final, or
    /// `unknown` (it will not move until error recovery or a person settles
    /// it). Long-polls stop, webhooks fire and waiters are woken on it.
    pub fn is_settled(self) -> bool {
        self.is_final() || self == JobState::Unknown
    }

    /// Whether an operator may queue the job again: it failed or was
    /// cancelled.
    pub fn can_retry(self) -> bool {
        matches!(self, JobState::Failed | JobState::Cancelled)
    }

    /// Whether an operator may cancel the job: it has not been sent.
    pub fn can_cancel(self) -> bool {
        matches!(self, JobState::Queued | JobState::Held)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad, not write_str: table columns use width and alignment.
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            format!("unknown job state {s:?}; expected one of queued, sent, done, failed, unknown, cancelled, held")
        })
    }
}

impl TryFrom<String> for JobState {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Whether a job only reads (may be sent again) or writes (never resent blindly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Every request is a `…QueryRq`.
    Read,
    /// At least one request adds, modifies, deletes or voids.
    Write,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Read => "read",
            JobKind::Write => "write",
        }
    }
}

impl TryFrom<String> for JobKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "read" => Ok(JobKind::Read),
            "write" => Ok(JobKind::Write),
            _ => Err(format!("unknown job kind {s:?}")),
        }
    }
}

/// A job to enqueue, already validated.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Its id, chosen by the caller so it can be logged before the insert.
    pub id: JobId,
    /// The company whose queue it joins.
    pub company_id: i64,
    /// The `…Rq` elements, verbatim.
    pub request: String,
    /// The version the submitter asked for, if any.
    pub qbxml_version: Option<Version>,
    /// `onError` for the message set.
    pub on_error: OnError,
    /// Request element names, comma separated, for listings.
    pub request_names: Vec<String>,
    /// Read or write.
    pub kind: JobKind,
    /// Higher runs first.
    pub priority: i32,
    /// How many times a read may be sent before it fails.
    pub max_attempts: i32,
    /// Unique per company: a repeat returns the existing job.
    pub idempotency_key: Option<String>,
    /// With a key: the hash of what was asked for, so a reuse of the key
    /// with another body can be told apart.
    pub submission_hash: Option<String>,
    /// Jobs (of the same company) that must be `done` first.
    pub depends_on: Vec<JobId>,
    /// Where to POST the final state.
    pub webhook_url: Option<String>,
    /// Whether its (single) query starts an iterator.
    pub iterates: bool,
    /// Enqueue time.
    pub now: DateTime<Utc>,
}

/// The outcome of an enqueue.
#[derive(Clone, Debug)]
pub enum Enqueued {
    /// A new job.
    Created(Job),
    /// The idempotency key was seen before: the earlier job.
    Existing(Job),
}

impl Enqueued {
    /// The job, new or old.
    pub fn job(&self) -> &Job {
        match self {
            Enqueued::Created(j) | Enqueued::Existing(j) => j,
        }
    }
}

/// A stored job.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Order of arrival (FIFO within a priority).
    pub seq: i64,
    /// Owning company.
    pub company_id: i64,
    /// State.
    pub state: JobState,
    /// Read or write.
    pub kind: JobKind,
    /// Priority; higher first.
    pub priority: i32,
    /// The `…Rq` elements as submitted.
    #[serde(skip)]
    pub request: String,
    /// Version asked for by the submitter.
    pub qbxml_version: Option<String>,
    /// `onError`.
    pub on_error: String,
    /// Request element names, comma separated.
    pub request_names: String,
    /// Times sent.
    pub attempt: i32,
    /// Send budget for reads.
    pub max_attempts: i32,
    /// Hash of the ticket holding (or last holding) the lease.
    #[serde(skip)]
    pub ticket_hash: Option<String>,
    /// When the lease runs out.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// QuickBooks' answer, verbatim.
    #[serde(skip)]
    pub response: Option<String>,
    /// The parsed status of each request.
    pub statuses: Vec<RequestStatus>,
    /// Diagnostic code when something went wrong.
    pub diagnostic: Option<String>,
    /// A one-line description of what went wrong.
    pub error: Option<String>,
    /// The submitter's idempotency key.
    pub idempotency_key: Option<String>,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Why a held job waits: `dependencies` or `operator`.
    pub hold_reason: Option<String>,
    /// Whether its query starts an iterator (answers come in pages).
    pub iterates: bool,
    /// The iterator being continued in the current session, if any.
    #[serde(skip)]
    pub iterator_id: Option<String>,
    /// `newMessageSetID` of the last send of a write (error recovery).
    pub message_set_id: Option<String>,
    /// `oldMessageSetID` that send carried: the company's last answered
    /// set when the write was claimed (none when it had none).
    pub old_message_set_id: Option<String>,
    /// Whether what is out is an error-recovery status check, not the job.
    pub recovering: bool,
    /// SHA-256 of what an idempotent submission asked for (computed when
    /// it is submitted); `None` without a key.
    #[serde(skip)]
    pub submission_hash: Option<String>,
    /// The user (Web Connector application) whose session was sent the
    /// last attempt: only its connector can check a lost write's outcome.
    pub sent_by: Option<i64>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Last state change.
    pub updated_at: DateTime<Utc>,
    /// Last sent at.
    pub sent_at: Option<DateTime<Utc>>,
    /// Reached a final state at.
    pub completed_at: Option<DateTime<Utc>>,
}

impl Job {
    /// Whether the job waits for a person's verdict on a lost write: unknown,
    /// or held for an operator (`jobs resolve`, the console's settle page).
    pub fn awaits_verdict(&self) -> bool {
        self.state == JobState::Unknown
            || (self.state == JobState::Held && self.hold_reason.as_deref() == Some("operator"))
    }

    /// The lease this job is under, if it was ever sent.
    pub fn lease(&self) -> Option<Lease> {
        self.ticket_hash.as_ref().map(|t| Lease {
            job_id: self.id,
            attempt: self.attempt,
            ticket_hash: TicketHash(t.clone()),
        })
    }

    /// Parsed `onError` (stored values are always valid).
    pub fn on_error(&self) -> OnError {
        OnError::parse(&self.on_error).unwrap_or_default()
    }
}

/// The fence a completion must match: job, attempt and ticket. A stale
/// answer (after the job was claimed again) matches nothing and is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// The attempt the answer belongs to.
    pub attempt: i32,
    /// The ticket that was sent the job.
    pub ticket_hash: TicketHash,
}

/// How an answered (or abandoned) job ends.
#[derive(Clone, Debug)]
pub struct Completion {
    /// `done`, `failed`, `unknown` or `queued` (a read to try again).
    pub state: JobState,
    /// QuickBooks' answer, if there was one.
    pub response: Option<String>,
    /// Parsed statuses.
    pub statuses: Vec<RequestStatus>,
    /// Diagnostic code.
    pub diagnostic: Option<String>,
    /// One line for people.
    pub error: Option<String>,
}

impl Completion {
    /// The job ends in `state` (failed, unknown, held, or queued again for
    /// a read) for the reason `finding` gives, with no answer kept: the
    /// finding's code is the diagnostic, its detail (else its title) the
    /// error line.
    pub fn failed(state: JobState, finding: &Finding) -> Completion {
        Completion {
            state,
            response: None,
            statuses: Vec::new(),
            diagnostic: Some(finding.code.clone()),
            error: Some(finding.detail_or_title()),
        }
    }

    /// QuickBooks' answer (`response`, when it is kept, and its statuses)
    /// gave the job `state`, failing it for `finding` if there is one.
    pub fn of_answer(
        state: JobState,
        finding: Option<&Finding>,
        response: Option<String>,
        statuses: Vec<RequestStatus>,
    ) -> Completion {
        Completion {
            state,
            response,
            statuses,
            diagnostic: finding.map(|f| f.code.clone()),
            error: finding.map(Finding::detail_or_title),
        }
    }

    /// The same completion, keeping `response` as the job's answer.
    pub fn with_response(mut self, response: String) -> Completion {
        self.response = Some(response);
        self
    }

    /// The same completion with the statuses of QuickBooks' answer.
    pub fn with_statuses(mut self, statuses: Vec<RequestStatus>) -> Completion {
        self.statuses = statuses;
        self
    }
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Only this company.
    pub company_id: Option<i64>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only jobs older than this sequence number (stable paging, newest first).
    pub before_seq: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

/// An opaque position in a newest-first job listing: the `next_cursor` of
/// one page, passed as `before` to get the next. Its text is not a promise
/// (clients pass it back as it is); today it wraps the last job's arrival
/// number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobCursor(pub i64);

impl JobCursor {
    const PREFIX: &'static str = "j1.";

    /// The cursor after the last job of a full page.
    pub fn after(job: &Job) -> Self {
        JobCursor(job.seq)
    }

    /// Parses a cursor this server handed out.
    ///
    /// # Errors
    /// A message naming the text when it is not one.
    pub fn parse(s: &str) -> Result<Self, String> {
        use base64::Engine as _;
        let bad = || format!("cursor {s:?} is not one qbwcd handed out (pass next_cursor as it is)");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let seq = text.strip_prefix(Self::PREFIX).and_then(|n| n.parse::<i64>().ok()).ok_or_else(bad)?;
        if seq <= 0 {
            return Err(bad());
        }
        Ok(JobCursor(seq))
    }
}

impl fmt::Display for JobCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine as _;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}{}", Self::PREFIX, self.0)))
    }
}

/// One page of an iterator query's answer.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    /// The attempt it belongs to (a broken iterator restarts as a new attempt).
    pub attempt: i32,
    /// 1, 2, 3 … in the order QuickBooks sent them.
    pub page: i32,
    /// QuickBooks' answer for this page, verbatim.
    pub response: String,
    /// The parsed statuses of this page.
    pub statuses: Vec<RequestStatus>,
    /// When it arrived.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::JobCursor;

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_refused() {
        let c = JobCursor(42);
        assert_eq!(JobCursor::parse(&c.to_string()), Ok(c));
        for bad in ["42", "", "zz", "ajEuLTE", "!!"] {
            assert!(JobCursor::parse(bad).is_err(), "{bad}");
        }
    }
}
