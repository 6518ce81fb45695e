//! Rows the store reads and writes, apart from jobs (see `queue`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::types::{CompanySlug, JobId, Role, TicketHash, Username};

/// One QuickBooks company file.
#[derive(Clone, Debug, Serialize)]
pub struct Company {
    /// Row id.
    pub id: i64,
    /// Stable name used in URLs and the CLI.
    pub slug: CompanySlug,
    /// Display name.
    pub name: String,
    /// Registered company file path; `None` = whatever file is open.
    pub file_path: Option<String>,
    /// The `FileID` GUID in every user's `.qwc`, stamped into the file.
    pub file_id: Uuid,
    /// Highest qbXML version QuickBooks reported.
    pub qbxml_version: Option<String>,
    /// Company name QuickBooks reported.
    pub qb_company_name: Option<String>,
    /// QuickBooks product QuickBooks reported.
    pub qb_product: Option<String>,
    /// Last time a Web Connector of this company authenticated.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When it was disabled; `None` while enabled. A disabled company's
    /// Web Connector users are refused at `authenticate`.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// What removing a company or a user took with it.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Removed {
    /// Web Connector users removed.
    pub users: u64,
    /// Sessions removed (open ones ended first).
    pub sessions: u64,
    /// Finished jobs removed (with their pages, dependencies and webhook deliveries).
    pub jobs: u64,
    /// Jobs whose leases were released (a read back to the queue, a write to `unknown`).
    pub leases_released: u64,
    /// Events removed.
    pub events: u64,
    /// Writes whose answer was lost, held for a person: only the removed
    /// user's Web Connector could have asked QuickBooks whether they were
    /// applied (QuickBooks keeps recovery records per application).
    pub writes_held: u64,
}

/// Jobs that keep a company from being removed: work someone still
/// expects (queued, sent, unknown or held).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OpenWork {
    /// Queued.
    pub queued: i64,
    /// Sent, awaiting an answer.
    pub sent: i64,
    /// Writes whose answer was lost.
    pub unknown: i64,
    /// Waiting on dependencies or an operator.
    pub held: i64,
    /// Live API tokens limited to this company: removed, its row id could
    /// be given to a later company (SQLite reuses the highest), which they
    /// would then see. Revoke them first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limited_tokens: Vec<String>,
}

impl OpenWork {
    /// No open work.
    pub fn is_empty(&self) -> bool {
        self.queued + self.sent + self.unknown + self.held == 0 && self.limited_tokens.is_empty()
    }
}

impl std::fmt::Display for OpenWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} queued, {} sent, {} unknown, {} held", self.queued, self.sent, self.unknown, self.held)?;
        if !self.limited_tokens.is_empty() {
            write!(f, "; API tokens limited to it: {}", self.limited_tokens.join(", "))?;
        }
        Ok(())
    }
}

/// What [`AccountStore::update_company`](super::AccountStore::update_company)
/// changes: `None` leaves a field as it is; `Some(None)` clears the file
/// path or the webhook.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompanyChanges<'a> {
    /// A new display name.
    pub name: Option<&'a str>,
    /// A new company file path, or none (the file open in QuickBooks).
    pub file_path: Option<Option<&'a str>>,
    /// A new webhook URL, or none.
    pub webhook_url: Option<Option<&'a str>>,
    /// Enabled or disabled (as
    /// [`AccountStore::set_company_enabled`](super::AccountStore::set_company_enabled)).
    pub enabled: Option<bool>,
}

/// A company to add.
#[derive(Clone, Debug)]
pub struct NewCompany {
    /// Slug.
    pub slug: CompanySlug,
    /// Display name.
    pub name: String,
    /// Registered file path.
    pub file_path: Option<String>,
    /// `FileID`.
    pub file_id: Uuid,
    /// The default webhook for its jobs, stored with the company in one
    /// statement.
    pub webhook_url: Option<String>,
}

/// What the HCP told about a company file.
#[derive(Clone, Debug, Default)]
pub struct CompanyFacts {
    /// Highest qbXML version.
    pub qbxml_version: Option<String>,
    /// `CompanyName`.
    pub qb_company_name: Option<String>,
    /// `ProductName`.
    pub qb_product: Option<String>,
}

/// A Web Connector login.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// `strUserName`.
    pub username: Username,
    /// The one company this user serves.
    pub company_id: i64,
    /// That company's slug.
    pub company_slug: CompanySlug,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Disabled users cannot log in.
    pub enabled: bool,
    /// This user's application `OwnerID`.
    pub owner_id: Uuid,
    /// Last successful authentication.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// This user's own poll interval in minutes (`.qwc` `<Scheduler>`);
    /// `None` = the `[qwc]` setting.
    pub run_every_minutes: Option<i32>,
    /// This user's own poll interval in seconds; `None` = the `[qwc]` setting.
    pub run_every_seconds: Option<i32>,
    /// Whether its company is disabled (then it is refused at `authenticate`).
    pub company_disabled: bool,
    /// The last message set QuickBooks answered for this user's
    /// application (QuickBooks keeps recovery records per application);
    /// the claim of its next write reads it as that write's `oldMessageSetID`.
    #[serde(skip)]
    pub last_message_set_id: Option<String>,
}

/// A user to add.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Name.
    pub username: Username,
    /// Company.
    pub company_id: i64,
    /// argon2id PHC string.
    pub password_hash: String,
    /// `OwnerID`.
    pub owner_id: Uuid,
}

/// One Web Connector run.
#[derive(Clone, Debug, Serialize)]
pub struct Session {
    /// Hash of the ticket.
    pub ticket_hash: TicketHash,
    /// User.
    pub user_id: i64,
    /// User name.
    pub username: String,
    /// Company.
    pub company_id: i64,
    /// `open`, `closed` or `expired`.
    pub state: String,
    /// Peer address.
    pub remote_addr: Option<String>,
    /// `strCompanyFileName` of the first `sendRequestXML`.
    pub company_file_name: Option<String>,
    /// qbXML version in use.
    pub qbxml_version: Option<String>,
    /// Jobs done in this session.
    pub jobs_done: i64,
    /// Jobs failed in this session.
    pub jobs_failed: i64,
    /// Diagnostic code of the first problem.
    pub first_problem: Option<String>,
    /// What `getLastError` answers.
    pub last_error: Option<String>,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// Last call.
    pub last_seen_at: DateTime<Utc>,
    /// Idle expiry.
    pub expires_at: DateTime<Utc>,
    /// When a job was last answered (or the session opened).
    pub last_work_at: Option<DateTime<Utc>>,
    /// Jobs waiting when the session opened (for its progress estimate).
    pub queue_at_start: i64,
}

impl Session {
    /// Open and not idle past its expiry.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state == "open" && self.expires_at > now
    }
}

/// A session to open.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Hash of the new ticket.
    pub ticket_hash: TicketHash,
    /// User.
    pub user_id: i64,
    /// Company.
    pub company_id: i64,
    /// Peer address.
    pub remote_addr: Option<String>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Idle expiry.
    pub expires_at: DateTime<Utc>,
    /// Jobs waiting as it opens.
    pub queue_at_start: i64,
}

/// The result of [`super::SessionStore::open_session`].
#[derive(Clone, Debug)]
pub enum SessionOpen {
    /// The session is open.
    Opened {
        /// An open session of the same user that was ended (its answer lost).
        replaced: Option<TicketHash>,
    },
    /// Another live session holds the company.
    Busy {
        /// The holder's user name.
        holder: String,
        /// The holder's address.
        holder_addr: Option<String>,
        /// When the holder's session expires if it goes quiet.
        expires_at: DateTime<Utc>,
    },
}

/// What [`super::SessionStore::recover_expired`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Sessions expired.
    pub sessions: u64,
    /// Leases released.
    pub leases: u64,
}

/// An append-only record of something that happened.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Id; also the reference shown to people.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Company, if known.
    pub company_id: Option<i64>,
    /// The company's slug, while the company exists.
    pub company_slug: Option<String>,
    /// User, if known.
    pub user_id: Option<i64>,
    /// The user's name, while the user exists.
    pub username: Option<String>,
    /// The peer's address (the Web Connector's, a browser's), where one
    /// was involved.
    pub address: Option<String>,
    /// Job, if any.
    pub job_id: Option<Uuid>,
    /// What kind (`auth.failed`, `session.opened`, `job.failed`, …).
    pub kind: String,
    /// Diagnostic code, if any.
    pub code: Option<String>,
    /// One line.
    pub message: String,
}

/// Which events to read, newest first.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only this company's.
    pub company_id: Option<i64>,
    /// Only this kind (`auth.failed`, …).
    pub kind: Option<String>,
    /// Only those at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only those older than this event (the cursor of the next page).
    pub before: Option<crate::types::EventId>,
    /// At most this many.
    pub limit: i64,
}

impl EventFilter {
    /// The largest page people and clients may ask for.
    pub const MAX_PAGE: i64 = 500;
    /// The page size when none is asked for.
    pub const DEFAULT_PAGE: i64 = 50;
}

/// An event to record.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Company.
    pub company_id: Option<i64>,
    /// User.
    pub user_id: Option<i64>,
    /// The peer's address, where one was involved.
    pub address: Option<String>,
    /// Job.
    pub job_id: Option<JobId>,
    /// Kind.
    pub kind: &'static str,
    /// Diagnostic code.
    pub code: Option<String>,
    /// One line; never a secret or a qbXML body.
    pub message: String,
}

/// An API bearer token (its hash stays in the database).
#[derive(Clone, Debug, Serialize)]
pub struct ApiToken {
    /// Row id.
    pub id: i64,
    /// A name people recognise (`billing-app`).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The companies (row ids) it may see; `None` = every company.
    pub company_ids: Option<Vec<i64>>,
    /// Refused from then on; `None` = never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last accepted.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked at; a revoked token is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A token to add (only its hash).
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Its name, unique.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// What it may do.
    pub role: Role,
    /// The companies it may see; `None` = every company.
    pub company_ids: Option<Vec<i64>>,
    /// When it stops working; `None` = never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// One webhook event in the outbox and how its delivery went.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookDelivery {
    /// Row id.
    pub id: i64,
    /// The event's id, stable across retries (`X-Qbwcd-Event-Id`).
    pub event_id: String,
    /// The job.
    pub job_id: JobId,
    /// The state the job reached.
    pub job_state: String,
    /// Where it is POSTed.
    pub url: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// HTTP status of the last attempt, if one came back.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the job reached the state.
    pub occurred_at: DateTime<Utc>,
    /// When the next attempt is due (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// When a receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The outcome of one delivery attempt.
#[derive(Clone, Debug)]
pub struct WebhookAttempt {
    /// `pending` (retry at `next_attempt_at`), `delivered` or `failed`.
    pub state: &'static str,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// What went wrong (never a secret or a body).
    pub error: Option<String>,
    /// When to try again.
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A problem of a company behind its health view: one diagnostic code that
/// keeps happening, until it is cleared (see [`super::EventStore`]).
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// Row id.
    pub id: i64,
    /// Company.
    pub company_id: i64,
    /// Diagnostic code (`0x80040420`, `company.unc_path`, …).
    pub code: String,
    /// First event with this code since it was last cleared.
    pub first_seen: DateTime<Utc>,
    /// Latest event with this code.
    pub last_seen: DateTime<Utc>,
    /// Events with this code since it was last cleared.
    pub count: i64,
    /// When it was resolved; `None` while open.
    pub cleared_at: Option<DateTime<Utc>>,
    /// The latest event's message (what QuickBooks said, which file, …).
    pub last_detail: String,
    /// The latest event's id: the reference people quote (`E<id>`).
    pub last_event_id: i64,
}

/// A signed onboarding link as the database keeps it (never the token).
#[derive(Clone, Debug, Serialize)]
pub struct QwcLink {
    /// The link's random nonce, from its signed claims.
    pub nonce: String,
    /// The user whose `.qwc` it downloads.
    pub username: String,
    /// Whether the link page sets a new password on first use.
    pub reset_password: bool,
    /// Downloads so far.
    pub uses: i32,
    /// Downloads allowed.
    pub max_uses: i32,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last download.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the password was reset through it, if it was.
    pub password_reset_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was: then it is refused like an expired one.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// How failed logins turn into a lockout: from `threshold` failures within
/// the window on, locked for `base_seconds` × 2^(failures − threshold),
/// at most `max_seconds`. A threshold of 0 never locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutRule {
    /// Failures before the first lockout; 0 = never.
    pub threshold: i32,
    /// The first lockout, in seconds.
    pub base_seconds: i64,
    /// The longest lockout, in seconds.
    pub max_seconds: i64,
}

impl LockoutRule {
    /// Until when `failures` failures (this one included) lock, if at all.
    pub fn until(&self, failures: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.threshold <= 0 || failures < self.threshold {
            return None;
        }
        let doublings = u32::try_from(failures - self.threshold).unwrap_or(0).min(30);
        let secs = self.base_seconds.saturating_mul(1i64 << doublings).min(self.max_seconds);
        Some(now + chrono::Duration::seconds(secs.max(0)))
    }
}

/// A failed login to count, against the (name, address) pair and, when
/// it was a guess (a wrong password or an unknown name), the address.
#[derive(Clone, Debug)]
pub struct LoginFailure {
    /// The user name as sent (see `LoginStore::login_locked_until`).
    pub username: String,
    /// The client address ("" when unknown).
    pub addr: String,
    /// Whether it counts against the address too.
    pub guess: bool,
    /// When it happened.
    pub now: DateTime<Utc>,
    /// Failures before this are forgotten (the counter starts over).
    pub window_start: DateTime<Utc>,
    /// The (name, address) lockout.
    pub user_rule: LockoutRule,
    /// The address lockout.
    pub addr_rule: LockoutRule,
}

/// The lockouts a failure set, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginLocks {
    /// The (name, address) pair is locked until.
    pub user_until: Option<DateTime<Utc>>,
    /// The address is locked until.
    pub addr_until: Option<DateTime<Utc>>,
}

/// Failed logins of one name from one address (a `login_lockout` row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LoginLockout {
    /// The client address the failures came from ("" when unknown).
    pub address: String,
    /// Failures counted in the current window.
    pub failures: i32,
    /// The last of them.
    pub last_failure_at: DateTime<Utc>,
    /// Locked out from that address until then, if it was locked.
    pub locked_until: Option<DateTime<Utc>>,
}
