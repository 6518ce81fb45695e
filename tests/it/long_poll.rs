//! `?wait=SECONDS`: requests held until their job settles, woken by the
//! completion itself (in-process, and across replicas through Postgres).

use std::time::{Duration, Instant};

use qbwcd::store::NotifyStore;
use serde_json::json;

use crate::both_backends;
use crate::fake_qbwc::Script;
use crate::helpers::{customer_add, customer_query, Backend, TestApp, TestDb};

both_backends!(
    a_long_poll_on_enqueue_returns_as_soon_as_the_web_connector_finishes_the_job,
    a_long_poll_times_out_with_the_job_as_it_is,
    a_long_poll_on_one_replica_is_woken_by_a_completion_on_another,
    cancels_and_dependency_cascades_wake_long_polls,
    a_bad_wait_is_a_400,
);

/// Time for a spawned request to reach the server and start waiting.
const SETTLE: Duration = Duration::from_millis(300);

async fn a_long_poll_on_enqueue_returns_as_soon_as_the_web_connector_finishes_the_job(b: Backend) {
    // Arrange
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;

    // Act: the request starts first; the Web Connector comes afterwards.
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        let r = api.post("/companies/acme/jobs?wait=20", json!({"qbxml": customer_add("Ann")})).await;
        (r, started.elapsed())
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!waiting.is_finished(), "the request must hold while the job is queued");
    app.connector("api").run_session().await;
    let ((status, job), took) = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();

    // Assert
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["state"], "done");
    assert!(job["response"].as_str().unwrap().contains("<CustomerAddRs"));
    assert!(took < Duration::from_secs(5), "woken by the completion, not the timeout: {took:?}");
    assert_eq!(app.store.notifier().watched(), 0, "no waiter is left behind");
}

async fn a_long_poll_times_out_with_the_job_as_it_is(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;

    let started = Instant::now();
    let (status, job) = api.post("/companies/acme/jobs?wait=1", json!({"qbxml": customer_query("1")})).await;
    let took = started.elapsed();
    assert_eq!((status, job["state"].as_str()), (201, Some("queued")), "{job}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(3), "{took:?}");

    let id = job["id"].as_str().unwrap();
    let started = Instant::now();
    let (status, again) = api.get(&format!("/jobs/{id}?wait=1")).await;
    assert_eq!((status, again["state"].as_str()), (200, Some("queued")));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(app.store.notifier().watched(), 0);

    // An already settled job answers at once, and waits are capped.
    api.post(&format!("/jobs/{id}/cancel"), json!({})).await;
    let started = Instant::now();
    let (_, cancelled) = api.get(&format!("/jobs/{id}?wait=3600")).await;
    assert_eq!(cancelled["state"], "cancelled");
    assert!(started.elapsed() < Duration::from_secs(1));
}

async fn a_long_poll_on_one_replica_is_woken_by_a_completion_on_another(b: Backend) {
    // On Postgres two servers share one database, each with its own
    // in-process notifier: only NOTIFY can carry the completion across. On
    // SQLite (one process per database file) both roles are one server.
    let db = TestDb::new(b).await;
    let replica_db = if b == Backend::Postgres { Some(db.share().await) } else { None };
    let a = TestApp::spawn_on(db, |_| {}).await;
    let replica = match replica_db {
        Some(db) => Some(TestApp::spawn_on(db, |_| {}).await),
        None => None,
    };
    let waiter_app = replica.as_ref().unwrap_or(&a);
    let acme = a.company("acme", None).await;
    a.user("api", &acme).await;
    let job = a.enqueue(&acme, &customer_query("1")).await;
    let api = waiter_app.api().await;

    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        let r = api.get(&format!("/jobs/{}?wait=20", job.id)).await;
        (r, started.elapsed())
    });
    tokio::time::sleep(SETTLE).await;
    a.connector("api").run_session().await;
    let ((status, body), took) = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();

    assert_eq!((status, body["state"].as_str()), (200, Some("done")), "{body}");
    assert!(took < Duration::from_secs(5), "woken across replicas, not by the timeout: {took:?}");
    assert_eq!(waiter_app.store.notifier().watched(), 0);
}

async fn cancels_and_dependency_cascades_wake_long_polls(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let parent = app.enqueue(&acme, &customer_add("Parent")).await;
    let (_, child) =
        api.post("/companies/acme/jobs", json!({"qbxml": customer_add("Child"), "depends_on": [parent.id]})).await;
    assert_eq!(child["state"], "held");
    // In another company, so no session reaches it before the cancel.
    let other = app.company("other", None).await;
    let lone = app.enqueue(&other, &customer_query("lone")).await;

    let token = app.token().await;
    let wait = |id: String| {
        let url = format!("{}/api/v1/jobs/{id}?wait=20", app.url);
        let token = token.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            let body: serde_json::Value = resp.json().await.unwrap();
            (body, started.elapsed())
        })
    };
    let child_wait = wait(child["id"].as_str().unwrap().to_owned());
    let lone_wait = wait(lone.id.to_string());
    tokio::time::sleep(SETTLE).await;

    // The parent fails in QuickBooks; the held child fails with it.
    let wc = app.connector("api");
    wc.qb.script(Script::Status(3100, "Error", "The name \"Parent\" of the list element is already in use."));
    wc.run_session().await;
    let (child_done, took) = tokio::time::timeout(Duration::from_secs(10), child_wait).await.unwrap().unwrap();
    assert_eq!(child_done["state"], "failed", "{child_done}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // An operator cancels the other one.
    assert!(!lone_wait.is_finished());
    assert_eq!(api.post(&format!("/jobs/{}/cancel", lone.id), json!({})).await.0, 200);
    let (lone_done, took) = tokio::time::timeout(Duration::from_secs(10), lone_wait).await.unwrap().unwrap();
    assert_eq!(lone_done["state"], "cancelled", "{lone_done}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(app.store.notifier().watched(), 0);
}

async fn a_bad_wait_is_a_400(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let (s, err) = api.post("/companies/acme/jobs?wait=soon", json!({"qbxml": customer_query("1")})).await;
    assert_eq!((s, err["code"].as_str()), (400, Some("invalid_request")), "{err}");
}
