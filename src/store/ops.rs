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
    /// Applied migrations this build does not know, by version: a newer
    /// qbwcd migrated the database.
    pub unknown: Vec<i64>,
    /// Whether the migrations table exists at all.
    pub table_exists: bool,
}

impl SchemaStatus {
    /// Every embedded migration is applied (a newer binary's migrations
    /// may be applied as well; see [`SchemaStatus::is_newer`]).
    pub fn is_current(&self) -> bool {
        self.table_exists && self.missing.is_empty()
    }

    /// A newer qbwcd migrated the database: this binary does not know all
    /// of its schema.
    pub fn is_newer(&self) -> bool {
        !self.unknown.is_empty()
    }

    /// Exactly the schema this build expects: neither behind nor ahead.
    pub fn is_exact(&self) -> bool {
        self.is_current() && !self.is_newer()
    }

    /// One line for people: how the schema stands and, when it is not
    /// what this build expects, what to run.
    pub fn describe(&self) -> String {
        let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        if !self.table_exists {
            return "the database has no schema yet (no _sqlx_migrations table); run `qbwcd migrate`".into();
        }
        if self.is_newer() {
            return format!(
                "the database was migrated by a newer qbwcd (migration{} {} unknown to this one); upgrade qbwcd",
                if self.unknown.len() == 1 { "" } else { "s" },
                list(&self.unknown)
            );
        }
        if self.missing.is_empty() {
            return format!("all {} migrations applied", self.expected);
        }
        format!(
            "{} of {} migrations not applied (versions {}); run `qbwcd migrate`",
            self.missing.len(),
            self.expected,
            list(&self.missing)
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
