//! The job queue: enqueue, claim, complete, release, operator actions.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lite::{is_unique_violation, json, Sql, Ts};
use super::{by_backend, conflict_on_unique, SqlStore};
use crate::qbxml::RequestStatus;
use crate::queue::{Completion, Enqueued, Job, JobFilter, JobKind, JobState, Lease, NewJob, Page};
use crate::store::{JobStore, Result, StoreError};
use crate::types::{JobId, TicketHash};

const COLS: &str = "id, seq, company_id, state, kind, priority, request, qbxml_version, on_error, request_names, \
                    attempt, max_attempts, ticket_hash, lease_expires_at, response, statuses, diagnostic, error, \
                    idempotency_key, webhook_url, hold_reason, iterates, iterator_id, message_set_id, recovering, \
                    old_message_set_id, submission_hash, sent_by, created_at, updated_at, sent_at, completed_at";

/// How a lease ends without an answer. A read goes back to the queue until
/// its attempts are spent; a write becomes `unknown`, because QuickBooks
/// may have applied it, and is never resent blindly. `$1` is now.
macro_rules! release_set {
    () => {
        "update job set \
         state = case when kind = 'write' then 'unknown' when attempt >= max_attempts then 'failed' else 'queued' end, \
         diagnostic = case when kind = 'write' then 'session.answer_lost' \
                           when attempt >= max_attempts then 'job.attempts_exhausted' else diagnostic end, \
         error = case when kind = 'write' then 'the answer to this write was lost: it may or may not have been applied' \
                      when attempt >= max_attempts then 'sent the maximum number of times without an answer' \
                      else error end, \
         completed_at = case when kind = 'read' and attempt >= max_attempts then $1 else completed_at end, \
         lease_expires_at = null, iterator_id = null, updated_at = $1 "
    };
}

/// job_leased's predicate word for word, for statements that find leased
/// jobs through it (SQLite matches partial-index predicates as written).
macro_rules! leased_predicate {
    () => {
        "ticket_hash is not null and state in ('sent', 'unknown', 'queued')"
    };
}
/// [`leased_predicate!`] for `format!`.
const LEASED_PREDICATE: &str = leased_predicate!();

/// Releases the leases of one ticket (`$2`).
pub(super) const RELEASE_BY_TICKET: &str =
    concat!(release_set!(), "where ticket_hash = $2 and ", leased_predicate!(), " and state = 'sent'");
/// Releases the leases of every open session of one user (`$2`), when the
/// user is removed: as if each session had ended.
pub(super) const RELEASE_BY_USER: &str = concat!(
    release_set!(),
    "where ticket_hash in (select ticket_hash from session where user_id = $2 and state = 'open') and ",
    leased_predicate!(),
    " and state = 'sent'"
);
/// Releases every lease that ran out. It walks job_leased, which holds only
/// jobs that are out or may still take an answer, never the history.
pub(super) const RELEASE_LAPSED: &str =
    concat!(release_set!(), "where ", leased_predicate!(), " and state = 'sent' and lease_expires_at <= $1");

/// Fails held jobs one of whose dependencies failed or was cancelled.
pub(super) const FAIL_DEPENDENTS: &str = "update job set state = 'failed', hold_reason = null, \
    diagnostic = 'job.dependency_failed', error = 'a job it depends on failed or was cancelled', \
    updated_at = $1, completed_at = $1 \
    where state = 'held' and hold_reason = 'dependencies' and exists (select 1 from job_dependency d \
    join job p on p.id = d.depends_on where d.job_id = job.id and p.state in ('failed', 'cancelled'))";

/// Queues held jobs whose dependencies are all done.
pub(super) const RELEASE_DEPENDENTS: &str = "update job set state = 'queued', hold_reason = null, updated_at = $1 \
    where state = 'held' and hold_reason = 'dependencies' and not exists (select 1 from job_dependency d \
    join job p on p.id = d.depends_on where d.job_id = job.id and p.state <> 'done')";

/// Settles held dependents after jobs reached final states: failures
/// cascade down chains (one level per pass), then fully satisfied jobs are
/// queued. Runs inside the caller's transaction.
macro_rules! settle_dependents {
    ($tx:ident, $now:expr) => {{
        loop {
            let failed = sqlx::query($crate::store::sql::jobs::FAIL_DEPENDENTS)
                .bind($now)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if failed == 0 {
                break;
            }
        }
        sqlx::query($crate::store::sql::jobs::RELEASE_DEPENDENTS).bind($now).execute(&mut *$tx).await?;
    }};
}
pub(super) use settle_dependents;

/// The job last sent to a ticket (`$1`) that may still take its answer.
/// `ticket_hash is not null` and the state list repeat job_leased's
/// predicate word for word, so SQLite (which matches partial-index
/// predicates syntactically) uses it.
pub(super) static LEASED: LazyLock<String> = LazyLock::new(|| {
    format!(
        concat!(
            "select {COLS} from job where ticket_hash = $1 and ",
            leased_predicate!(),
            " order by sent_at desc limit 1"
        ),
        COLS = COLS
    )
});

pub(super) static CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| claim_sql("queued", &NOT_WAITING_ON_OTHERS, ""));
pub(super) static CLAIM_POSTGRES: LazyLock<String> =
    LazyLock::new(|| claim_sql("queued", &NOT_WAITING_ON_OTHERS, " for update skip locked"));
pub(super) static RECOVER_SQLITE: LazyLock<String> = LazyLock::new(|| claim_sql("unknown", &OWN_RECOVERABLE, ""));
pub(super) static RECOVER_POSTGRES: LazyLock<String> =
    LazyLock::new(|| claim_sql("unknown", &OWN_RECOVERABLE, " for update skip locked"));

/// A company's jobs, newest first, older than `$3`, optionally in state
/// `$2`: walks `job_company_seq` backwards from the cursor. `$1` company.
pub(super) static LIST_COMPANY_JOBS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select {COLS} from job where company_id = $1 and seq < $3 and ($2 is null or state = $2) \
         order by seq desc limit $4"
    )
});
/// Every company's jobs, newest first: walks the primary key backwards.
/// `$1` is unused (kept so both listings bind alike).
pub(super) static LIST_JOBS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select {COLS} from job where ($1 = $1) and seq < $3 and ($2 is null or state = $2) \
         order by seq desc limit $4"
    )
});

/// A claimed write's `oldMessageSetID`: the last set QuickBooks answered
/// for the claiming session's user (`$2` the ticket), since QuickBooks
/// keeps recovery records per application. Read by key inside the claim,
/// so the send path reads neither the user nor the company for it.
const OLD_MESSAGE_SET: &str = "(select u.last_message_set_id from session s join app_user u on u.id = s.user_id \
                               where s.ticket_hash = $2)";

/// Unknown writes that error recovery can check.
const RECOVERABLE: &str = " and message_set_id is not null";

/// The user (application) of the claiming session (`$2` the ticket): one
/// primary-key lookup inside the claim, not a statement of its own.
const SENDER: &str = "(select user_id from session where ticket_hash = $2)";

/// Unknown writes the claiming session may check: QuickBooks keeps error
/// recovery records per application, so only the user that sent a write
/// can check it (a write sent before senders were recorded, by anyone).
static OWN_RECOVERABLE: LazyLock<String> =
    LazyLock::new(|| format!("{RECOVERABLE} and (sent_by = {SENDER} or sent_by is null)"));

/// No other user's write of the company awaits its status check: until it
/// is settled (or held when its connector does not return), another
/// user's session sends nothing for the company, so no later job overtakes
/// a write it may depend on. It walks job_claim's (company, 'unknown')
/// range, empty but for lost writes.
static NOT_WAITING_ON_OTHERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        " and not exists (select 1 from job w where w.company_id = $1 and w.state = 'unknown' \
         and w.message_set_id is not null and w.sent_by <> {SENDER})"
    )
});

/// [`RECOVER_SQLITE`], else [`CLAIM_SQLITE`], in one statement.
pub(super) static NEXT_SQLITE: LazyLock<String> = LazyLock::new(|| next_sql(""));
/// [`RECOVER_POSTGRES`], else [`CLAIM_POSTGRES`], in one statement.
pub(super) static NEXT_POSTGRES: LazyLock<String> = LazyLock::new(|| next_sql(" for update skip locked"));

/// The recovery claim and the claim as one statement (one round trip where
/// they were two on every sendRequestXML): the head of the company's
/// recoverable unknown writes if there is one, else the head of its queue.
/// Each branch walks `job_claim` and stops at its first row, so neither
/// depends on the queue's length; `set` sees the row as it was, so
/// `state = 'unknown'` tells the two apart. It claims nothing while the
/// job last sent to this ticket is an iterator under way (that one
/// continues first; [`LEASED`] finds it), so the usual call needs no
/// look at the lease beforehand. Recovery is per user ([`OWN_RECOVERABLE`],
/// [`NOT_WAITING_ON_OTHERS`]), and the claim records the sender in the
/// same update. `$1`…`$5` as in [`claim_sql`].
fn next_sql(lock: &str) -> String {
    let (own, not_waiting) = (OWN_RECOVERABLE.as_str(), NOT_WAITING_ON_OTHERS.as_str());
    format!(
        "update job set state = 'sent', attempt = attempt + 1, ticket_hash = $2, lease_expires_at = $3, \
         sent_at = $4, updated_at = $4, sent_by = {SENDER}, \
         message_set_id = case when state = 'unknown' then message_set_id \
                               when kind = 'write' then $5 else null end, \
         old_message_set_id = case when state = 'unknown' then old_message_set_id \
                                   when kind = 'write' then {OLD_MESSAGE_SET} else null end, \
         recovering = (state = 'unknown') \
         where seq = (select seq from (select seq from job where company_id = $1 and state = 'unknown'{own} \
                                       order by priority desc, seq limit 1{lock}) r \
                      union all \
                      select seq from (select seq from job where company_id = $1 and state = 'queued'{not_waiting} \
                                       order by priority desc, seq limit 1{lock}) q \
                      limit 1) \
         and state in ('unknown', 'queued') \
         and not exists (select 1 from (select state, iterator_id from job where ticket_hash = $2 \
                                        and {LEASED_PREDICATE} order by sent_at desc limit 1) l \
                         where l.state = 'sent' and l.iterator_id is not null) \
         returning {COLS}"
    )
}

/// One statement: pick the head of the company's jobs in state `from` and
/// lease it. On Postgres, `skip locked` lets racing replicas pass each other
/// instead of waiting; SQLite has a single writer, so the statement is
/// atomic as is. A write gets its message-set id (`$5`) here, persisted
/// before the request leaves; a recovery check keeps the id it was sent with.
/// The claiming session's user is recorded as the sender (`sent_by`).
fn claim_sql(from: &str, extra: &str, lock: &str) -> String {
    let recovering = from == "unknown";
    let message_set = if recovering { "message_set_id" } else { "case when kind = 'write' then $5 else null end" };
    let old = if recovering {
        "old_message_set_id".to_owned()
    } else {
        format!("case when kind = 'write' then {OLD_MESSAGE_SET} else null end")
    };
    format!(
        "update job set state = 'sent', attempt = attempt + 1, ticket_hash = $2, lease_expires_at = $3, \
         sent_at = $4, updated_at = $4, sent_by = {SENDER}, message_set_id = {message_set}, \
         old_message_set_id = {old}, \
         recovering = {recovering} \
         where seq = (select seq from job where company_id = $1 and state = '{from}'{extra} \
         order by priority desc, seq limit 1{lock}) and state = '{from}' returning {COLS}"
    )
}

/// [`JobStore::hold_unchecked_writes`]: `$1` sent before, `$2` now. Lost
/// writes keep their ticket, so job_leased (whose predicate this repeats)
/// finds them without walking the history. The error names the sender,
/// composed here so the hold and its reason are one statement.
static HOLD_UNCHECKED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "update job set state = 'held', hold_reason = 'operator', recovering = false, lease_expires_at = null, \
         diagnostic = 'session.recovery_connector_absent', updated_at = $2, \
         error = 'the Web Connector of user ' \
                 || coalesce((select u.username from app_user u where u.id = job.sent_by), 'unknown') \
                 || ' did not come back to check whether this write was applied (QuickBooks answers that check \
                 only to the connector that sent the write); check QuickBooks, then resolve the job' \
         where {LEASED_PREDICATE} and state = 'unknown' and message_set_id is not null and sent_by is not null \
         and sent_at <= $1 \
         returning {COLS}"
    )
});

/// A job just claimed on the SQLite writer, as it was: a write's claim is
/// synced to disk before it is answered (see [`super::lite::sync_at_commit`]).
/// Postgres commits durably as it is (`synchronous_commit`).
pub(super) fn durable_claim(job: Option<Job>) -> Option<Job> {
    if job.as_ref().is_some_and(|j| j.kind == JobKind::Write) {
        super::lite::sync_at_commit();
    }
    job
}

/// A message-set id: 20 characters of [0-9a-z], within qbXML's 23.
/// It need only be unique, not secret: the thread-local CSPRNG (seeded from
/// the OS) serves, where `OsRng` cost one getrandom system call per character
/// on every claim.
pub(super) fn new_message_set_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

fn not_allowed(job: &Job, action: &str, allowed: &str) -> StoreError {
    let hint = if job.state == JobState::Unknown {
        " An unknown write may already be in QuickBooks: check there, then use `qbwcd jobs resolve ID --applied` or `--not-applied`."
    } else {
        ""
    };
    StoreError::Conflict(format!("job {} is {}; only {allowed} jobs can be {action}.{hint}", job.id, job.state))
}

/// A completion, fenced by job, attempt and ticket. `$1` id, `$2` attempt,
/// `$3` ticket hash, `$4` state, `$5` response, `$6` statuses, `$7`
/// diagnostic, `$8` error, `$9` now, `$10` completed at.
pub(super) const COMPLETE: &str =
    "update job set state = $4, response = $5, statuses = $6, diagnostic = $7, error = $8, \
    lease_expires_at = null, iterator_id = null, recovering = false, updated_at = $9, \
    completed_at = $10, hold_reason = case when $4 = 'held' then 'operator' else null end \
    where id = $1 and attempt = $2 and ticket_hash = $3 and state in ('sent', 'unknown', 'queued') \
    returning exists (select 1 from job_dependency where depends_on = job.id)";

/// Counts a completion on its session.
const COUNT_COMPLETION: &str = "update session set jobs_done = jobs_done + $2, jobs_failed = jobs_failed + $3, \
    first_problem = coalesce(first_problem, $4), last_work_at = $5 where ticket_hash = $1";

/// [`JobStore::queue_depth_at_most`]: `$1` company, `$2` now, `$3` cap.
/// Each part stops at `cap` rows of its index range (the caller caps the
/// sum again, so the answer does not depend on which part is large). The
/// `order by` is `job_claim`'s: without it Postgres, whose statistics said
/// most jobs were queued (they were, when last analyzed), counted the
/// first `cap` queued rows with a sequential scan that read through every
/// finished job first, on every answer.
pub(super) static DEPTH_AT_MOST: LazyLock<String> = LazyLock::new(|| format!("select {}", depth_sql("$1", "$2", "$3")));

/// [`DEPTH_AT_MOST`]'s count as an expression, with its parameters named:
/// the company, now, and the cap.
fn depth_sql(company: &str, now: &str, cap: &str) -> String {
    format!(
        "(select count(*) from (select 1 from job where company_id = {company} and state = 'queued' \
         order by priority desc, seq limit {cap}) q) \
         + (select count(*) from (select 1 from job where company_id = {company} and state = 'sent' \
         and kind = 'read' and lease_expires_at <= {now} limit {cap}) s) \
         + (select count(*) from (select 1 from job where company_id = {company} and state = 'unknown' \
         and message_set_id is not null order by priority desc, seq limit {cap}) u)"
    )
}

/// What a completion adds to its session's `jobs_done` and `jobs_failed`.
fn session_counts(state: JobState) -> (i64, i64) {
    match state {
        JobState::Done => (1, 0),
        JobState::Failed | JobState::Unknown => (0, 1),
        _ => (0, 0),
    }
}

/// The problem a completion records on its session, if it failed.
fn problem_of(c: &Completion) -> Option<String> {
    c.diagnostic.clone().filter(|_| session_counts(c.state).1 > 0)
}

/// [`JobStore::complete_job`] on the SQLite writer.
pub(super) fn complete_lite(
    conn: &rusqlite::Connection,
    lease: &Lease,
    mut c: Completion,
    now: DateTime<Utc>,
) -> Result<bool> {
    let is_final = c.state.is_final();
    let (done, failed) = session_counts(c.state);
    let statuses = json(&c.statuses)?;
    let completed_at = is_final.then_some(Ts(now));
    let response = c.response.take();
    let args: [&dyn rusqlite::ToSql; 10] = [
        &lease.job_id.0,
        &lease.attempt,
        &lease.ticket_hash.0,
        &c.state.as_str(),
        &rusqlite::types::Null,
        &statuses,
        &c.diagnostic,
        &c.error,
        &Ts(now),
        &completed_at,
    ];
    // The answer (`$5`) goes in by value: see `opt_owning`.
    let Some(has_dependents) = conn.opt_owning::<bool>(COMPLETE, &args, 5, response)? else {
        return Ok(false);
    };
    conn.exec(COUNT_COMPLETION, &[&lease.ticket_hash.0, &done, &failed, &problem_of(&c), &Ts(now)])?;
    if is_final && has_dependents {
        settle_dependents_lite(conn, now)?;
    }
    Ok(true)
}

/// [`COMPLETE`] and [`COUNT_COMPLETION`] as one Postgres statement (one
/// round trip, atomic, where the transaction took five), then the
/// company's queue depth as [`DEPTH_AT_MOST`] counts it: `$11`/`$12`/`$13`
/// the session's counts and problem, `$14` company, `$15` cap. It touches
/// nothing when another job depends on this one (settling those belongs in
/// the completion's transaction): it answers whether one does, whether the
/// job was completed, and the depth, which all parts of the statement read
/// as it was before the completion.
static COMPLETE_COUNTED_PG: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with deps as (select exists (select 1 from job_dependency where depends_on = $1) as found), \
         done as (update job set state = $4, response = $5, statuses = $6, diagnostic = $7, error = $8, \
         lease_expires_at = null, iterator_id = null, recovering = false, updated_at = $9, \
         completed_at = $10, hold_reason = case when $4 = 'held' then 'operator' else null end \
         where id = $1 and attempt = $2 and ticket_hash = $3 and state in ('sent', 'unknown', 'queued') \
         and not (select found from deps) returning 1), \
         counted as (update session set jobs_done = jobs_done + $11, jobs_failed = jobs_failed + $12, \
         first_problem = coalesce(first_problem, $13), last_work_at = $9 \
         where ticket_hash = $3 and exists (select 1 from done) returning 1) \
         select (select found from deps), exists (select 1 from done), {}",
        depth_sql("$14", "$9", "$15")
    )
});

/// [`ExchangeStore::complete_and_count`](crate::store::ExchangeStore) on
/// one Postgres connection: [`COMPLETE_COUNTED_PG`], or for a job others
/// depend on [`complete_pg`]. `None` when the lease was fenced out.
pub(super) async fn complete_counted_pg(
    conn: &mut sqlx::PgConnection,
    lease: &Lease,
    c: Completion,
    now: DateTime<Utc>,
    company_id: i64,
    cap: i64,
) -> Result<Option<i64>> {
    let (done, failed) = session_counts(c.state);
    let state = c.state;
    let (has_dependents, completed, depth): (bool, bool, i64) = sqlx::query_as(&COMPLETE_COUNTED_PG)
        .bind(lease.job_id.0)
        .bind(lease.attempt)
        .bind(&lease.ticket_hash.0)
        .bind(c.state.as_str())
        // Postgres arguments are encoded into the message at bind time,
        // borrowed or owned alike; borrowing keeps `c` for the dependents'
        // path, at the cost of holding the answer until the statement ran.
        .bind(&c.response)
        .bind(sqlx::types::Json(&c.statuses))
        .bind(&c.diagnostic)
        .bind(&c.error)
        .bind(now)
        .bind(state.is_final().then_some(now))
        .bind(done)
        .bind(failed)
        .bind(problem_of(&c))
        .bind(company_id)
        .bind(cap)
        .fetch_one(&mut *conn)
        .await?;
    if has_dependents {
        if !complete_pg(conn, lease, c, now).await? {
            return Ok(None);
        }
    } else if !completed {
        return Ok(None);
    } else if !matches!(state, JobState::Queued | JobState::Unknown) {
        return Ok(Some(depth));
    }
    // After the transactional path, or when the job went back to the queue
    // or became a write to check (the depth above was read before that):
    // count again.
    let n: i64 = sqlx::query_scalar(&DEPTH_AT_MOST).bind(company_id).bind(now).bind(cap).fetch_one(&mut *conn).await?;
    Ok(Some(n))
}

/// [`JobStore::complete_job`] on a Postgres connection, in a transaction
/// of its own.
pub(super) async fn complete_pg(
    conn: &mut sqlx::PgConnection,
    lease: &Lease,
    c: Completion,
    now: DateTime<Utc>,
) -> Result<bool> {
    use sqlx::Connection;
    let is_final = c.state.is_final();
    let (done, failed) = session_counts(c.state);
    let problem = problem_of(&c);
    let mut tx = conn.begin().await?;
    let has_dependents: Option<bool> = sqlx::query_scalar(COMPLETE)
        .bind(lease.job_id.0)
        .bind(lease.attempt)
        .bind(&lease.ticket_hash.0)
        .bind(c.state.as_str())
        // Moved: sqlx encodes it into the message at once, and our copy is
        // freed there instead of living until the statement has run.
        .bind(c.response)
        .bind(sqlx::types::Json(&c.statuses))
        .bind(&c.diagnostic)
        .bind(&c.error)
        .bind(now)
        .bind(is_final.then_some(now))
        .fetch_optional(&mut *tx)
        .await?;
    let Some(has_dependents) = has_dependents else {
        tx.rollback().await?;
        return Ok(false);
    };
    sqlx::query(COUNT_COMPLETION)
        .bind(&lease.ticket_hash.0)
        .bind(done)
        .bind(failed)
        .bind(&problem)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    // Only jobs that depend on this one can be failed or released by its
    // end; without any, settling would be two more statements on every
    // answer for nothing.
    if is_final && has_dependents {
        settle_dependents!(tx, now);
    }
    tx.commit().await?;
    Ok(true)
}

/// [`settle_dependents!`] on the SQLite writer.
pub(super) fn settle_dependents_lite(c: &rusqlite::Connection, now: DateTime<Utc>) -> Result {
    while c.exec(FAIL_DEPENDENTS, &[&Ts(now)])? > 0 {}
    c.exec(RELEASE_DEPENDENTS, &[&Ts(now)])?;
    Ok(())
}

const INSERT_JOB: &str = "insert into job (id, company_id, state, kind, priority, request, qbxml_version, on_error, \
    request_names, max_attempts, diagnostic, error, idempotency_key, webhook_url, hold_reason, \
    created_at, updated_at, completed_at, iterates, submission_hash) \
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18, $19)";
const DEP_STATE: &str = "select state from job where id = $1 and company_id = $2";
const ADD_DEPENDENCY: &str = "insert into job_dependency (job_id, depends_on) values ($1, $2) on conflict do nothing";

/// The state a new job starts in, from the states of its dependencies.
struct Start {
    state: JobState,
    diagnostic: Option<&'static str>,
    error: Option<String>,
}

impl Default for Start {
    fn default() -> Self {
        Start { state: JobState::Queued, diagnostic: None, error: None }
    }
}

impl Start {
    /// Accounts for one dependency in `state` (`None`: not in this company).
    fn depends_on(&mut self, dep: JobId, state: Option<String>) -> Result {
        match state.as_deref() {
            None => return Err(StoreError::NotFound(format!("depends_on job {dep} in this company"))),
            Some("done") => {}
            Some("failed" | "cancelled") => {
                self.state = JobState::Failed;
                self.diagnostic = Some("job.dependency_failed");
                self.error = Some(format!("job {dep} it depends on did not succeed"));
            }
            Some(_) if self.state == JobState::Queued => self.state = JobState::Held,
            Some(_) => {}
        }
        Ok(())
    }
}

/// The columns of a new job row that are derived, not given.
struct NewRow {
    state: &'static str,
    kind: &'static str,
    qbxml_version: Option<String>,
    on_error: &'static str,
    request_names: String,
    hold_reason: Option<&'static str>,
    completed_at: Option<DateTime<Utc>>,
}

impl NewRow {
    fn of(new: &NewJob, start: &Start) -> NewRow {
        NewRow {
            state: start.state.as_str(),
            kind: new.kind.as_str(),
            qbxml_version: new.qbxml_version.map(|v| v.to_string()),
            on_error: new.on_error.as_str(),
            request_names: new.request_names.join(","),
            hold_reason: (start.state == JobState::Held).then_some("dependencies"),
            completed_at: start.state.is_final().then_some(new.now),
        }
    }
}

#[async_trait]
impl JobStore for SqlStore {
    async fn enqueue(&self, new: NewJob) -> Result<Enqueued> {
        let by_key = format!("select {COLS} from job where company_id = $1 and idempotency_key = $2");
        let now = new.now;
        let id = new.id;
        let existing = by_backend!(
            self,
            |c| {
                if let Some(key) = &new.idempotency_key {
                    if let Some(job) = c.opt::<Job>(&by_key, &[&new.company_id, key])? {
                        return Ok(Some(job));
                    }
                }
                let mut start = Start::default();
                for dep in &new.depends_on {
                    start.depends_on(*dep, c.opt::<String>(DEP_STATE, &[&dep.0, &new.company_id])?)?;
                }
                let row = NewRow::of(&new, &start);
                let args: [&dyn rusqlite::ToSql; 19] = [
                    &new.id.0,
                    &new.company_id,
                    &row.state,
                    &row.kind,
                    &new.priority,
                    &new.request,
                    &row.qbxml_version,
                    &row.on_error,
                    &row.request_names,
                    &new.max_attempts,
                    &start.diagnostic,
                    &start.error,
                    &new.idempotency_key,
                    &new.webhook_url,
                    &row.hold_reason,
                    &Ts(now),
                    &row.completed_at.map(Ts),
                    &new.iterates,
                    &new.submission_hash,
                ];
                if let Err(e) = c.exec(INSERT_JOB, &args) {
                    return match &new.idempotency_key {
                        // Another process inserted the same key meanwhile.
                        Some(key) if is_unique_violation(&e) => {
                            Ok(Some(c.one::<Job>(&by_key, &[&new.company_id, key])?))
                        }
                        _ if is_unique_violation(&e) => Err(StoreError::Conflict(String::new())),
                        _ => Err(e),
                    };
                }
                for dep in &new.depends_on {
                    c.exec(ADD_DEPENDENCY, &[&new.id.0, &dep.0])?;
                }
                Ok(None)
            },
            |p| {
                let mut tx = p.begin().await?;
                if let Some(key) = &new.idempotency_key {
                    let existing: Option<Job> =
                        sqlx::query_as(&by_key).bind(new.company_id).bind(key).fetch_optional(&mut *tx).await?;
                    if let Some(job) = existing {
                        tx.commit().await?;
                        return Ok(Some(job));
                    }
                }
                let mut start = Start::default();
                for dep in &new.depends_on {
                    let state =
                        sqlx::query_scalar(DEP_STATE).bind(dep.0).bind(new.company_id).fetch_optional(&mut *tx).await?;
                    start.depends_on(*dep, state)?;
                }
                let row = NewRow::of(&new, &start);
                let inserted = sqlx::query(INSERT_JOB)
                    .bind(new.id.0)
                    .bind(new.company_id)
                    .bind(row.state)
                    .bind(row.kind)
                    .bind(new.priority)
                    .bind(&new.request)
                    .bind(&row.qbxml_version)
                    .bind(row.on_error)
                    .bind(&row.request_names)
                    .bind(new.max_attempts)
                    .bind(start.diagnostic)
                    .bind(&start.error)
                    .bind(&new.idempotency_key)
                    .bind(&new.webhook_url)
                    .bind(row.hold_reason)
                    .bind(now)
                    .bind(row.completed_at)
                    .bind(new.iterates)
                    .bind(&new.submission_hash)
                    .execute(&mut *tx)
                    .await;
                if let Err(e) = inserted {
                    tx.rollback().await?;
                    return match (&new.idempotency_key, conflict_on_unique(e, String::new)) {
                        // Raced with an identical submission: return the winner.
                        (Some(key), StoreError::Conflict(_)) => {
                            Ok(Some(sqlx::query_as(&by_key).bind(new.company_id).bind(key).fetch_one(p).await?))
                        }
                        (_, e) => Err(e),
                    };
                }
                for dep in &new.depends_on {
                    sqlx::query(ADD_DEPENDENCY).bind(new.id.0).bind(dep.0).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(None)
            }
        )?;
        if let Some(job) = existing {
            return Ok(Enqueued::Existing(job));
        }
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        if job.state.is_final() {
            // Born failed (a dependency had failed): its webhook is due now.
            self.notifier.notify(job.id);
        }
        Ok(Enqueued::Created(job))
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        let sql = format!("select {COLS} from job where id = $1");
        by_backend!(self, |c| c.opt(&sql, &[&id.0]), |p| Ok(sqlx::query_as(&sql).bind(id.0).fetch_optional(p).await?))
    }

    async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<Job>> {
        let sql = if f.company_id.is_some() { &*LIST_COMPANY_JOBS } else { &*LIST_JOBS };
        let state = f.state.map(|s| s.as_str());
        let limit = f.limit.unwrap_or(100).clamp(1, 1000);
        let (company_id, before) = (f.company_id.unwrap_or(0), f.before_seq.unwrap_or(i64::MAX));
        // A filter on a rare state may walk much of the history: off the
        // writer's queue (see `lite::reader`).
        by_backend!(read self, |c| c.all(sql, &[&company_id, &state, &before, &limit]), |p| Ok(sqlx::query_as(sql)
            .bind(company_id)
            .bind(state)
            .bind(before)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    async fn claim_next(
        &self,
        company_id: i64,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>> {
        let ticket = ticket.0.clone();
        let message_set_id = new_message_set_id();
        by_backend!(
            self,
            |c| Ok(durable_claim(
                c.opt(&CLAIM_SQLITE, &[&company_id, &ticket, &Ts(lease_until), &Ts(now), &message_set_id])?
            )),
            |p| Ok(sqlx::query_as(&CLAIM_POSTGRES)
                .bind(company_id)
                .bind(&ticket)
                .bind(lease_until)
                .bind(now)
                .bind(&message_set_id)
                .fetch_optional(p)
                .await?)
        )
    }

    async fn claim_recovery(
        &self,
        company_id: i64,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>> {
        let ticket = ticket.0.clone();
        by_backend!(self, |c| c.opt(&RECOVER_SQLITE, &[&company_id, &ticket, &Ts(lease_until), &Ts(now)]), |p| Ok(
            sqlx::query_as(&RECOVER_POSTGRES)
                .bind(company_id)
                .bind(&ticket)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(p)
                .await?
        ))
    }

    async fn answered_message_set(&self, user_id: i64, message_set_id: &str) -> Result {
        let sql = "update app_user set last_message_set_id = $2 where id = $1";
        let id = message_set_id.to_owned();
        by_backend!(self, |c| c.exec(sql, &[&user_id, &id]), |p| Ok(sqlx::query(sql)
            .bind(user_id)
            .bind(&id)
            .execute(p)
            .await?
            .rows_affected()))?;
        Ok(())
    }

    async fn awaited_sender(&self, company_id: i64, user_id: i64) -> Result<Option<String>> {
        // The condition of NOT_WAITING_ON_OTHERS, with the user named.
        let sql = "select u.username from job w join app_user u on u.id = w.sent_by \
                   where w.company_id = $1 and w.state = 'unknown' and w.message_set_id is not null \
                   and w.sent_by <> $2 order by w.priority desc, w.seq limit 1";
        by_backend!(self, |c| c.opt(sql, &[&company_id, &user_id]), |p| Ok(sqlx::query_scalar(sql)
            .bind(company_id)
            .bind(user_id)
            .fetch_optional(p)
            .await?))
    }

    async fn hold_unchecked_writes(&self, sent_before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Job>> {
        let sql = HOLD_UNCHECKED.as_str();
        let held = by_backend!(self, |c| c.all(sql, &[&Ts(sent_before), &Ts(now)]), |p| Ok(sqlx::query_as(sql)
            .bind(sent_before)
            .bind(now)
            .fetch_all(p)
            .await?))?;
        Ok(held)
    }

    async fn leased_job(&self, ticket: &TicketHash) -> Result<Option<Job>> {
        let sql = LEASED.as_str();
        let ticket = ticket.0.clone();
        by_backend!(self, |c| c.opt(sql, &[&ticket]), |p| Ok(sqlx::query_as(sql)
            .bind(&ticket)
            .fetch_optional(p)
            .await?))
    }

    async fn complete_job(&self, lease: &Lease, c: Completion, now: DateTime<Utc>) -> Result<bool> {
        // The fence: job, attempt and ticket must all still match. A late
        // answer for a lease that lapsed is still the truth about that
        // attempt, so it is taken while the job waits (queued, unknown) but
        // not once another session claimed it (the attempt moved on).
        let settled = c.state.is_final() || c.state == JobState::Unknown;
        let lease = lease.clone();
        let completed = by_backend!(self, |c_| complete_lite(c_, &lease, c, now), |p| {
            let mut conn = p.acquire().await?;
            complete_pg(&mut conn, &lease, c, now).await
        })?;
        if !completed {
            return Ok(false);
        }
        if settled {
            self.notifier.notify_all();
        }
        Ok(true)
    }

    async fn record_page(
        &self,
        lease: &Lease,
        response: &str,
        statuses: &[RequestStatus],
        iterator_id: Option<&str>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // Fenced like a completion: only the session holding this attempt
        // may add pages, and the iterator id it must continue is recorded
        // with the page in one transaction.
        let hold = "update job set iterator_id = $4, lease_expires_at = $5, updated_at = $6 \
                    where id = $1 and attempt = $2 and ticket_hash = $3 and state = 'sent'";
        let page = "insert into job_page (job_id, attempt, page, response, statuses, created_at) \
                    values ($1, $2, (select coalesce(max(page), 0) + 1 from job_page where job_id = $1 and attempt = $2), \
                    $3, $4, $5)";
        let work = "update session set last_work_at = $2 where ticket_hash = $1";
        let lease = lease.clone();
        let iterator_id = iterator_id.map(str::to_owned);
        let response = response.to_owned();
        let statuses = statuses.to_vec();
        by_backend!(
            self,
            |c| {
                let held = c.exec(
                    hold,
                    &[&lease.job_id.0, &lease.attempt, &lease.ticket_hash.0, &iterator_id, &Ts(lease_until), &Ts(now)],
                )?;
                if held == 0 {
                    return Ok(false);
                }
                c.exec(page, &[&lease.job_id.0, &lease.attempt, &response, &json(&statuses)?, &Ts(now)])?;
                c.exec(work, &[&lease.ticket_hash.0, &Ts(now)])?;
                Ok(true)
            },
            |p| {
                let mut tx = p.begin().await?;
                let rows = sqlx::query(hold)
                    .bind(lease.job_id.0)
                    .bind(lease.attempt)
                    .bind(&lease.ticket_hash.0)
                    .bind(&iterator_id)
                    .bind(lease_until)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if rows == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query(page)
                    .bind(lease.job_id.0)
                    .bind(lease.attempt)
                    .bind(&response)
                    .bind(sqlx::types::Json(&statuses))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(work).bind(&lease.ticket_hash.0).bind(now).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(true)
            }
        )
    }

    async fn pages(&self, id: JobId, attempt: i32) -> Result<Vec<Page>> {
        let sql = "select attempt, page, response, statuses, created_at from job_page \
                   where job_id = $1 and attempt = $2 order by page";
        by_backend!(self, |c| c.all(sql, &[&id.0, &attempt]), |p| Ok(sqlx::query_as(sql)
            .bind(id.0)
            .bind(attempt)
            .fetch_all(p)
            .await?))
    }

    async fn page_count(&self, id: JobId, attempt: i32) -> Result<i64> {
        let sql = "select count(*) from job_page where job_id = $1 and attempt = $2";
        by_backend!(self, |c| c.one(sql, &[&id.0, &attempt]), |p| Ok(sqlx::query_scalar(sql)
            .bind(id.0)
            .bind(attempt)
            .fetch_one(p)
            .await?))
    }

    async fn release_leases(&self, ticket: &TicketHash, now: DateTime<Utc>) -> Result<u64> {
        let ticket = ticket.0.clone();
        let n = by_backend!(
            self,
            |c| {
                let n = c.exec(RELEASE_BY_TICKET, &[&Ts(now), &ticket])?;
                if n > 0 {
                    settle_dependents_lite(c, now)?;
                }
                Ok(n)
            },
            |p| {
                let mut tx = p.begin().await?;
                let n = sqlx::query(RELEASE_BY_TICKET).bind(now).bind(&ticket).execute(&mut *tx).await?.rows_affected();
                if n > 0 {
                    settle_dependents!(tx, now);
                }
                tx.commit().await?;
                Ok(n)
            }
        )?;
        if n > 0 {
            self.notifier.notify_all();
        }
        Ok(n)
    }

    async fn queue_depth(&self, company_id: i64, now: DateTime<Utc>) -> Result<i64> {
        // Three counts, each an equality on job_claim's (company_id, state)
        // prefix. One `or` of the three made both planners walk every job
        // the company ever had, done ones included.
        let sql = "select (select count(*) from job where company_id = $1 and state = 'queued') \
                   + (select count(*) from job where company_id = $1 and state = 'sent' and kind = 'read' \
                      and lease_expires_at <= $2) \
                   + (select count(*) from job where company_id = $1 and state = 'unknown' \
                      and message_set_id is not null)";
        by_backend!(self, |c| c.one(sql, &[&company_id, &Ts(now)]), |p| Ok(sqlx::query_scalar(sql)
            .bind(company_id)
            .bind(now)
            .fetch_one(p)
            .await?))
    }

    async fn queue_depth_at_most(&self, company_id: i64, now: DateTime<Utc>, cap: i64) -> Result<i64> {
        let sql = DEPTH_AT_MOST.as_str();
        let count: i64 =
            by_backend!(self, |c| c.one(sql, &[&company_id, &Ts(now), &cap]), |p| Ok(sqlx::query_scalar(sql)
                .bind(company_id)
                .bind(now)
                .bind(cap)
                .fetch_one(p)
                .await?))?;
        Ok(count.min(cap))
    }

    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job> {
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        if !matches!(job.state, JobState::Failed | JobState::Cancelled) {
            return Err(not_allowed(&job, "retried", "failed or cancelled"));
        }
        // Held while any dependency is not done; RELEASE_DEPENDENTS queues it.
        let sql = "update job set state = 'held', hold_reason = 'dependencies', attempt = 0, ticket_hash = null, \
                   lease_expires_at = null, response = null, statuses = '[]', diagnostic = null, error = null, \
                   completed_at = null, updated_at = $2 where id = $1 and state in ('failed', 'cancelled')";
        self.transition(id, now, sql).await
    }

    async fn cancel_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job> {
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        if !matches!(job.state, JobState::Queued | JobState::Held) {
            return Err(not_allowed(&job, "cancelled", "queued or held"));
        }
        let sql = "update job set state = 'cancelled', hold_reason = null, completed_at = $2, updated_at = $2 \
                   where id = $1 and state in ('queued', 'held')";
        self.transition(id, now, sql).await
    }

    async fn resolve_job(&self, id: JobId, applied: bool, now: DateTime<Utc>) -> Result<Job> {
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        let awaiting_verdict = job.state == JobState::Unknown
            || (job.state == JobState::Held && job.hold_reason.as_deref() == Some("operator"));
        if !awaiting_verdict {
            return Err(not_allowed(&job, "resolved", "unknown (or held for an operator)"));
        }
        // The verdict replaces error recovery: the old message-set id is
        // dropped so the job is not checked again.
        let sql = if applied {
            "update job set state = 'done', diagnostic = null, hold_reason = null, message_set_id = null, \
             error = 'resolved by an operator: applied in QuickBooks', completed_at = $2, updated_at = $2 \
             where id = $1 and (state = 'unknown' or (state = 'held' and hold_reason = 'operator'))"
        } else {
            "update job set state = 'queued', ticket_hash = null, diagnostic = null, hold_reason = null, \
             message_set_id = null, error = 'resolved by an operator: not applied in QuickBooks; queued again', \
             updated_at = $2 where id = $1 and (state = 'unknown' or (state = 'held' and hold_reason = 'operator'))"
        };
        self.transition(id, now, sql).await
    }

    async fn company_job_counts(&self, company_id: i64) -> Result<Vec<(String, i64)>> {
        let sql = "select state, count(*) from job where company_id = $1 group by state order by state";
        by_backend!(self, |c| c.all(sql, &[&company_id]), |p| Ok(sqlx::query_as(sql)
            .bind(company_id)
            .fetch_all(p)
            .await?))
    }
}

impl SqlStore {
    /// Runs one state-guarded update (`$1` id, `$2` now) and settles
    /// dependents, in one transaction. Zero rows means the job changed state
    /// since it was read: a conflict, never a silent no-op.
    async fn transition(&self, id: JobId, now: DateTime<Utc>, sql: &'static str) -> Result<Job> {
        let conflict = move || StoreError::Conflict(format!("job {id} changed state meanwhile; try again"));
        by_backend!(
            self,
            |c| {
                if c.exec(sql, &[&id.0, &Ts(now)])? == 0 {
                    return Err(conflict());
                }
                settle_dependents_lite(c, now)
            },
            |p| {
                let mut tx = p.begin().await?;
                if sqlx::query(sql).bind(id.0).bind(now).execute(&mut *tx).await?.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Err(conflict());
                }
                settle_dependents!(tx, now);
                tx.commit().await?;
                Ok(())
            }
        )?;
        self.notifier.notify_all();
        self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))
    }
}
