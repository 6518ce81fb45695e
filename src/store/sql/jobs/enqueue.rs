//! A new job: its idempotency key, its dependencies, the state it starts in.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::COLS;
use crate::queue::{Job, JobState, NewJob};
use crate::store::sql::args::args;
use crate::store::sql::call::Statements;
use crate::store::sql::unique_conflict;
use crate::store::{Result, StoreError};
use crate::types::JobId;

/// A company's job (`$1`) by idempotency key (`$2`).
pub(super) static BY_KEY: LazyLock<String> =
    LazyLock::new(|| format!("select {COLS} from job where company_id = $1 and idempotency_key = $2"));

const INSERT_JOB: &str = "insert into job (id, company_id, state, kind, priority, request, qbxml_version, on_error, \
    request_names, max_attempts, diagnostic, error, idempotency_key, webhook_url, hold_reason, \
    created_at, updated_at, completed_at, iterates, submission_hash) \
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18, $19)";
const DEP_STATE: &str = "select state from job where id = $1 and company_id = $2";
const ADD_DEPENDENCY: &str = "insert into job_dependency (job_id, depends_on) values ($1, $2) on conflict do nothing";

/// The state a new job starts in, from the states of its dependencies.
struct Initial {
    state: JobState,
    diagnostic: Option<&'static str>,
    error: Option<String>,
}

impl Default for Initial {
    fn default() -> Self {
        Initial { state: JobState::Queued, diagnostic: None, error: None }
    }
}

impl Initial {
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

/// Inserts `new` with its dependencies, inside the caller's transaction:
/// the job already stored under its idempotency key if there is one, else
/// `None`. A key inserted by another process meanwhile is a
/// [`StoreError::Conflict`] (the caller reads the winner after the
/// transaction, which on Postgres cannot go on after the failed insert).
pub(super) async fn insert(tx: &mut impl Statements, new: NewJob) -> Result<Option<Job>> {
    if let Some(key) = &new.idempotency_key {
        if let Some(job) = tx.opt::<Job>(&BY_KEY, args![new.company_id, key]).await? {
            return Ok(Some(job));
        }
    }
    let mut initial = Initial::default();
    for dep in &new.depends_on {
        initial.depends_on(*dep, tx.opt(DEP_STATE, args![*dep, new.company_id]).await?)?;
    }
    let now: DateTime<Utc> = new.now;
    let state = initial.state;
    let args = args![
        new.id,
        new.company_id,
        state.as_str(),
        new.kind.as_str(),
        new.priority,
        new.request,
        new.qbxml_version.map(|v| v.to_string()),
        new.on_error.as_str(),
        new.request_names.join(","),
        new.max_attempts,
        initial.diagnostic,
        initial.error,
        new.idempotency_key,
        new.webhook_url,
        (state == JobState::Held).then_some("dependencies"),
        now,
        state.is_final().then_some(now),
        new.iterates,
        new.submission_hash,
    ];
    tx.exec(INSERT_JOB, args).await.map_err(|e| unique_conflict(e, String::new))?;
    for dep in &new.depends_on {
        tx.exec(ADD_DEPENDENCY, args![new.id, *dep]).await?;
    }
    Ok(None)
}
