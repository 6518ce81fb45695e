//! Settled jobs: wake-ups across replicas ([`NotifyStore`]) and the webhook
//! outbox ([`WebhookStore`]).

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;

use super::args::args;
use super::{found, Backend, Db, SqlStore};
use crate::store::{JobNotifier, NotifyStore, Result, WebhookAttempt, WebhookDelivery, WebhookStore};
use crate::types::JobId;

/// The channel the `job_finished` trigger notifies (migration 0003).
const CHANNEL: &str = "qbwcd_job";

const COLS: &str = "id, event_id, job_id, job_state, url, state, attempts, last_status, last_error, occurred_at, \
                    next_attempt_at, delivered_at";

static CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| claim_sql(""));
static CLAIM_POSTGRES: LazyLock<String> = LazyLock::new(|| claim_sql(" for update skip locked"));

/// A job's last delivery (`$1`).
static LAST_OF_JOB: LazyLock<String> =
    LazyLock::new(|| format!("select {COLS} from webhook_delivery where job_id = $1 order by id desc limit 1"));
/// A job's deliveries (`$1`), oldest first.
static ALL_OF_JOB: LazyLock<String> =
    LazyLock::new(|| format!("select {COLS} from webhook_delivery where job_id = $1 order by id"));

/// Builds the claims: take due rows for a while (`$1` now, `$2` until,
/// `$3` at most). On Postgres, `skip locked` lets replicas take different
/// rows instead of delivering the same event twice; SQLite has one
/// writer, so the statement is atomic as is.
fn claim_sql(lock: &str) -> String {
    format!(
        "update webhook_delivery set locked_until = $2 where id in (select id from webhook_delivery \
         where state = 'pending' and next_attempt_at <= $1 and (locked_until is null or locked_until <= $1) \
         order by next_attempt_at, id limit $3{lock}) returning {COLS}"
    )
}

#[async_trait]
impl NotifyStore for SqlStore {
    fn notifier(&self) -> &JobNotifier {
        &self.notifier
    }

    async fn listen_for_finished_jobs(&self) -> Result {
        let Db::Postgres(pool) = &self.db else { return Ok(()) };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        // Anything that finished before the LISTEN took effect is found by
        // the subscribers' own reads; wake them once to look.
        self.notifier.notify_all();
        loop {
            match listener.try_recv().await? {
                Some(n) => match uuid::Uuid::parse_str(n.payload()) {
                    Ok(id) => self.notifier.notify(JobId(id)),
                    Err(_) => tracing::warn!(payload_bytes = n.payload().len(), "ignored a malformed job notification"),
                },
                // The connection dropped and will be re-established by the
                // next call; notifications in between are lost, so everyone
                // looks again.
                None => {
                    tracing::warn!("the job notification connection dropped; reconnecting");
                    self.notifier.notify_all();
                }
            }
        }
    }
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn company_webhook(&self, company_id: i64) -> Result<Option<String>> {
        let sql = "select webhook_url from company where id = $1";
        let url: Option<Option<String>> = self.opt(sql, args![company_id]).await?;
        Ok(url.flatten())
    }

    async fn claim_webhooks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        let sql = match self.backend() {
            Backend::Sqlite => &CLAIM_SQLITE,
            Backend::Postgres => &CLAIM_POSTGRES,
        };
        self.all(sql.as_str(), args![now, lease_until, limit]).await
    }

    async fn record_webhook_attempt(&self, id: i64, a: &WebhookAttempt) -> Result {
        let sql = "update webhook_delivery set attempts = attempts + 1, state = $2, last_status = $3, \
                   last_error = $4, next_attempt_at = $5, delivered_at = $6, locked_until = null where id = $1";
        let rows = self.exec(sql, args![id, a.state, a.status, &a.error, a.next_attempt_at, a.delivered_at]).await?;
        found(rows, || format!("webhook delivery {id}"))
    }

    async fn next_webhook_due(&self) -> Result<Option<DateTime<Utc>>> {
        // A claimed row falls due again when its claim lapses.
        let sql = "select min(case when locked_until is not null and locked_until > next_attempt_at \
                   then locked_until else next_attempt_at end) from webhook_delivery where state = 'pending'";
        self.one(sql, args![]).await
    }

    async fn job_webhook(&self, job: JobId) -> Result<Option<WebhookDelivery>> {
        self.opt(LAST_OF_JOB.as_str(), args![job]).await
    }

    async fn job_webhooks(&self, job: JobId) -> Result<Vec<WebhookDelivery>> {
        self.all(ALL_OF_JOB.as_str(), args![job]).await
    }

    async fn prune_webhook_deliveries(&self, before: DateTime<Utc>, limit: i64) -> Result<u64> {
        // Through the partial index `webhook_delivery_finished` (migration
        // 0019), whose predicate this repeats word for word.
        let sql = "delete from webhook_delivery where id in (select id from webhook_delivery \
                   where state <> 'pending' and occurred_at < $1 order by occurred_at limit $2)";
        self.exec(sql, args![before, limit]).await
    }
}
