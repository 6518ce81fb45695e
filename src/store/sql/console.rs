//! The console's page reads.

use std::sync::LazyLock;

use async_trait::async_trait;

use super::accounts::COMPANY;
use super::args::{args, Arg, Args};
use super::sessions::SESSION;
use super::SqlStore;
use crate::store::{Company, ConsoleStore, Problem, Result, Session, SessionJob};

/// [`ConsoleStore::recent_session_jobs`]: `$1` the company, `$2` how many.
pub(super) const RECENT_SESSION_JOBS: &str =
    "select ticket_hash, id, state, request_names, diagnostic, updated_at from job \
     where company_id = $1 and ticket_hash is not null order by seq desc limit $2";

/// `$1, $2, …` for `n` values.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// [`ConsoleStore::job_counts_of`] for `n` companies: the companies'
/// ranges of `job_claim (company_id, state, …)`, counted in its order.
pub(super) fn job_counts_sql(n: usize) -> String {
    format!(
        "select company_id, state, count(*) from job where company_id in ({}) \
         group by company_id, state order by company_id, state",
        placeholders(n)
    )
}

/// [`ConsoleStore::open_problems_of`] for `n` companies, on
/// `problem_open (company_id, code) where cleared_at is null` (the sort is
/// of the open problems alone: at most one per company and code).
pub(super) fn open_problems_sql(n: usize) -> String {
    format!(
        "select id, company_id, code, first_seen, last_seen, count, cleared_at, last_detail, last_event_id \
         from problem where company_id in ({}) and cleared_at is null order by company_id, last_event_id desc",
        placeholders(n)
    )
}

/// [`ConsoleStore::company_page`]: `$1` the prefix, `$2` the prefix and
/// `~`, `$3` the slug after which, `$4` how many.
pub(super) static COMPANY_PAGE: LazyLock<String> =
    LazyLock::new(|| format!("{COMPANY} where slug >= $1 and slug < $2 and slug > $3 order by slug limit $4"));

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn company_page(&self, prefix: &str, after: Option<&str>, limit: i64) -> Result<Vec<Company>> {
        // A prefix as a range on the slug (slugs are lower-case ASCII, so
        // every slug with the prefix sorts below prefix || '~'); a `like`
        // would not use the index on Postgres' default collation.
        let high = format!("{prefix}~");
        self.read_all(COMPANY_PAGE.as_str(), args![prefix, high, after.unwrap_or(""), limit]).await
    }

    async fn company_sessions(&self, company_id: i64, limit: i64) -> Result<Vec<Session>> {
        let sql = format!("{} where s.company_id = $1 order by s.created_at desc limit $2", *SESSION);
        self.read_all(sql, args![company_id, limit]).await
    }

    async fn recent_session_jobs(&self, company_id: i64, limit: i64) -> Result<Vec<SessionJob>> {
        self.read_all(RECENT_SESSION_JOBS, args![company_id, limit]).await
    }

    async fn job_counts_of(&self, company_ids: &[i64]) -> Result<Vec<(i64, String, i64)>> {
        if company_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Args = company_ids.iter().map(|&id| Arg::from(id)).collect();
        self.read_all(job_counts_sql(company_ids.len()), ids).await
    }

    async fn open_problems_of(&self, company_ids: &[i64]) -> Result<Vec<Problem>> {
        if company_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Args = company_ids.iter().map(|&id| Arg::from(id)).collect();
        self.read_all(open_problems_sql(company_ids.len()), ids).await
    }
}
