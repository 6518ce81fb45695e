//! Counts and the schema check for operations.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;

use super::args::args;
use super::{Backend, SqlStore};
use crate::store::{JobCount, OpsStore, Result, SchemaStatus};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[async_trait]
impl OpsStore for SqlStore {
    async fn job_counts(&self) -> Result<Vec<JobCount>> {
        let sql = "select c.slug, j.state, count(*) from job j join company c on c.id = j.company_id \
                   group by c.slug, j.state order by c.slug, j.state";
        // Every job is counted: off the writer's queue (see `lite::reader`).
        let rows: Vec<(String, String, i64)> = self.read_all(sql, args![]).await?;
        Ok(rows.into_iter().map(|(company, state, count)| JobCount { company, state, count }).collect())
    }

    async fn open_session_count(&self, now: DateTime<Utc>) -> Result<i64> {
        let sql = "select count(*) from session where state = 'open' and expires_at > $1";
        self.one(sql, args![now]).await
    }

    async fn schema_status(&self) -> Result<SchemaStatus> {
        let migrator = match self.backend() {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let exists_sql = match self.backend() {
            Backend::Sqlite => "select count(*) from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
            Backend::Postgres => {
                "select count(*) from information_schema.tables \
                                  where table_name = '_sqlx_migrations' and table_schema = current_schema()"
            }
        };
        let exists: i64 = self.one(exists_sql, args![]).await?;
        let expected: Vec<i64> =
            migrator.iter().filter(|m| !m.migration_type.is_down_migration()).map(|m| m.version).collect();
        if exists == 0 {
            return Ok(SchemaStatus {
                expected: expected.len(),
                missing: expected,
                unknown: Vec::new(),
                table_exists: false,
            });
        }
        let applied_sql = "select version from _sqlx_migrations where success = true";
        let applied: Vec<i64> = self.all(applied_sql, args![]).await?;
        let missing = expected.iter().copied().filter(|v| !applied.contains(v)).collect();
        let unknown = applied.iter().copied().filter(|v| !expected.contains(v)).collect();
        Ok(SchemaStatus { expected: expected.len(), missing, unknown, table_exists: true })
    }
}
