//! Persistence: one [`Store`] trait, implemented by [`SqlStore`] over
//! SQLite (the default, embedded) or Postgres (production, replicas).
//!
//! All state lives here — tickets, leases, jobs — so any replica can answer
//! any call. Every time comparison takes `now` from the caller, so tests can
//! drive expiry with a controlled clock.

mod admins;
mod console;
mod models;
mod notify;
mod ops;
mod sql;

pub use sql::{redact_url, sqlite_readable_by_others, PoolOptions};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use admins::{Admin, AdminLogin, AdminSession, AdminStore};
pub use console::{ConsoleStore, SessionJob};
pub use models::{
    ApiToken, Company, CompanyChanges, CompanyFacts, Event, EventFilter, NewCompany, NewEvent, NewSession, NewToken,
    NewUser, Recovered, Session, SessionOpen, User,
};
pub use models::{LockoutRule, LoginFailure, LoginLockout, LoginLocks, OpenWork, Problem, QwcLink, Removed};
pub use models::{WebhookAttempt, WebhookDelivery};
pub use notify::{JobNotifier, JobSubscription};
pub use sql::{Backend, SqlStore};

pub use ops::{JobCount, OpsStore, SchemaStatus};

use crate::qbxml::RequestStatus;
use crate::queue::{Completion, Enqueued, Job, JobFilter, Lease, NewJob, Page};
use crate::types::{CompanySlug, EventId, JobId, TicketHash, Username};

/// Errors from the store.
///
/// The variants that wrap a driver error show its text in their own
/// message and do not also return it as their `source()`: an error printed
/// with its chain (`{e:#}`) would otherwise say the same thing twice.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule or state rule refused the change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// The store cannot take calls (closed, unreachable, or its thread
    /// could not start); the message says which.
    #[error("{0}")]
    Unavailable(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

/// Store results.
pub type Result<T = ()> = std::result::Result<T, StoreError>;

/// Everything qbwcd keeps, on one database: the sum of the store traits
/// below, one per concern.
pub trait Store:
    AccountStore
    + SessionStore
    + JobStore
    + ExchangeStore
    + EventStore
    + TokenStore
    + NotifyStore
    + WebhookStore
    + OpsStore
    + LinkStore
    + AdminStore
    + ConsoleStore
{
}
impl<
        T: AccountStore
            + SessionStore
            + JobStore
            + ExchangeStore
            + EventStore
            + TokenStore
            + NotifyStore
            + WebhookStore
            + OpsStore
            + LinkStore
            + AdminStore
            + ConsoleStore,
    > Store for T
{
}

/// Companies and Web Connector users.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> Result;

    /// Adds a company. [`StoreError::Conflict`] if the slug exists.
    async fn create_company(&self, new: NewCompany, now: DateTime<Utc>) -> Result<Company>;
    /// A company by slug.
    async fn company(&self, slug: &CompanySlug) -> Result<Option<Company>>;
    /// A company by id.
    async fn company_by_id(&self, id: i64) -> Result<Option<Company>>;
    /// All companies, by slug.
    async fn list_companies(&self) -> Result<Vec<Company>>;
    /// Changes a company's settings in one statement, so an edit applies
    /// whole or not at all. [`StoreError::NotFound`] if there is no such
    /// company.
    async fn update_company(&self, id: i64, changes: &CompanyChanges<'_>, now: DateTime<Utc>) -> Result;
    /// Enables or disables a company (its users are refused at
    /// `authenticate` while it is disabled; its jobs stay queued).
    async fn set_company_enabled(&self, id: i64, enabled: bool, now: DateTime<Utc>) -> Result;
    /// Removes a company with its users, sessions, finished jobs (pages,
    /// dependencies, webhook deliveries), problems and events, in one
    /// transaction, unless it has open work: then nothing changes and the
    /// counts come back as `Err`.
    async fn remove_company(&self, id: i64) -> Result<std::result::Result<Removed, OpenWork>>;
    /// Records what QuickBooks said about the company file (from the HCP).
    async fn record_company_facts(&self, company_id: i64, facts: &CompanyFacts, now: DateTime<Utc>) -> Result;

    /// Adds a user. [`StoreError::Conflict`] if the name exists.
    async fn create_user(&self, new: NewUser, now: DateTime<Utc>) -> Result<User>;
    /// A user by name.
    async fn user(&self, username: &str) -> Result<Option<User>>;
    /// All users, by name.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// A company's users, by name (on `app_user_company`).
    async fn company_users(&self, company_id: i64) -> Result<Vec<User>>;
    /// Replaces a password hash and clears the user's lockouts at every
    /// address.
    async fn set_password(&self, username: &Username, password_hash: &str, now: DateTime<Utc>) -> Result;
    /// Enables or disables a user.
    async fn set_user_enabled(&self, username: &Username, enabled: bool, now: DateTime<Utc>) -> Result;
    /// The later of the lockouts a login as `username` from `addr` is
    /// under: the (name, address) pair's and the address's. `username` is
    /// the name as sent, known or not.
    async fn login_locked_until(&self, username: &str, addr: &str, now: DateTime<Utc>)
        -> Result<Option<DateTime<Utc>>>;
    /// Counts a failed login in one transaction: the pair's counter (and
    /// the address's, for a guess) goes up, or starts over when its last
    /// failure was before the window; a counter at its rule's threshold
    /// sets the lockout. Counters whose window and lockout have both
    /// passed are deleted on the way.
    async fn record_login_failure(&self, failure: LoginFailure) -> Result<LoginLocks>;
    /// A successful login as `username` from `addr`: forgets that pair's
    /// failures and takes them back from the address's count (guesses of
    /// other names stay counted: a valid login must not reset a spray),
    /// stamps `last_seen_at` on user and company, and clears the company's
    /// silent-connector problem.
    async fn record_login(&self, user_id: i64, username: &str, addr: &str, now: DateTime<Utc>) -> Result;
    /// The (name, address) pairs with failed logins as `username`, newest
    /// first: what `user show` and `GET /users/{username}` report, and
    /// what [`AccountStore::unlock_user`] clears.
    async fn login_lockouts(&self, username: &str) -> Result<Vec<LoginLockout>>;
    /// Clears every lockout and failure count of the name, at every
    /// address; with `addresses`, also the address lockouts of the
    /// addresses it failed from (an address lock would refuse it just the
    /// same, but it guards every company's users, so only a caller who
    /// manages them all clears it). [`StoreError::NotFound`] when no such
    /// user exists.
    async fn unlock_user(&self, username: &Username, addresses: bool) -> Result;
    /// Removes a user: the leases of its open sessions are released as if
    /// the sessions had ended (a read back to the queue, a write in flight
    /// to `unknown`), then every unknown write it sent is held for an
    /// operator (no other user's connector can ask QuickBooks about it);
    /// its sessions, onboarding links and lockouts are deleted, and its
    /// events keep their message but lose the link to the user.
    async fn remove_user(&self, username: &Username, now: DateTime<Utc>) -> Result<Removed>;
    /// Sets (or, with `None`, clears) a user's own poll interval for its
    /// `.qwc`. Callers check that at most one is set and neither is 0.
    async fn set_user_schedule(
        &self,
        username: &Username,
        run_every_minutes: Option<i32>,
        run_every_seconds: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result;
}

/// Web Connector sessions (tickets).
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Opens a session unless another live one holds the company. Idle
    /// sessions of the company are expired first (their leases released).
    /// An open session of the same user from the same address is ended too:
    /// the Web Connector re-authenticated, so its last exchange was lost.
    async fn open_session(&self, new: NewSession) -> Result<SessionOpen>;
    /// A session by ticket hash, in any state.
    async fn session(&self, ticket: &TicketHash) -> Result<Option<Session>>;
    /// Extends the idle expiry of a live session (open, not expired at
    /// `now`) and returns it; `None` when the ticket is unknown or its
    /// session is no longer live ([`SessionStore::session`] tells which).
    /// A session seen within the last second is returned as it is, without
    /// a write: its expiry moves in steps of at most a second.
    async fn touch_live_session(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Session>>;
    /// Sets what `getLastError` answers, and the first problem's code.
    async fn set_session_error(&self, ticket: &TicketHash, problem: Option<&str>, last_error: &str) -> Result;
    /// Records the company file and qbXML version the session uses.
    async fn set_session_file(&self, ticket: &TicketHash, company_file_name: &str, qbxml_version: &str) -> Result;
    /// Ends a session and releases its leases; returns it as it ended.
    ///
    /// A clean session (no failed job, no problem recorded against it)
    /// clears the company's open problems that were not seen during it:
    /// QuickBooks opened, the file checked out and the work went through, so
    /// whatever failed before has been fixed.
    async fn close_session(&self, ticket: &TicketHash, now: DateTime<Utc>) -> Result<Option<Session>>;
    /// Expires idle sessions and lapsed leases.
    async fn recover_expired(&self, now: DateTime<Utc>) -> Result<Recovered>;
}

/// The job queue.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Adds a job (or returns the one with the same idempotency key).
    async fn enqueue(&self, new: NewJob) -> Result<Enqueued>;
    /// A job by id.
    async fn job(&self, id: JobId) -> Result<Option<Job>>;
    /// Jobs newest first (by arrival), older than `before_seq` when given.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Claims the company's next queued job for `ticket` until `lease_until`.
    async fn claim_next(
        &self,
        company_id: i64,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>>;
    /// Records the last message set QuickBooks answered for a user's
    /// application, so that user's next write clears its recovery record.
    async fn answered_message_set(&self, user_id: i64, message_set_id: &str) -> Result;
    /// The name of another user (than `user_id`) whose lost write the
    /// company waits on: the oldest one not yet checked. Until it is
    /// settled or held, `user_id`'s sessions are sent nothing.
    async fn awaited_sender(&self, company_id: i64, user_id: i64) -> Result<Option<String>>;
    /// Holds for an operator every lost write whose sender's Web Connector
    /// did not come back to check it: last sent (the write, or its last
    /// check) at or before `sent_before`. Returns the jobs held; their
    /// `error` names the user.
    async fn hold_unchecked_writes(&self, sent_before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Job>>;
    /// Completes a job if `lease` still holds (false: stale, dropped).
    /// Counts it in the session and releases or fails its dependents.
    async fn complete_job(&self, lease: &Lease, completion: Completion, now: DateTime<Utc>) -> Result<bool>;
    /// Adds one page of an iterator's answer under the job's fence (false:
    /// stale), records the iterator to continue, and extends the lease.
    async fn record_page(
        &self,
        lease: &Lease,
        response: &str,
        statuses: &[RequestStatus],
        iterator_id: Option<&str>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// The pages of an iterator job's attempt, in order.
    async fn pages(&self, id: JobId, attempt: i32) -> Result<Vec<Page>>;
    /// How many pages an iterator job's attempt has stored (its primary
    /// key answers without reading them).
    async fn page_count(&self, id: JobId, attempt: i32) -> Result<i64>;
    /// Releases the leases of a ticket: reads back to the queue (or failed
    /// when out of attempts), writes to `unknown`.
    async fn release_leases(&self, ticket: &TicketHash, now: DateTime<Utc>) -> Result<u64>;
    /// How many jobs the company's next session could be sent: queued
    /// ones, and reads whose lease lapsed at `now` (they are requeued when
    /// the next session opens).
    async fn queue_depth(&self, company_id: i64, now: DateTime<Utc>) -> Result<i64>;
    /// [`JobStore::queue_depth`], but counting no further than `cap`:
    /// `min(depth, cap)`, at a cost bounded by `cap` rather than by the
    /// queue (for every `receiveResponseXML`).
    async fn queue_depth_at_most(&self, company_id: i64, now: DateTime<Utc>, cap: i64) -> Result<i64>;
    /// Puts a failed or cancelled job back in the queue (held while its
    /// dependencies are not done). [`StoreError::Conflict`] in other states.
    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job>;
    /// Cancels a queued or held job. [`StoreError::Conflict`] in other states.
    async fn cancel_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job>;
    /// An operator's verdict on an `unknown` write (or one held because
    /// error recovery could not tell): applied (done) or not (queued
    /// again). [`StoreError::Conflict`] in other states.
    async fn resolve_job(&self, id: JobId, applied: bool, now: DateTime<Utc>) -> Result<Job>;
    /// The company's jobs counted by state (`queued`, `done`, …); states
    /// with no job are left out.
    async fn company_job_counts(&self, company_id: i64) -> Result<Vec<(String, i64)>>;
}

/// What `sendRequestXML` sends next, found (and leased) by the store.
#[derive(Clone, Debug)]
pub enum NextJob {
    /// An iterator this session holds: continue it before anything else,
    /// since QuickBooks keeps the iterator only for this session.
    Continue(Job),
    /// The company's oldest write whose answer was lost, leased for its
    /// error-recovery status check.
    Recover(Job),
    /// The head of the company's queue, leased.
    Claimed(Job),
}

/// The start of a `sendRequestXML`: the live session, touched, and on a
/// later call what to send.
#[derive(Clone, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per call, moved once; a box would add an allocation to every sendRequestXML"
)]
pub enum SendStart {
    /// The session's first call: its company file is not checked yet, or
    /// the call carries QuickBooks' HCP answer. Nothing was leased, since
    /// the file is checked before anything is sent.
    FirstCall(Session),
    /// A later call: the file was checked, and the next job was found (and
    /// leased) in the same round trip as the touch.
    Ready {
        /// The live session.
        session: Session,
        /// What to send next; `None` when there is nothing.
        next: Option<NextJob>,
    },
}

/// The start of a `receiveResponseXML`: the session and its leased job.
#[derive(Clone, Debug)]
pub struct AnswerStart {
    /// The session; touched when it was live.
    pub session: Session,
    /// Whether it was live (a session that is not still hands in its answer).
    pub live: bool,
    /// The job last sent to it that may still take its answer.
    pub job: Option<Job>,
}

/// What became of the completion handed to [`ExchangeStore::answer`].
#[derive(Debug)]
pub enum AnswerCompletion {
    /// The leased job took the completion; `remaining` as
    /// [`ExchangeStore::complete_and_count`] answers (`None`: stale).
    Completed {
        /// The session and the job, as found before the completion.
        start: AnswerStart,
        /// The company's queue depth, capped; `None` when the fence failed.
        remaining: Option<i64>,
    },
    /// There was no job to take it, or not one the caller's test accepted:
    /// nothing was written but the touch, and the completion comes back.
    Declined {
        /// The session and the job, if any.
        start: AnswerStart,
        /// The completion, unused.
        completion: Completion,
    },
}

/// Which leased jobs [`ExchangeStore::answer`] may complete at once.
pub type AcceptsJob = Box<dyn FnOnce(&Job) -> bool + Send>;

/// The calls of a Web Connector exchange, each one database round trip
/// on SQLite (one task on the writer thread). They compose the
/// [`SessionStore`] and [`JobStore`] calls named in each.
#[async_trait]
pub trait ExchangeStore: Send + Sync + 'static {
    /// What `sendRequestXML` sends next, leasing it: the company's oldest
    /// lost write this session's user sent (an error-recovery check), else
    /// the head of its queue; unless this session has an iterator under
    /// way, which continues first (then nothing new is leased). The only
    /// way the protocol picks a job.
    async fn next_job(
        &self,
        company_id: i64,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<NextJob>>;
    /// [`SessionStore::touch_live_session`], then, unless this is the
    /// session's first call ([`SendStart::FirstCall`]: no company file
    /// recorded yet, or `hcp_given`, the call carries QuickBooks' HCP
    /// answer), [`ExchangeStore::next_job`]. `None`: the session is not live.
    async fn start_send(
        &self,
        ticket: &TicketHash,
        hcp_given: bool,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SendStart>>;
    /// [`SessionStore::touch_live_session`] (or, when it is not live,
    /// [`SessionStore::session`]) and the job last sent to `ticket` that
    /// may still take its answer. `None`: no such session.
    async fn start_answer(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<AnswerStart>>;
    /// [`ExchangeStore::start_answer`], then, when its job is leased and
    /// `accepts` it, [`ExchangeStore::complete_and_count`] with
    /// `completion` for the session's company, in the same call: the usual
    /// answer is one hand-off to the database, not two. `None`: no such
    /// session.
    async fn answer(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        completion: Completion,
        accepts: AcceptsJob,
        cap: i64,
    ) -> Result<Option<AnswerCompletion>>;
    /// [`JobStore::complete_job`], then, if it held,
    /// [`JobStore::queue_depth_at_most`] of `company_id`. `None`: stale.
    async fn complete_and_count(
        &self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
        company_id: i64,
        cap: i64,
    ) -> Result<Option<i64>>;
}

/// The event log, and the company problems it feeds.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends an event; returns its id (the reference shown to people).
    ///
    /// An event of a company with a diagnostic code of warning or error
    /// severity also opens (or counts another occurrence of) that code's
    /// [`Problem`] in the same transaction, so health never misses one.
    async fn record_event(&self, event: NewEvent) -> Result<i64>;
    /// Events matching `filter`, newest first, each with its company's
    /// slug and user's name. Each combination of filters has a statement
    /// of its own, written for the index that serves it.
    async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>>;
    /// One event, by id.
    async fn event(&self, id: EventId) -> Result<Option<Event>>;
    /// Latest events, newest first.
    async fn list_events(&self, company_id: Option<i64>, limit: i64) -> Result<Vec<Event>> {
        self.events(&EventFilter { company_id, limit, ..EventFilter::default() }).await
    }
    /// The company's open (not cleared) problems, most recent first.
    async fn open_problems(&self, company_id: i64) -> Result<Vec<Problem>>;
    /// Deletes at most `limit` of the oldest events from before `before`;
    /// returns how many went. Bounded so one call is one short transaction.
    async fn prune_events(&self, before: DateTime<Utc>, limit: i64) -> Result<u64>;
}

/// Signed onboarding links: what changes as one is used.
#[async_trait]
pub trait LinkStore: Send + Sync + 'static {
    /// Records a new link (its nonce, user, limits).
    async fn create_qwc_link(&self, link: &QwcLink) -> Result;
    /// A link by nonce.
    async fn qwc_link(&self, nonce: &str) -> Result<Option<QwcLink>>;
    /// Counts one download if the link has uses left, atomically (two
    /// concurrent downloads cannot both take the last use); returns the
    /// uses so far, or `None` when it was used up (or does not exist).
    async fn use_qwc_link(&self, nonce: &str, now: DateTime<Utc>) -> Result<Option<i32>>;
    /// Marks the link's password reset as done, once: `true` for the one
    /// caller that gets to reset, `false` if it was already done.
    async fn claim_password_reset(&self, nonce: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Links, newest first: one user's, or everyone's.
    async fn list_qwc_links(&self, username: Option<&str>) -> Result<Vec<QwcLink>>;
    /// Revokes a link (a revoked one stays as it was); `None` when there
    /// is no such link.
    async fn revoke_qwc_link(&self, nonce: &str, now: DateTime<Utc>) -> Result<Option<QwcLink>>;
}

/// API bearer tokens (stored as hashes).
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Adds a token. [`StoreError::Conflict`] if the name exists.
    async fn create_token(&self, new: NewToken, now: DateTime<Utc>) -> Result<ApiToken>;
    /// The token (not revoked) with this hash, marking it used unless it
    /// has expired (the caller refuses an expired one, saying so).
    async fn use_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<ApiToken>>;
    /// All tokens, revoked ones included.
    async fn list_tokens(&self) -> Result<Vec<ApiToken>>;
    /// Revokes a token by name. [`StoreError::NotFound`] if there is none.
    async fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result;
}

/// Wake-ups when jobs settle (final, or `unknown`), for long-polls and the
/// webhook worker, in this process and across replicas.
#[async_trait]
pub trait NotifyStore: Send + Sync + 'static {
    /// The wake-ups of this store's process.
    fn notifier(&self) -> &JobNotifier;
    /// Forwards other processes' job notifications (Postgres `LISTEN`) to
    /// [`NotifyStore::notifier`] until the connection fails; returns
    /// `Ok(())` at once where there is nothing to listen to (SQLite).
    async fn listen_for_finished_jobs(&self) -> Result;
}

/// Webhooks: companies' default URLs and the delivery outbox. Outbox rows
/// are written by database triggers in the same transaction as a job's
/// transition, whatever code path made it.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// A company's default webhook URL.
    async fn company_webhook(&self, company_id: i64) -> Result<Option<String>>;
    /// Claims up to `limit` pending deliveries due at `now` until
    /// `lease_until`. On Postgres `skip locked` keeps replicas apart.
    async fn claim_webhooks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Records the outcome of one delivery attempt and releases the claim.
    async fn record_webhook_attempt(&self, id: i64, attempt: &WebhookAttempt) -> Result;
    /// When the next pending delivery falls due (or its claim lapses).
    async fn next_webhook_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// The latest delivery for a job, if it has a webhook.
    async fn job_webhook(&self, job: JobId) -> Result<Option<WebhookDelivery>>;
    /// Every delivery of a job, oldest first.
    async fn job_webhooks(&self, job: JobId) -> Result<Vec<WebhookDelivery>>;
    /// Deletes at most `limit` finished deliveries (delivered or given up,
    /// never pending) of events from before `before`; returns how many went.
    async fn prune_webhook_deliveries(&self, before: DateTime<Utc>, limit: i64) -> Result<u64>;
}
