//! The background work `serve` runs beside its listeners, each a task over
//! the shared [`AppState`]: the reaper (expired sessions and leases, lost
//! writes whose sender did not come back, silent connectors, retention),
//! the listener that forwards other replicas' job notifications to this
//! process's long-polls, and webhook delivery ([`webhooks`]).

mod webhooks;

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::silence::{self, SilenceTracker};

/// The running workers; [`Workers::abort`] stops them.
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops every worker (at their next await; nothing they hold is left
    /// half-written, since each store call is its own transaction).
    pub fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Starts the reaper, the notification listener and webhook delivery.
pub fn spawn(state: &AppState) -> Workers {
    Workers {
        tasks: vec![
            tokio::spawn(reap(state.clone())),
            tokio::spawn(listen_for_finished_jobs(state.clone())),
            tokio::spawn(webhooks::deliver_webhooks(state.clone())),
        ],
    }
}

/// Periodically expires idle sessions and lapsed leases, reports silent
/// connectors, and prunes rows past their retention.
async fn reap(state: AppState) {
    let every = Duration::from_secs(state.settings.reaper_interval_seconds.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut silence = SilenceTracker::default();
    loop {
        tick.tick().await;
        match state.store.recover_expired(state.clock.now()).await {
            Ok(r) if r.sessions > 0 || r.leases > 0 => {
                state.metrics.expired(r.sessions, r.leases);
                tracing::info!(sessions = r.sessions, leases = r.leases, "expired idle sessions and lapsed leases");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the reaper could not reach the database"),
        }
        hold_unchecked_writes(&state).await;
        check_silence(&state, &mut silence).await;
        match crate::retention::prune(state.store.as_ref(), &state.settings, state.clock.now()).await {
            Ok(p) if p.events > 0 || p.webhook_deliveries > 0 => {
                state.metrics.pruned("event", p.events);
                state.metrics.pruned("webhook_delivery", p.webhook_deliveries);
                tracing::info!(
                    events = p.events,
                    webhook_deliveries = p.webhook_deliveries,
                    "pruned rows past their retention"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning old events and webhook deliveries failed"),
        }
        state.metrics.upkeep();
    }
}

/// Holds for an operator the lost writes whose sender's Web Connector did
/// not come back within `recovery_wait_seconds` to check them (only it can:
/// QuickBooks keeps recovery records per application), so the company's
/// other connectors may go on. Each hold is an event naming the user.
async fn hold_unchecked_writes(state: &AppState) {
    let now = state.clock.now();
    let wait = i64::try_from(state.settings.recovery_wait_seconds).ok().and_then(chrono::Duration::try_seconds);
    let Some(sent_before) = wait.and_then(|w| now.checked_sub_signed(w)) else {
        return;
    };
    let held = match state.store.hold_unchecked_writes(sent_before, now).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "the recovery wait check could not reach the database");
            return;
        }
    };
    for job in held {
        let message = job.error.clone().unwrap_or_default();
        tracing::warn!(
            diagnostic = "session.recovery_connector_absent",
            job.id = %job.id,
            user.id = ?job.sent_by,
            "a lost write was held for an operator: {message}"
        );
        let event = crate::store::NewEvent {
            at: now,
            company_id: Some(job.company_id),
            user_id: job.sent_by,
            address: None,
            job_id: Some(job.id),
            kind: "job.recovery",
            code: Some("session.recovery_connector_absent".to_owned()),
            message,
        };
        if let Err(e) = state.store.record_event(event).await {
            tracing::warn!(error = %e, "could not record a held write");
        }
    }
}

/// Reports Web Connectors that stopped checking in: the gauge every tick,
/// a `warn` line once per silence.
async fn check_silence(state: &AppState, tracker: &mut SilenceTracker) {
    let users = match state.store.list_users().await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "the silent-connector check could not read the users");
            return;
        }
    };
    let silent = silence::silent_connectors(&users, &state.settings.qwc, state.clock.now());
    state.metrics.set_silent_connectors(silence::per_company(&silent));
    for s in tracker.update(&silent) {
        // An event with the diagnostic opens the problem on the company's
        // health; the connector's next login clears it.
        if let Some(u) = users.iter().find(|u| u.username.as_str() == s.username) {
            let event = crate::store::NewEvent {
                at: state.clock.now(),
                company_id: Some(u.company_id),
                user_id: Some(u.id),
                address: None,
                job_id: None,
                kind: "session.silent",
                code: Some(silence::DIAGNOSTIC.to_owned()),
                message: format!(
                    "the Web Connector of {} last checked in at {} and runs every {} s",
                    s.username, s.last_seen_at, s.expected_every_seconds
                ),
            };
            if let Err(e) = state.store.record_event(event).await {
                tracing::warn!(error = %e, "could not record a silent connector");
            }
        }
        tracing::warn!(
            diagnostic = silence::DIAGNOSTIC,
            user = %s.username,
            company = %s.company,
            last_seen_at = %s.last_seen_at,
            expected_every_seconds = s.expected_every_seconds,
            "the Web Connector of {} has not checked in for {} scheduled runs",
            s.username,
            silence::SILENT_AFTER_INTERVALS,
        );
    }
}

/// Forwards other replicas' job notifications to this process's waiters
/// for as long as the server runs (Postgres; returns at once on SQLite).
async fn listen_for_finished_jobs(state: AppState) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match state.store.listen_for_finished_jobs().await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "cannot listen for finished jobs; long-polls fall back to their timeouts meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
