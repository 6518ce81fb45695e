//! Claiming the next job of a company for a session: the head of its
//! queue, or a lost write of the session's user to check first.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::release::LEASED_PREDICATE;
use super::COLS;
use crate::queue::{Job, JobKind};
use crate::store::sql::args::args;
use crate::store::sql::call::Statements;
use crate::store::sql::Backend;
use crate::store::Result;

/// The job last sent to a ticket (`$1`) that may still take its answer,
/// found through job_leased (whose predicate this repeats word for word).
pub(in crate::store::sql) static LEASED: LazyLock<String> = LazyLock::new(|| {
    format!("select {COLS} from job where ticket_hash = $1 and {LEASED_PREDICATE} order by sent_at desc limit 1")
});

/// Postgres' row lock on a claimed row: racing replicas pass each other
/// instead of waiting. SQLite has a single writer and needs none.
const SKIP_LOCKED: &str = " for update skip locked";

pub(in crate::store::sql) static CLAIM_SQLITE: LazyLock<String> =
    LazyLock::new(|| claim_sql("queued", &NOT_WAITING_ON_OTHERS, ""));
static CLAIM_POSTGRES: LazyLock<String> = LazyLock::new(|| claim_sql("queued", &NOT_WAITING_ON_OTHERS, SKIP_LOCKED));

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

/// [`JobStore::awaited_sender`](crate::store::JobStore::awaited_sender):
/// the condition of [`NOT_WAITING_ON_OTHERS`], with the user named.
pub(super) const AWAITED_SENDER: &str = "select u.username from job w join app_user u on u.id = w.sent_by \
    where w.company_id = $1 and w.state = 'unknown' and w.message_set_id is not null \
    and w.sent_by <> $2 order by w.priority desc, w.seq limit 1";

/// The recovery claim, else the claim, in one statement.
pub(in crate::store::sql) static NEXT_SQLITE: LazyLock<String> = LazyLock::new(|| next_sql(""));
static NEXT_POSTGRES: LazyLock<String> = LazyLock::new(|| next_sql(SKIP_LOCKED));

/// Builds [`NEXT_SQLITE`] and its Postgres twin: the recovery claim and
/// the claim as one statement (one round trip): the head of the company's
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

/// Builds the claim statements: pick the head of the company's jobs in
/// state `from` and lease it, in one statement (`$1` company, `$2` ticket,
/// `$3` lease end, `$4` now, `$5` a new message-set id). A write gets its
/// message-set id here, persisted before the request leaves; a recovery
/// check keeps the id it was sent with. The claiming session's user is
/// recorded as the sender (`sent_by`).
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

/// Which claim a call makes.
#[derive(Clone, Copy)]
pub(in crate::store::sql) enum Claim {
    /// The head of the queue.
    Queued,
    /// A lost write to check if there is one, else the head of the queue.
    Next,
}

impl Claim {
    /// The statement of this claim on `backend`.
    fn sql(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Claim::Queued, Backend::Sqlite) => &CLAIM_SQLITE,
            (Claim::Queued, Backend::Postgres) => &CLAIM_POSTGRES,
            (Claim::Next, Backend::Sqlite) => &NEXT_SQLITE,
            (Claim::Next, Backend::Postgres) => &NEXT_POSTGRES,
        }
    }
}

/// Claims the next job of company `company_id` for `ticket`. A claimed
/// write (not a recovery check, which re-sends nothing QuickBooks could
/// apply twice) is on disk before it is answered: see
/// [`Statements::sync_at_commit`].
pub(in crate::store::sql) async fn claim(
    tx: &mut impl Statements,
    claim: Claim,
    company_id: i64,
    ticket: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<Job>> {
    let sql = claim.sql(tx.backend());
    // `$5`: the message-set id a claimed write is sent with.
    let args = args![company_id, ticket, lease_until, now, new_message_set_id()];
    let job: Option<Job> = tx.opt(sql, args).await?;
    if job.as_ref().is_some_and(|j| j.kind == JobKind::Write && !j.recovering) {
        tx.sync_at_commit();
    }
    Ok(job)
}

/// [`JobStore::hold_unchecked_writes`](crate::store::JobStore::hold_unchecked_writes):
/// `$1` sent before, `$2` now. Lost writes keep their ticket, so
/// job_leased (whose predicate this repeats) finds them without walking
/// the history. The error names the sender, composed here so the hold and
/// its reason are one statement.
pub(super) static HOLD_UNCHECKED: LazyLock<String> = LazyLock::new(|| {
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

/// A message-set id: 20 characters of [0-9a-z], within qbXML's 23.
/// It need only be unique, not secret: the thread-local CSPRNG (seeded from
/// the OS) serves; `OsRng` would be a system call per character on every
/// claim.
fn new_message_set_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}
