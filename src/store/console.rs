//! The reads behind the operator console's pages, each a bounded walk of
//! an index.

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::{Company, Problem, Result, Session};
use crate::types::JobId;

/// A job as a session's timeline shows it (no bodies).
#[derive(Clone, Debug)]
pub struct SessionJob {
    /// The hash of the ticket of the session that last sent it.
    pub ticket_hash: String,
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
    /// A company's latest `limit` sessions, newest first.
    async fn company_sessions(&self, company_id: i64, limit: i64) -> Result<Vec<Session>>;
    /// The company's latest `limit` jobs that a session has sent, newest
    /// first, each with its session's ticket hash: the timeline sorts them
    /// onto its sessions. One range read on `job_company_seq`, bounded by
    /// `limit`, since no index leads with the ticket (it would cost every
    /// claim an index write) and a walk per session would read the whole
    /// history for a session that sent nothing.
    async fn recent_session_jobs(&self, company_id: i64, limit: i64) -> Result<Vec<SessionJob>>;
    /// The jobs of each of `company_ids` (a page of the company list)
    /// counted by state, in one read: `(company id, state, count)` in
    /// company and state order. A read per company would put a page's
    /// rows one after another in the writer's queue.
    async fn job_counts_of(&self, company_ids: &[i64]) -> Result<Vec<(i64, String, i64)>>;
    /// The open problems of each of `company_ids`, in one read: in company
    /// order, each company's latest first.
    async fn open_problems_of(&self, company_ids: &[i64]) -> Result<Vec<Problem>>;
}
