//! Webhook delivery. Database triggers write each event to the
//! `webhook_delivery` outbox in the same transaction as the job's
//! transition; this worker claims due rows (Postgres `skip locked`, so
//! replicas share the work without sending an event twice), POSTs them off
//! the request path, and records each attempt; failures are retried with
//! exponential backoff up to `webhook_max_attempts`. Delivery is at least
//! once: receivers deduplicate on `X-Qbwcd-Event-Id`. The event and its
//! signature are the API's ([`crate::api::WebhookEvent`], [`crate::api::sign`]).

use std::time::Duration;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinSet;

use crate::api::webhook_guard::{self, AllowHosts, GuardedResolver, Refused};
use crate::api::{sign, JobView, WebhookEvent, EVENT_ID_HEADER, SIGNATURE_HEADER};
use crate::app::AppState;
use crate::store::{WebhookAttempt, WebhookDelivery};

/// Rows claimed at once.
const BATCH: usize = 16;
/// Shortest and longest idle sleeps of the worker. The longest bounds how
/// late an event written by another process without a notification (the
/// CLI on SQLite) is picked up.
const MIN_IDLE: Duration = Duration::from_millis(50);
const MAX_IDLE: Duration = Duration::from_secs(30);

/// The wait before attempt `attempts + 1` after `attempts` failures:
/// `base · 2^(attempts-1)`, at most `max`, plus up to 10 % jitter so
/// receivers coming back are not hit by every replica at once.
pub fn backoff(attempts: i32, base: Duration, max: Duration) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
    let d = base.saturating_mul(1u32 << exp).min(max);
    d + d.mul_f64(rand::thread_rng().gen_range(0.0..0.1))
}

/// Delivers webhooks until the task is aborted. Without `webhook_secret`
/// nothing is sent: events stay pending in the outbox, and a warning is
/// logged once an event is actually waiting (a deployment that does not use
/// webhooks is not warned at every start).
pub async fn deliver_webhooks(state: AppState) {
    let Some(secret) = state.settings.webhook_secret.clone() else {
        warn_when_events_wait(&state).await;
        return;
    };
    let deliverer = match Deliverer::new(state, secret) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not sent");
            return;
        }
    };
    deliverer.run().await;
}

/// Without a secret: checks now and then whether an event waits, and says
/// so once.
async fn warn_when_events_wait(state: &AppState) {
    loop {
        if let Ok(Some(_)) = state.store.next_webhook_due().await {
            tracing::warn!(
                "a webhook event is waiting but webhook_secret is not set: webhooks are not sent; events wait in \
                 the outbox until it is set (QBWCD_WEBHOOK_SECRET) and qbwcd restarts"
            );
            return;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// Claims and sends due webhook events.
pub struct Deliverer {
    state: AppState,
    http: reqwest::Client,
    secret: SecretString,
}

impl Deliverer {
    /// A deliverer with its own HTTP client: no redirects (a receiver that
    /// moved must be reconfigured, not followed blindly), no proxy, and a
    /// resolver that never hands out an internal address (SSRF, DNS
    /// rebinding; see [`crate::api::webhook_guard`]).
    ///
    /// # Errors
    /// When the TLS client cannot be built.
    pub fn new(state: AppState, secret: SecretString) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(state.settings.webhook_timeout_seconds.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(GuardedResolver::new(AllowHosts::new(
                &state.settings.webhook_allow_hosts,
            ))))
            .user_agent(concat!("qbwcd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer { state, http, secret })
    }

    async fn run(self) {
        let mut changes = self.state.store.notifier().any_change();
        loop {
            let idle = match self.deliver_due().await {
                Ok(n) if n == BATCH => continue,
                Ok(_) => self.idle_time().await,
                Err(e) => {
                    tracing::error!(error = %e, "webhook delivery could not reach the database");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }

    async fn idle_time(&self) -> Duration {
        match self.state.store.next_webhook_due().await {
            Ok(Some(due)) => (due - self.state.clock.now()).to_std().unwrap_or_default().clamp(MIN_IDLE, MAX_IDLE),
            Ok(None) => MAX_IDLE,
            Err(_) => Duration::from_secs(5),
        }
    }

    /// Claims the due events and sends them concurrently; returns how many
    /// were attempted.
    ///
    /// # Errors
    /// When the outbox cannot be read.
    pub async fn deliver_due(&self) -> Result<usize, crate::store::StoreError> {
        let now = self.state.clock.now();
        // Held for longer than one attempt can take, so a slow receiver is
        // never sent the same event by a second worker meanwhile.
        let hold = chrono::Duration::seconds(self.state.settings.webhook_timeout_seconds as i64 + 60);
        let due = self.state.store.claim_webhooks(now, now + hold, BATCH as i64).await?;
        let n = due.len();
        let mut sends = JoinSet::new();
        for d in due {
            let this = Deliverer { state: self.state.clone(), http: self.http.clone(), secret: self.secret.clone() };
            sends.spawn(async move { this.deliver(d).await });
        }
        while let Some(done) = sends.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a webhook delivery task failed");
            }
        }
        Ok(n)
    }

    async fn deliver(&self, d: WebhookDelivery) {
        let s = &self.state.settings;
        let started = std::time::Instant::now();
        let (status, error) = match self.event_body(&d).await {
            Ok(body) => self.post(&d, body).await,
            Err(e) => (None, Some(e)),
        };
        let now = self.state.clock.now();
        let attempts = d.attempts + 1;
        let ok = status.is_some_and(|c| (200..300).contains(&c));
        let state = if ok {
            "delivered"
        } else if attempts >= s.webhook_max_attempts {
            "failed"
        } else {
            "pending"
        };
        let wait = backoff(
            attempts,
            Duration::from_secs(s.webhook_retry_base_seconds),
            Duration::from_secs(s.webhook_retry_max_seconds),
        );
        let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
        let outcome = match (state, status) {
            ("delivered", _) => "delivered",
            ("failed", _) => "gave_up",
            (_, Some(_)) => "http_error",
            _ if error.as_deref() == Some(TIMED_OUT) => "timeout",
            _ if error.as_deref().is_some_and(|e| e.starts_with("refused")) => "refused",
            _ => "connect_error",
        };
        self.state.metrics.webhook_delivery(outcome, started.elapsed());
        let host = url::Url::parse(&d.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        match state {
            "delivered" => tracing::info!(job.id = %d.job_id, event.id = %d.event_id, webhook.host = %host,
                http.status = status, attempts, "webhook delivered"),
            "failed" => tracing::warn!(job.id = %d.job_id, event.id = %d.event_id, webhook.host = %host,
                http.status = status, error = error.as_deref(), attempts, "webhook given up"),
            _ => tracing::info!(job.id = %d.job_id, event.id = %d.event_id, webhook.host = %host,
                http.status = status, error = error.as_deref(), attempts, retry_at = %next, "webhook failed; will retry"),
        }
        let attempt = WebhookAttempt {
            state,
            status,
            error: if ok { None } else { error.or_else(|| status.map(|c| format!("the receiver answered HTTP {c}"))) },
            next_attempt_at: next,
            delivered_at: ok.then_some(now),
        };
        if let Err(e) = self.state.store.record_webhook_attempt(d.id, &attempt).await {
            // The claim lapses and the event is sent again: at least once.
            tracing::error!(error = %e, event.id = %d.event_id, "could not record a webhook attempt");
        }
    }

    async fn event_body(&self, d: &WebhookDelivery) -> Result<Vec<u8>, String> {
        let store = &self.state.store;
        let job = store.job(d.job_id).await.map_err(|e| e.to_string())?.ok_or("the job no longer exists")?;
        let company = store.company_by_id(job.company_id).await.map_err(|e| e.to_string())?;
        let slug = company.as_ref().map(|c| c.slug.to_string());
        let result = if self.state.settings.webhook_include_result {
            let pages = if job.iterates {
                Some(store.pages(job.id, job.attempt).await.map_err(|e| e.to_string())?)
            } else {
                None
            };
            crate::api::job_result(&job, pages.as_deref(), company.as_ref().and_then(crate::submit::reported_version))
        } else {
            None
        };
        let mut view = JobView::of(job, slug.as_deref().unwrap_or_default(), false);
        view.result = result;
        let event = WebhookEvent {
            id: d.event_id.clone(),
            kind: "job.finished",
            state: d.job_state.clone(),
            occurred_at: d.occurred_at,
            job: view,
        };
        serde_json::to_vec(&event).map_err(|e| e.to_string())
    }

    async fn post(&self, d: &WebhookDelivery, body: Vec<u8>) -> (Option<i32>, Option<String>) {
        // The client resolves names through the guard; an IP literal it
        // would connect to as written, so it is checked here, unsent.
        let allow = AllowHosts::new(&self.state.settings.webhook_allow_hosts);
        match url::Url::parse(&d.url) {
            Ok(url) => {
                if let Some(refused) = webhook_guard::literal_refusal(&url, &allow) {
                    return (None, Some(refusal_text(&refused)));
                }
            }
            Err(_) => return (None, Some(refusal_text(&Refused::NotHttp))),
        }
        let t = self.state.clock.now().timestamp();
        let sig = sign(self.secret.expose_secret().as_bytes(), t, &body);
        let sent = self
            .http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, format!("t={t},v1={sig}"))
            .header(EVENT_ID_HEADER, &d.event_id)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => (Some(i32::from(resp.status().as_u16())), None),
            Err(e) => (None, Some(failure_text(&e))),
        }
    }
}

/// What a failed attempt records for a timeout.
const TIMED_OUT: &str = "timed out";

/// What a failed attempt records: a few fixed words, never the OS error
/// (whose wording tells an open port from a closed one to whoever can read
/// the job) nor the URL (it may carry a receiver's token). A refusal by the
/// address guard names the host and why.
fn failure_text(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return refusal_text(refused);
        }
        source = s.source();
    }
    if e.is_timeout() {
        TIMED_OUT.into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "the request failed".into()
    }
}

fn refusal_text(r: &Refused) -> String {
    format!("refused: {r}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (b, m) = (Duration::from_secs(5), Duration::from_secs(3600));
        let secs = |a| backoff(a, b, m).as_secs_f64();
        assert!((5.0..5.5).contains(&secs(1)));
        assert!((10.0..11.0).contains(&secs(2)));
        assert!((40.0..44.0).contains(&secs(4)));
        assert!((3600.0..3960.0).contains(&secs(40)));
        assert_eq!(backoff(3, Duration::ZERO, m), Duration::ZERO);
    }
}
