//! The console's page reads.

use async_trait::async_trait;

use super::accounts::COMPANY;
use super::args::args;
use super::sessions::SESSION;
use super::SqlStore;
use crate::store::{Company, ConsoleStore, Result, Session, SessionJob};

/// [`ConsoleStore::recent_session_jobs`]: `$1` the company, `$2` how many.
pub(super) const RECENT_SESSION_JOBS: &str =
    "select ticket_hash, id, state, request_names, diagnostic, updated_at from job \
     where company_id = $1 and ticket_hash is not null order by seq desc limit $2";

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn company_page(&self, prefix: &str, after: Option<&str>, limit: i64) -> Result<Vec<Company>> {
        // A prefix as a range on the slug (slugs are lower-case ASCII, so
        // every slug with the prefix sorts below prefix || '~'); a `like`
        // would not use the index on Postgres' default collation.
        let sql = format!("{COMPANY} where slug >= $1 and slug < $2 and slug > $3 order by slug limit $4");
        let high = format!("{prefix}~");
        self.read_all(sql, args![prefix, high, after.unwrap_or(""), limit]).await
    }

    async fn company_sessions(&self, company_id: i64, limit: i64) -> Result<Vec<Session>> {
        let sql = format!("{} where s.company_id = $1 order by s.created_at desc limit $2", *SESSION);
        self.read_all(sql, args![company_id, limit]).await
    }

    async fn recent_session_jobs(&self, company_id: i64, limit: i64) -> Result<Vec<SessionJob>> {
        self.read_all(RECENT_SESSION_JOBS, args![company_id, limit]).await
    }
}
