//! Retention: the reaper deletes events and finished webhook deliveries
//! past their configured age, a bounded batch at a time.
//!
//! Each batch is one short statement on an index (migration 0019), so
//! pruning a large backlog never holds the SQLite writer or a Postgres
//! lock for long; a tick stops after [`MAX_BATCHES`] and the next tick
//! carries on.

use chrono::{DateTime, Duration, Utc};

use crate::config::Settings;
use crate::store::{Store, StoreError};

/// Rows deleted by one statement.
pub const BATCH: i64 = 1000;
/// Batches per table in one reaper tick.
pub const MAX_BATCHES: u32 = 20;

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events deleted.
    pub events: u64,
    /// Finished webhook deliveries deleted.
    pub webhook_deliveries: u64,
}

/// Deletes events older than `event_retention_days` and finished webhook
/// deliveries older than `webhook_retention_days` (0 keeps them), at most
/// [`MAX_BATCHES`] batches of [`BATCH`] each.
///
/// # Errors
/// The store's error; what was deleted before it stays deleted.
pub async fn prune(store: &dyn Store, settings: &Settings, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
    let mut pruned = Pruned::default();
    if let Some(before) = cutoff(now, settings.event_retention_days) {
        for _ in 0..MAX_BATCHES {
            let n = store.prune_events(before, BATCH).await?;
            pruned.events += n;
            if n < BATCH as u64 {
                break;
            }
        }
    }
    if let Some(before) = cutoff(now, settings.webhook_retention_days) {
        for _ in 0..MAX_BATCHES {
            let n = store.prune_webhook_deliveries(before, BATCH).await?;
            pruned.webhook_deliveries += n;
            if n < BATCH as u64 {
                break;
            }
        }
    }
    Ok(pruned)
}

/// The instant before which rows go; `None` for 0 (keep forever).
fn cutoff(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    (days > 0).then(|| now - Duration::days(i64::from(days)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_everything() {
        let now = Utc::now();
        assert_eq!(cutoff(now, 0), None);
        assert_eq!(cutoff(now, 90), Some(now - Duration::days(90)));
    }
}
