//! Webhooks: a signed event for every job that settles, from a durable
//! outbox, retried with backoff.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use qbwcd::config::Settings;
use qbwcd::store::{AccountStore, CompanyChanges, JobStore, SessionStore, WebhookStore};
use qbwcd::submit::SubmitOptions;
use qbwcd::types::TicketHash;
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::mpsc;

use crate::both_backends;
use crate::fake_qbwc::Script;
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

/// A company edit that sets only its default webhook.
fn hook(url: &str) -> CompanyChanges<'_> {
    CompanyChanges { webhook_url: Some(Some(url)), ..Default::default() }
}

both_backends!(
    a_finished_job_is_posted_to_its_webhook_signed_with_the_secret,
    a_company_default_webhook_is_used_and_a_500_is_retried,
    a_webhook_is_given_up_after_its_attempts,
    without_a_secret_nothing_is_sent_and_events_wait,
    every_path_to_a_final_state_writes_an_outbox_row,
    companies_take_a_default_webhook_on_create_and_patch,
    webhook_urls_to_internal_addresses_are_refused_when_set,
    delivery_refuses_internal_addresses_before_connecting,
    an_allowed_loopback_name_is_delivered_and_failures_say_little,
    the_result_is_included_when_configured,
);

const SECRET: &str = "whsec-test-0123456789";

/// One request the receiver got.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// A local webhook receiver answering scripted statuses (then 200).
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::UnboundedSender<Received>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

async fn receive(State(st): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let code = st.statuses.lock().unwrap().pop_front().unwrap_or(200);
    let _ = st.tx.send(Received { headers, body });
    StatusCode::from_u16(code).unwrap()
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let st = ReceiverState { tx, statuses: Arc::new(Mutex::new(statuses.iter().copied().collect())) };
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(st);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, rx }
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("a webhook within 10 s")
            .expect("receiver open")
    }
}

fn with_secret(s: &mut Settings) {
    s.webhook_secret = Some(SecretString::from(SECRET));
    s.webhook_retry_base_seconds = 0;
    // The receivers listen on loopback, which webhooks may reach only when
    // it is listed.
    s.webhook_allow_hosts = vec!["127.0.0.1".into()];
}

/// The job's webhook once its delivery is recorded (recording follows the
/// receiver's answer by a moment).
async fn webhook_when(app: &TestApp, id: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let api = app.api().await;
    for _ in 0..200 {
        let (_, job) = api.get(&format!("/jobs/{id}")).await;
        if done(&job["webhook"]) {
            return job["webhook"].clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the webhook of job {id} never reached the expected state");
}

async fn a_finished_job_is_posted_to_its_webhook_signed_with_the_secret(b: Backend) {
    // Arrange
    let mut receiver = Receiver::start(&[]).await;
    let app = TestApp::spawn_with(b, with_secret).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let (s, job) =
        api.post("/companies/acme/jobs", json!({"qbxml": customer_add("Ann"), "webhook_url": receiver.url})).await;
    assert_eq!(s, 201, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();

    // Act
    app.connector("api").run_session().await;
    let got = receiver.next().await;

    // Assert: signed over "t.body" with the secret, and fresh.
    let sig = got.headers["x-qbwcd-signature"].to_str().unwrap();
    assert!(qbwcd::api::verify(SECRET.as_bytes(), sig, &got.body, chrono::Utc::now(), Duration::from_secs(300)));
    assert!(!qbwcd::api::verify(b"wrong", sig, &got.body, chrono::Utc::now(), Duration::from_secs(300)));
    let t: i64 = sig.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
    let expected = qbwcd::api::sign(SECRET.as_bytes(), t, &got.body);
    assert!(sig.ends_with(&format!(",v1={expected}")));
    assert_eq!(got.headers["content-type"], "application/json");
    let event: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(event["type"], "job.finished");
    assert_eq!(event["id"], got.headers["x-qbwcd-event-id"].to_str().unwrap());
    assert_eq!(event["job"]["id"], id.as_str());
    assert_eq!(event["job"]["state"], "done");
    assert_eq!(event["job"]["company"], "acme");
    assert!(event["occurred_at"].is_string());

    let hook = webhook_when(&app, &id, |w| w["state"] == "delivered").await;
    assert_eq!(hook["attempts"], 1);
    assert_eq!(hook["last_status"], 200);
    assert!(hook["delivered_at"].is_string());
    assert_eq!(hook["event_id"], event["id"]);
}

async fn a_company_default_webhook_is_used_and_a_500_is_retried(b: Backend) {
    let mut receiver = Receiver::start(&[500]).await;
    let app = TestApp::spawn_with(b, with_secret).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let (s, c) = api.send(reqwest::Method::PATCH, "/companies/acme", Some(json!({"webhook_url": receiver.url}))).await;
    assert_eq!((s, c["webhook_url"].as_str()), (200, Some(receiver.url.as_str())), "{c}");
    let (_, job) = api.post("/companies/acme/jobs", json!({"qbxml": customer_query("1")})).await;
    let id = job["id"].as_str().unwrap().to_owned();

    api.post(&format!("/jobs/{id}/cancel"), json!({})).await;
    let first = receiver.next().await;
    let second = receiver.next().await;

    assert_eq!(first.headers["x-qbwcd-event-id"], second.headers["x-qbwcd-event-id"], "a retry is the same event");
    let event: serde_json::Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(event["job"]["state"], "cancelled");
    let hook = webhook_when(&app, &id, |w| w["state"] == "delivered").await;
    assert_eq!(hook["attempts"], 2);
    assert_eq!(hook["last_status"], 200);
    assert!(hook["last_error"].is_null());
    // Both attempts show in the metrics, by outcome.
    let metrics = reqwest::get(format!("{}/metrics", app.url)).await.unwrap().text().await.unwrap();
    for outcome in ["http_error", "delivered"] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with("qbwcd_webhook_deliveries_total") && l.contains(&format!("outcome=\"{outcome}\"")))
            .unwrap_or_else(|| panic!("no {outcome} delivery counted in:\n{metrics}"));
        assert!(line.ends_with(" 1"), "{line}");
    }
}

async fn a_webhook_is_given_up_after_its_attempts(b: Backend) {
    let mut receiver = Receiver::start(&[500, 503, 500]).await;
    let app = TestApp::spawn_with(b, |s| {
        with_secret(s);
        s.webhook_max_attempts = 2;
    })
    .await;
    let acme = app.company("acme", None).await;
    let opts = SubmitOptions { webhook_url: Some(receiver.url.clone()), ..SubmitOptions::default() };
    let job = app.enqueue_with(&acme, &customer_query("1"), opts).await;
    app.store.cancel_job(job.id, app.now()).await.unwrap();

    receiver.next().await;
    receiver.next().await;
    let hook = webhook_when(&app, &job.id.to_string(), |w| w["state"] == "failed").await;
    assert_eq!(hook["attempts"], 2);
    assert_eq!(hook["last_status"], 503);
    assert!(hook["last_error"].as_str().unwrap().contains("503"));
    assert!(hook["next_attempt_at"].is_null());
    // Nothing more is sent.
    assert!(tokio::time::timeout(Duration::from_millis(300), receiver.rx.recv()).await.is_err());
}

async fn without_a_secret_nothing_is_sent_and_events_wait(b: Backend) {
    let mut receiver = Receiver::start(&[]).await;
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let opts = SubmitOptions { webhook_url: Some(receiver.url.clone()), ..SubmitOptions::default() };
    let job = app.enqueue_with(&acme, &customer_query("1"), opts).await;
    app.store.cancel_job(job.id, app.now()).await.unwrap();

    assert!(tokio::time::timeout(Duration::from_millis(500), receiver.rx.recv()).await.is_err());
    let hook = app.store.job_webhook(job.id).await.unwrap().expect("an outbox row");
    assert_eq!((hook.state.as_str(), hook.attempts), ("pending", 0));
}

/// Final states of every job, as their outbox rows record them.
async fn outbox(app: &TestApp, job: qbwcd::types::JobId) -> Vec<String> {
    app.store.job_webhooks(job).await.unwrap().into_iter().map(|d| d.job_state).collect()
}

async fn every_path_to_a_final_state_writes_an_outbox_row(b: Backend) {
    // No secret: rows stay in the outbox for inspection.
    let app = TestApp::spawn_with(b, |s| s.max_attempts = 1).await;
    let acme = app.company("acme", None).await;
    app.store.update_company(acme.id, &hook("http://127.0.0.1:9/hook"), app.now()).await.unwrap();
    app.user("api", &acme).await;
    let wc = app.connector("api");

    // Done and failed in QuickBooks; a held dependent fails with its parent.
    let done = app.enqueue(&acme, &customer_query("ok")).await;
    wc.run_session().await;
    assert_eq!(outbox(&app, done.id).await, ["done"]);
    let parent = app.enqueue(&acme, &customer_add("Parent")).await;
    let dep = |on| SubmitOptions { depends_on: vec![on], ..SubmitOptions::default() };
    let child = app.enqueue_with(&acme, &customer_add("Child"), dep(parent.id)).await;
    wc.qb.script(Script::Status(3100, "Error", "The name is already in use."));
    wc.run_session().await;
    assert_eq!(outbox(&app, parent.id).await, ["failed"]);
    assert_eq!(outbox(&app, child.id).await, ["failed"], "dependency cascade");
    // Born failed: its dependency had already failed.
    let orphan = app.enqueue_with(&acme, &customer_add("Orphan"), dep(parent.id)).await;
    assert_eq!(outbox(&app, orphan.id).await, ["failed"]);

    // Cancelled, and the cascade of a cancel.
    let cancelled = app.enqueue(&acme, &customer_query("c")).await;
    let after = app.enqueue_with(&acme, &customer_query("after"), dep(cancelled.id)).await;
    app.store.cancel_job(cancelled.id, app.now()).await.unwrap();
    assert_eq!(outbox(&app, cancelled.id).await, ["cancelled"]);
    assert_eq!(outbox(&app, after.id).await, ["failed"]);

    // The reaper: a write whose lease lapsed is unknown; an operator then
    // settles it (done). A read out of attempts fails.
    let lapsed = app.company("lapsed", None).await;
    app.store.update_company(lapsed.id, &hook("http://127.0.0.1:9/hook"), app.now()).await.unwrap();
    let write = app.enqueue(&lapsed, &customer_add("W")).await;
    let read = app.enqueue(&lapsed, &customer_query("R")).await;
    let ticket = TicketHash("t".repeat(64));
    let lease = app.now() + chrono::Duration::seconds(60);
    for _ in 0..2 {
        app.store.claim_next(lapsed.id, &ticket, app.now(), lease).await.unwrap().expect("claimed");
    }
    app.store.recover_expired(lease + chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(outbox(&app, write.id).await, ["unknown"]);
    assert_eq!(outbox(&app, read.id).await, ["failed"]);
    app.store.resolve_job(write.id, true, app.now()).await.unwrap();
    assert_eq!(outbox(&app, write.id).await, ["unknown", "done"]);

    // A job without any webhook leaves no row; retrying is not final.
    let plain = app.company("plain", None).await;
    let quiet = app.enqueue(&plain, &customer_query("q")).await;
    app.store.cancel_job(quiet.id, app.now()).await.unwrap();
    assert!(outbox(&app, quiet.id).await.is_empty());
    app.store.retry_job(cancelled.id, app.now()).await.unwrap();
    assert_eq!(outbox(&app, cancelled.id).await, ["cancelled"]);
}

async fn companies_take_a_default_webhook_on_create_and_patch(b: Backend) {
    // example.com is listed so that it is not looked up: tests send no
    // traffic (DNS included) anywhere but loopback.
    let app = TestApp::spawn_with(b, |s| s.webhook_allow_hosts = vec!["example.com".into()]).await;
    let api = app.api().await;
    let (s, c) = api.post("/companies", json!({"slug": "acme", "webhook_url": "https://example.com/h"})).await;
    assert_eq!((s, c["webhook_url"].as_str()), (201, Some("https://example.com/h")), "{c}");
    assert_eq!(api.post("/companies", json!({"slug": "bad", "webhook_url": "ftp://x"})).await.0, 400);
    assert_eq!(api.get("/companies/bad").await.0, 404, "refused before creating");
    assert_eq!(api.get("/companies/acme").await.1["webhook_url"], "https://example.com/h");

    let patch = |body| api.send(reqwest::Method::PATCH, "/companies/acme", Some(body));
    assert_eq!(patch(json!({})).await.1["webhook_url"], "https://example.com/h", "absent keys are kept");
    assert_eq!(patch(json!({"webhook_url": "nope"})).await.0, 400);
    assert_eq!(patch(json!({"bogus": 1})).await.0, 422);
    let (s, cleared) = patch(json!({"webhook_url": null})).await;
    assert_eq!((s, cleared["webhook_url"].clone()), (200, serde_json::Value::Null));
    let (s, _) = api.send(reqwest::Method::PATCH, "/companies/ghost", Some(json!({}))).await;
    assert_eq!(s, 404);
}

async fn webhook_urls_to_internal_addresses_are_refused_when_set(b: Backend) {
    // Only IP literals and localhost (hosts file): nothing is looked up in DNS.
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
        "http://100.64.0.1/hook",
    ] {
        let (s, err) =
            api.post("/companies/acme/jobs", json!({"qbxml": customer_query("1"), "webhook_url": url})).await;
        assert_eq!((s, err["code"].as_str()), (400, Some("invalid_request")), "{url}: {err}");
        assert!(err["message"].as_str().unwrap().contains("webhook_allow_hosts"), "{err}");
        let patch = api.send(reqwest::Method::PATCH, "/companies/acme", Some(json!({"webhook_url": url}))).await;
        assert_eq!(patch.0, 400, "{url}");
    }
    assert!(api.get("/companies/acme").await.1["webhook_url"].is_null());
}

/// The job's delivery row once it has been attempted.
async fn attempted(app: &TestApp, job: qbwcd::types::JobId) -> qbwcd::store::WebhookDelivery {
    for _ in 0..400 {
        if let Some(d) = app.store.job_webhook(job).await.unwrap().filter(|d| d.attempts > 0) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the webhook of job {job} was never attempted");
}

async fn delivery_refuses_internal_addresses_before_connecting(b: Backend) {
    // URLs stored without the API's check (or before an upgrade) are
    // checked again at delivery: an IP literal as written, a name by the
    // client's resolver. The receiver is on loopback and must hear nothing.
    let mut receiver = Receiver::start(&[]).await;
    let app = TestApp::spawn_with(b, |s| {
        s.webhook_secret = Some(SecretString::from(SECRET));
        s.webhook_retry_base_seconds = 3600;
    })
    .await;
    let acme = app.company("acme", None).await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let mut jobs = Vec::new();
    for url in [receiver.url.clone(), by_name] {
        let opts = SubmitOptions { webhook_url: Some(url), ..SubmitOptions::default() };
        let job = app.enqueue_with(&acme, &customer_query("1"), opts).await;
        app.store.cancel_job(job.id, app.now()).await.unwrap();
        jobs.push(job.id);
    }
    for job in jobs {
        let d = attempted(&app, job).await;
        let error = d.last_error.unwrap_or_default();
        assert!(error.starts_with("refused: webhook host"), "{error}");
        assert!(error.contains("webhook_allow_hosts"), "{error}");
        assert_eq!(d.last_status, None);
    }
    assert!(tokio::time::timeout(Duration::from_millis(300), receiver.rx.recv()).await.is_err(), "nothing was sent");
}

async fn an_allowed_loopback_name_is_delivered_and_failures_say_little(b: Backend) {
    let mut receiver = Receiver::start(&[]).await;
    // A closed loopback port: bound but never listening, so the kernel
    // refuses connections to it and no other test can take it meanwhile
    // (a released port was once reused by another test's server).
    let closed_socket = tokio::net::TcpSocket::new_v4().unwrap();
    closed_socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = closed_socket.local_addr().unwrap();
    let app = TestApp::spawn_with(b, |s| {
        s.webhook_secret = Some(SecretString::from(SECRET));
        s.webhook_retry_base_seconds = 3600;
        s.webhook_allow_hosts = vec!["LOCALHOST".into(), "127.0.0.1".into()];
    })
    .await;
    let acme = app.company("acme", None).await;
    let api = app.api().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let (s, job) =
        api.post("/companies/acme/jobs", json!({"qbxml": customer_query("1"), "webhook_url": by_name})).await;
    assert_eq!(s, 201, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    api.post(&format!("/jobs/{id}/cancel"), json!({})).await;
    let got = receiver.next().await;
    assert!(got.headers.contains_key("x-qbwcd-signature"));
    let hook = webhook_when(&app, &id, |w| w["state"] == "delivered").await;
    assert_eq!(hook["attempts"], 1);

    let opts = SubmitOptions { webhook_url: Some(format!("http://{closed}/hook")), ..SubmitOptions::default() };
    let job = app.enqueue_with(&acme, &customer_query("2"), opts).await;
    app.store.cancel_job(job.id, app.now()).await.unwrap();
    let d = attempted(&app, job.id).await;
    // Not the OS's words ("Connection refused (os error 111)"): they tell
    // an open port from a closed one.
    assert_eq!(d.last_error.as_deref(), Some("connection failed"));
}

async fn the_result_is_included_when_configured(b: Backend) {
    // Arrange: webhook_include_result on.
    let mut receiver = Receiver::start(&[]).await;
    let app = TestApp::spawn_with(b, |s| {
        with_secret(s);
        s.webhook_include_result = true;
    })
    .await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let body = json!({"request": {"CustomerQueryRq": {"MaxReturned": 5}}, "webhook_url": receiver.url});
    let (s, job) = api.post("/companies/acme/jobs", body).await;
    assert_eq!(s, 201, "{job}");
    // Act
    app.connector("api").run_session().await;
    let got = receiver.next().await;
    // Assert: the answer as JSON, records always an array; no verbatim answer.
    let event: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    let rs = &event["job"]["result"][0]["CustomerQueryRs"];
    assert_eq!(rs["@statusCode"], 0, "{event}");
    assert!(rs["CustomerRet"].is_array(), "{event}");
    assert!(event["job"].get("response").is_none());
}
