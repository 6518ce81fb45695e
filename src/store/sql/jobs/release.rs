//! Leases that end without an answer, and the held jobs that wait on
//! others: both settle once something reached a final state.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use crate::store::sql::args::args;
use crate::store::sql::call::Statements;
use crate::store::Result;

/// How a lease ends without an answer. A read goes back to the queue until
/// its attempts are spent; a write becomes `unknown`, because QuickBooks
/// may have applied it, and is never resent blindly. `$1` is now.
const RELEASE_SET: &str = "update job set \
    state = case when kind = 'write' then 'unknown' when attempt >= max_attempts then 'failed' else 'queued' end, \
    diagnostic = case when kind = 'write' then 'session.answer_lost' \
                      when attempt >= max_attempts then 'job.attempts_exhausted' else diagnostic end, \
    error = case when kind = 'write' then 'the answer to this write was lost: it may or may not have been applied' \
                 when attempt >= max_attempts then 'sent the maximum number of times without an answer' \
                 else error end, \
    completed_at = case when kind = 'read' and attempt >= max_attempts then $1 else completed_at end, \
    lease_expires_at = null, iterator_id = null, updated_at = $1 ";

/// job_leased's predicate word for word, for statements that find leased
/// jobs through it (SQLite matches partial-index predicates as written).
pub(super) const LEASED_PREDICATE: &str = "ticket_hash is not null and state in ('sent', 'unknown', 'queued')";

/// Releases the leases of one ticket (`$2`).
pub(in crate::store::sql) static RELEASE_BY_TICKET: LazyLock<String> =
    LazyLock::new(|| format!("{RELEASE_SET}where ticket_hash = $2 and {LEASED_PREDICATE} and state = 'sent'"));

/// Releases the leases of every open session of one user (`$2`), when the
/// user is removed: as if each session had ended.
pub(in crate::store::sql) static RELEASE_BY_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{RELEASE_SET}where ticket_hash in (select ticket_hash from session where user_id = $2 and state = 'open') \
         and {LEASED_PREDICATE} and state = 'sent'"
    )
});

/// Releases every lease that ran out. It walks job_leased, which holds only
/// jobs that are out or may still take an answer, never the history.
pub(in crate::store::sql) static RELEASE_LAPSED: LazyLock<String> =
    LazyLock::new(|| format!("{RELEASE_SET}where {LEASED_PREDICATE} and state = 'sent' and lease_expires_at <= $1"));

/// Fails held jobs one of whose dependencies failed or was cancelled.
pub(in crate::store::sql) const FAIL_DEPENDENTS: &str = "update job set state = 'failed', hold_reason = null, \
    diagnostic = 'job.dependency_failed', error = 'a job it depends on failed or was cancelled', \
    updated_at = $1, completed_at = $1 \
    where state = 'held' and hold_reason = 'dependencies' and exists (select 1 from job_dependency d \
    join job p on p.id = d.depends_on where d.job_id = job.id and p.state in ('failed', 'cancelled'))";

/// Queues held jobs whose dependencies are all done.
pub(in crate::store::sql) const RELEASE_DEPENDENTS: &str =
    "update job set state = 'queued', hold_reason = null, updated_at = $1 \
    where state = 'held' and hold_reason = 'dependencies' and not exists (select 1 from job_dependency d \
    join job p on p.id = d.depends_on where d.job_id = job.id and p.state <> 'done')";

/// Releases the leases of one ticket and, when any was released, settles
/// held dependents; the number released. Runs inside the caller's
/// transaction.
pub(in crate::store::sql) async fn release_ticket(
    tx: &mut impl Statements,
    ticket: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let released = tx.exec(&RELEASE_BY_TICKET, args![now, ticket]).await?;
    if released > 0 {
        settle_dependents(tx, now).await?;
    }
    Ok(released)
}

/// Settles held dependents after jobs reached final states: failures
/// cascade down chains (one level per pass), then fully satisfied jobs are
/// queued. Runs inside the caller's transaction.
pub(in crate::store::sql) async fn settle_dependents(tx: &mut impl Statements, now: DateTime<Utc>) -> Result {
    while tx.exec(FAIL_DEPENDENTS, args![now]).await? > 0 {}
    tx.exec(RELEASE_DEPENDENTS, args![now]).await?;
    Ok(())
}
