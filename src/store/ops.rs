//! What operations asks of the store: gauges for `/metrics` and the schema
//! check behind `/readyz` and `qbwcd doctor`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Result;

/// Jobs of one company in one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCount {
    /// Company slug.
    pub company: String,
    /// Job state (`queued`, `sent`, …).
    pub state: String,
    /// How many.
    pub count: i64,
}

/// How the database's schema compares with the migrations built in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations this build embeds.
    pub expected: usize,
    /// Embedded migrations not (successfully) applied, by version.
    pub missing: Vec<i64>,
    /// Whether the migrations table exists at all.
    pub table_exists: bool,
}

impl SchemaStatus {
    /// Every embedded migration is applied.
    pub fn is_current(&self) -> bool {
        self.table_exists && self.missing.is_empty()
    }

    /// One line for people: why the schema is not current.
    pub fn describe(&self) -> String {
        if !self.table_exists {
            return "the database has no schema yet (no _sqlx_migrations table); run `qbwcd migrate`".into();
        }
        if self.missing.is_empty() {
            return format!("all {} migrations applied", self.expected);
        }
        let versions: Vec<String> = self.missing.iter().map(i64::to_string).collect();
        format!(
            "{} of {} migrations not applied (versions {}); run `qbwcd migrate`",
            self.missing.len(),
            self.expected,
            versions.join(", ")
        )
    }
}

/// Counts and checks for operations; each is one cheap query.
#[async_trait]
pub trait OpsStore: Send + Sync + 'static {
    /// Jobs grouped by company and state (one grouped count).
    async fn job_counts(&self) -> Result<Vec<JobCount>>;
    /// Sessions open and not idle past their expiry at `now`.
    async fn open_session_count(&self, now: DateTime<Utc>) -> Result<i64>;
    /// Compares `_sqlx_migrations` with the migrations built in.
    /// A missing table is reported in the status, not as an error.
    async fn schema_status(&self) -> Result<SchemaStatus>;
}
