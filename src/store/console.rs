//! The reads behind the operator console's pages, each a bounded walk of
//! an index.

use async_trait::async_trait;

use super::{Company, Result, Session, User};

/// Pages of companies, a company's users and its latest sessions.
#[async_trait]
pub trait ConsoleStore: Send + Sync + 'static {
    /// Up to `limit` companies by slug, after `after` (the last slug of the
    /// page before), whose slug starts with `prefix` (empty: any); walks
    /// the slug's unique index.
    async fn company_page(&self, prefix: &str, after: Option<&str>, limit: i64) -> Result<Vec<Company>>;
    /// A company's Web Connector users, by name.
    async fn company_users(&self, company_id: i64) -> Result<Vec<User>>;
    /// A company's latest `limit` sessions, newest first.
    async fn company_sessions(&self, company_id: i64, limit: i64) -> Result<Vec<Session>>;
}
