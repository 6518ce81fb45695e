//! A job's answer: the completion, fenced by job, attempt and ticket,
//! counted on its session, and the dependents it settles.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

use super::depth::{depth_sql, DEPTH_AT_MOST};
use super::release::settle_dependents;
use crate::queue::{Completion, JobState, Lease};
use crate::store::sql::args::{args, pg_args, Arg, Args};
use crate::store::sql::call::{LiteTx, PgTx, Statements};
use crate::store::sql::row::FromPg;
use crate::store::Result;

/// The fenced update of a completion, without its `returning`: `$1` id,
/// `$2` attempt, `$3` ticket hash, `$4` state, `$5` response, `$6`
/// statuses, `$7` diagnostic, `$8` error, `$9` now, `$10` completed at.
/// A late answer for a lease that lapsed is still the truth about that
/// attempt, so it is taken while the job waits (queued, unknown) but not
/// once another session claimed it (the attempt moved on).
const COMPLETE_FENCED: &str = "update job set state = $4, response = $5, statuses = $6, diagnostic = $7, \
    error = $8, lease_expires_at = null, iterator_id = null, recovering = false, updated_at = $9, \
    completed_at = $10, hold_reason = case when $4 = 'held' then 'operator' else null end \
    where id = $1 and attempt = $2 and ticket_hash = $3 and state in ('sent', 'unknown', 'queued')";

/// A completion: [`COMPLETE_FENCED`], answering whether other jobs depend
/// on this one.
pub(in crate::store::sql) static COMPLETE: LazyLock<String> = LazyLock::new(|| {
    format!("{COMPLETE_FENCED} returning exists (select 1 from job_dependency where depends_on = job.id)")
});

/// Counts a completion on its session: `$1` ticket hash, `$2` done, `$3`
/// failed, `$4` problem, `$5` now.
static COUNT_COMPLETION: LazyLock<String> = LazyLock::new(|| count_sql("$1", "$2", "$3", "$4", "$5"));

/// [`COUNT_COMPLETION`] with its parameters named.
fn count_sql(ticket: &str, done: &str, failed: &str, problem: &str, now: &str) -> String {
    format!(
        "update session set jobs_done = jobs_done + {done}, jobs_failed = jobs_failed + {failed}, \
         first_problem = coalesce(first_problem, {problem}), last_work_at = {now} where ticket_hash = {ticket}"
    )
}

/// [`COMPLETE`] and [`COUNT_COMPLETION`] as one Postgres statement (one
/// round trip, atomic), then the company's queue depth as
/// [`DEPTH_AT_MOST`] counts it: `$1`…`$10` as [`COMPLETE`], `$11`/`$12`/
/// `$13` the session's counts and problem, `$14` company, `$15` cap. It
/// touches nothing when another job depends on this one (settling those
/// belongs in the completion's transaction): it answers whether one does,
/// whether the job was completed, and the depth, which all parts of the
/// statement read as it was before the completion.
static COMPLETE_COUNTED_PG: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with deps as (select exists (select 1 from job_dependency where depends_on = $1) as found), \
         done as ({COMPLETE_FENCED} and not (select found from deps) returning 1), \
         counted as ({count} and exists (select 1 from done) returning 1) \
         select (select found from deps), exists (select 1 from done), {depth}",
        count = count_sql("$3", "$11", "$12", "$13", "$9"),
        depth = depth_sql("$14", "$9", "$15"),
    )
});

/// What a completion adds to its session.
struct SessionCounts {
    done: i64,
    failed: i64,
    /// The problem it records, if it failed.
    problem: Option<String>,
}

impl SessionCounts {
    fn of(completion: &Completion) -> SessionCounts {
        let (done, failed) = match completion.state {
            JobState::Done => (1, 0),
            JobState::Failed | JobState::Unknown => (0, 1),
            _ => (0, 0),
        };
        let problem = completion.diagnostic.clone().filter(|_| failed > 0);
        SessionCounts { done, failed, problem }
    }
}

/// [`COMPLETE`]'s arguments. The answer is moved in: it is freed as soon
/// as the statement holds its own copy.
fn completion_args(lease: &Lease, completion: Completion, now: DateTime<Utc>) -> Result<Args> {
    let completed_at = completion.state.is_final().then_some(now);
    Ok(args![
        lease.job_id,
        lease.attempt,
        &lease.ticket_hash.0,
        completion.state.as_str(),
        completion.response,
        Arg::json(&completion.statuses)?,
        completion.diagnostic,
        completion.error,
        now,
        completed_at,
    ])
}

/// [`JobStore::complete_job`](crate::store::JobStore::complete_job) inside
/// the caller's transaction: `false` when the lease was fenced out.
pub(in crate::store::sql) async fn complete(
    tx: &mut impl Statements,
    lease: &Lease,
    completion: Completion,
    now: DateTime<Utc>,
) -> Result<bool> {
    let counts = SessionCounts::of(&completion);
    let is_final = completion.state.is_final();
    let args = completion_args(lease, completion, now)?;
    complete_with(tx, &lease.ticket_hash.0, args, counts, is_final, now).await
}

/// [`complete`] with [`COMPLETE`]'s arguments built.
async fn complete_with(
    tx: &mut impl Statements,
    ticket: &str,
    args: Args,
    counts: SessionCounts,
    is_final: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(has_dependents) = tx.opt::<bool>(&COMPLETE, args).await? else {
        return Ok(false);
    };
    tx.exec(&COUNT_COMPLETION, args![ticket, counts.done, counts.failed, counts.problem, now]).await?;
    // Only jobs that depend on this one can be failed or released by its
    // end; without any, settling would be two more statements on every
    // answer for nothing.
    if is_final && has_dependents {
        settle_dependents(tx, now).await?;
    }
    Ok(true)
}

/// A completion and the company's queue depth after it, the way each
/// backend does it best.
pub(in crate::store::sql) trait CompleteCounted {
    /// Completes the job of `lease` and counts the company's queue as
    /// [`DEPTH_AT_MOST`] does, capped at `cap`. `None` when the lease was
    /// fenced out.
    async fn complete_counted(
        &mut self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
        company_id: i64,
        cap: i64,
    ) -> Result<Option<i64>>;
}

/// On the writer, inside its transaction: statements cost no round trip.
impl CompleteCounted for LiteTx<'_> {
    async fn complete_counted(
        &mut self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
        company_id: i64,
        cap: i64,
    ) -> Result<Option<i64>> {
        if !complete(self, lease, completion, now).await? {
            return Ok(None);
        }
        self.one(&DEPTH_AT_MOST, args![company_id, now, cap]).await.map(Some)
    }
}

/// [`COMPLETE_COUNTED_PG`] in one round trip; a job others depend on is
/// completed in a transaction of its own instead.
impl CompleteCounted for PgTx<'_> {
    async fn complete_counted(
        &mut self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
        company_id: i64,
        cap: i64,
    ) -> Result<Option<i64>> {
        let counts = SessionCounts::of(&completion);
        let state = completion.state;
        let mut args = completion_args(lease, completion, now)?;
        let (done, failed, problem) = (counts.done, counts.failed, counts.problem.clone());
        args.extend(args![done, failed, problem, company_id, cap]);
        // Bound from a borrow: the arguments stay for the dependents' path,
        // at the cost of holding the answer until the statement ran.
        let row = sqlx::query_with(&COMPLETE_COUNTED_PG, pg_args(&args)?).fetch_one(&mut *self.0).await?;
        let (has_dependents, completed, depth) = <(bool, bool, i64)>::from_pg(&row)?;
        if has_dependents {
            args.truncate(10);
            let mut transaction = self.0.begin().await?;
            let completed =
                complete_with(&mut PgTx(&mut transaction), &lease.ticket_hash.0, args, counts, state.is_final(), now)
                    .await?;
            transaction.commit().await?;
            if !completed {
                return Ok(None);
            }
        } else if !completed {
            return Ok(None);
        } else if !matches!(state, JobState::Queued | JobState::Unknown) {
            return Ok(Some(depth));
        }
        // After the transactional path, or when the job went back to the
        // queue or became a write to check (the depth above was read
        // before that): count again.
        self.one(&DEPTH_AT_MOST, args![company_id, now, cap]).await.map(Some)
    }
}
