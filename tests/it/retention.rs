//! Hostile clients leave bounded traces: no event for an unknown ticket,
//! clipped client strings, and retention of events and webhook deliveries.

use std::time::Duration;

use qbwcd::clip::CLIENT_TEXT_MAX;
use qbwcd::store::{EventStore, FinishStore, JobStore, WebhookAttempt};
use qbwcd::submit::SubmitOptions;

use crate::both_backends;
use crate::fake_qbwc::FakeWebConnector;
use crate::helpers::{customer_query, Backend, TestApp};
use crate::ops::{parse_prometheus, value};

both_backends!(
    a_connection_error_with_an_unknown_ticket_records_no_event_and_is_counted,
    a_huge_user_name_is_clipped_in_the_event,
    a_huge_connection_error_message_of_a_session_is_clipped,
    retention_prunes_old_events_and_finished_deliveries_and_keeps_recent_ones,
);

/// Large enough to show clipping, small enough for any request-size limit
/// on calls other than receiveResponseXML (about 1 MiB).
const BIG: usize = 512 * 1024;

async fn unknown_ticket_count(app: &TestApp) -> f64 {
    let text = reqwest::get(format!("{}/metrics", app.url)).await.expect("GET /metrics").text().await.expect("body");
    value(&parse_prometheus(&text), "qbwcd_unknown_ticket_calls_total", &[("method", "connectionError")]).unwrap_or(0.0)
}

async fn a_connection_error_with_an_unknown_ticket_records_no_event_and_is_counted(b: Backend) {
    let app = TestApp::spawn(b).await;
    let wc = app.connector("nobody");
    let before = unknown_ticket_count(&app).await;
    let message = "M".repeat(BIG);

    for _ in 0..3 {
        let ticket = uuid::Uuid::new_v4().to_string();
        assert_eq!(wc.connection_error(&ticket, "0x80040408", &message).await, "done");
    }

    assert!(app.store.list_events(None, 100).await.unwrap().is_empty(), "an unknown ticket leaves no event row");
    assert_eq!(unknown_ticket_count(&app).await - before, 3.0);
}

async fn a_huge_user_name_is_clipped_in_the_event(b: Backend) {
    let app = TestApp::spawn(b).await;
    let name = format!("{}\n\u{1b}[31mforged", "u".repeat(BIG));
    let wc = FakeWebConnector::new(&format!("{}/qbwc", app.url), &name, "wrong");

    let auth = wc.authenticate().await;

    assert_eq!(auth[1], "nvu");
    let events = app.store.list_events(None, 10).await.unwrap();
    let refused = events.iter().find(|e| e.kind == "auth.failed").expect("the refusal is recorded");
    assert!(refused.message.len() < 2 * CLIENT_TEXT_MAX + 200, "stored {} bytes", refused.message.len());
    assert!(refused.message.contains("uuuu…"), "{}", &refused.message[..80]);
    assert!(!refused.message.contains('\n') && !refused.message.contains('\u{1b}'));
}

async fn a_huge_connection_error_message_of_a_session_is_clipped(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let wc = app.connector("api");
    let ticket = wc.authenticate().await.remove(0);

    // Together under the 1 MiB a call other than receiveResponseXML may send.
    wc.connection_error(&ticket, &"9".repeat(BIG / 2), &format!("{}\r\nforged", "m".repeat(BIG / 2))).await;

    let events = app.store.list_events(None, 10).await.unwrap();
    let e = events.iter().find(|e| e.kind == "connection.error").expect("the session's error is recorded");
    assert!(e.message.len() < 2 * CLIENT_TEXT_MAX + 200, "stored {} bytes", e.message.len());
    assert!(!e.message.contains('\n'));
    assert!(e.code.as_deref().is_some_and(|c| c.len() <= 70), "{:?}", e.code.as_deref().map(str::len));
    let last = wc.get_last_error(&ticket).await;
    assert!(last.len() < 4 * CLIENT_TEXT_MAX, "getLastError is {} bytes", last.len());
}

async fn retention_prunes_old_events_and_finished_deliveries_and_keeps_recent_ones(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.event_retention_days = 90;
        s.webhook_retention_days = 30;
    })
    .await;
    let acme = app.company("acme", None).await;
    let hook = SubmitOptions { webhook_url: Some("http://127.0.0.1:9/hook".into()), ..SubmitOptions::default() };
    // Old: an event, a delivered delivery, a given-up one and a pending one.
    let wc = FakeWebConnector::new(&format!("{}/qbwc", app.url), "old-guess", "x");
    wc.authenticate().await;
    let delivered = app.enqueue_with(&acme, &customer_query("d"), hook.clone()).await;
    let gave_up = app.enqueue_with(&acme, &customer_query("g"), hook.clone()).await;
    let pending = app.enqueue_with(&acme, &customer_query("p"), hook.clone()).await;
    for j in [&delivered, &gave_up, &pending] {
        app.store.cancel_job(j.id, app.now()).await.unwrap();
    }
    let settle = |job, state: &'static str| {
        let store = app.store.clone();
        let now = app.now();
        async move {
            let d = store.job_webhook(job).await.unwrap().expect("a delivery row");
            let attempt =
                WebhookAttempt { state, status: Some(200), error: None, next_attempt_at: now, delivered_at: Some(now) };
            store.record_webhook_attempt(d.id, &attempt).await.unwrap();
        }
    };
    settle(delivered.id, "delivered").await;
    settle(gave_up.id, "failed").await;

    // 40 days on: past the webhook retention, within the event retention.
    app.clock.advance(Duration::from_secs(40 * 86_400));
    let recent = app.enqueue_with(&acme, &customer_query("r"), hook.clone()).await;
    app.store.cancel_job(recent.id, app.now()).await.unwrap();
    settle(recent.id, "delivered").await;
    let p = qbwcd::retention::prune(app.store.as_ref(), &app.settings, app.now()).await.unwrap();
    assert_eq!((p.events, p.webhook_deliveries), (0, 2));
    assert!(app.store.job_webhook(delivered.id).await.unwrap().is_none());
    assert!(app.store.job_webhook(gave_up.id).await.unwrap().is_none());
    assert!(app.store.job_webhook(pending.id).await.unwrap().is_some(), "pending deliveries are never pruned");
    assert!(app.store.job_webhook(recent.id).await.unwrap().is_some(), "a recent delivery stays");

    // 100 days after the start: the old event goes, a new one stays.
    app.clock.advance(Duration::from_secs(60 * 86_400));
    wc.authenticate().await;
    let p = qbwcd::retention::prune(app.store.as_ref(), &app.settings, app.now()).await.unwrap();
    assert_eq!(p.events, 1);
    let left = app.store.list_events(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].at > app.now() - chrono::Duration::days(1));
}
