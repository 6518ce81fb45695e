//! The reads behind the operator console's pages, each a bounded walk of
//! an index.

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::{Company, Result, Session, User};
use crate::types::JobId;

/// A job as a session's timeline shows it (no bodies).
#[derive(Clone, Debug)]
pub struct SessionJob {
    /// The job.
    pub id: JobId,
    /// Its state now.
    pub state: String,
    /// The `…Rq` names it carries.
    pub request_names: String,
    /// Its diagnostic code, if it failed.
    pub diagnostic: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

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
    /// The first `limit` jobs last sent in a session (by its ticket hash),
    /// in the order they were queued.
    async fn session_jobs(&self, ticket_hash: &str, limit: i64) -> Result<Vec<SessionJob>>;
}
