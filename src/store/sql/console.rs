//! The console's page reads.

use async_trait::async_trait;

use super::accounts::{COMPANY, USER};
use super::args::args;
use super::sessions::SESSION;
use super::SqlStore;
use crate::store::{Company, ConsoleStore, Result, Session, SessionJob, User};

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

    async fn company_users(&self, company_id: i64) -> Result<Vec<User>> {
        self.read_all(format!("{USER} where u.company_id = $1 order by u.username"), args![company_id]).await
    }

    async fn company_sessions(&self, company_id: i64, limit: i64) -> Result<Vec<Session>> {
        let sql = format!("{} where s.company_id = $1 order by s.created_at desc limit $2", *SESSION);
        self.read_all(sql, args![company_id, limit]).await
    }

    async fn session_jobs(&self, ticket_hash: &str, limit: i64) -> Result<Vec<SessionJob>> {
        let sql = "select id, state, request_names, diagnostic, updated_at from job where ticket_hash = $1 \
                   order by seq limit $2";
        self.read_all(sql, args![ticket_hash, limit]).await
    }
}
