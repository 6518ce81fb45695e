//! Operations: `/metrics`, `/healthz`, `/readyz`, silent connectors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use qbwcd::app::{self, AppState};
use qbwcd::clock::ManualClock;
use qbwcd::config::Settings;
use qbwcd::store::{PoolOptions, SqlStore, Store};

use crate::both_backends;
use crate::helpers::{customer_add, postgres_url, Backend, TestApp};

both_backends!(
    metrics_parse_as_prometheus_text_and_move_with_a_session,
    readyz_answers_503_when_the_database_is_down,
    readyz_answers_503_when_the_schema_is_not_migrated,
    a_connector_silent_for_three_intervals_is_reported_until_it_returns,
);

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A strict little parser for the Prometheus text format (0.0.4): every
/// line is a `# HELP`, a `# TYPE`, or `name{label="value",…} number`.
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            assert!(matches!(kind, "HELP" | "TYPE"), "unknown comment: {line}");
            assert!(valid_name(name), "bad metric name in {line}");
            if kind == "TYPE" {
                let t = parts.next().unwrap_or_default();
                assert!(matches!(t, "counter" | "gauge" | "histogram" | "summary" | "untyped"), "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name, parse_labels(body, line))
            }
        };
        assert!(valid_name(name), "bad metric name in {line}");
        out.push(Sample { name: name.to_owned(), labels, value });
    }
    out
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value must be quoted: {line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("dangling escape: {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        }
        assert!(!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "label {key:?}: {line}");
        labels.insert(key, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

/// The value of the sample named `name` with exactly these labels.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    samples.iter().find(|s| s.name == name && s.labels == want).map(|s| s.value)
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let resp = reqwest::get(format!("{}/metrics", app.url)).await.expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    parse_prometheus(&resp.text().await.expect("body"))
}

async fn metrics_parse_as_prometheus_text_and_move_with_a_session(b: Backend) {
    // Arrange: a company with one queued write.
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    app.enqueue(&acme, &customer_add("Ann")).await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "qbwcd_jobs", &[("company", "acme"), ("state", "queued")]), Some(1.0));
    assert_eq!(value(&before, "qbwcd_soap_calls_total", &[("method", "authenticate"), ("outcome", "session")]), None);

    // Act: a refused login, then a whole session.
    let mut wrong = app.connector("alice");
    wrong.password = "not the password".into();
    assert_eq!(wrong.authenticate().await[1], "nvu");
    let log = app.connector("alice").run_session().await;
    assert_eq!(log.progress, [100], "{log:?}");

    // Assert
    let after = scrape(&app).await;
    let calls = |method: &str, outcome: &str| {
        value(&after, "qbwcd_soap_calls_total", &[("method", method), ("outcome", outcome)]).unwrap_or(0.0)
    };
    assert_eq!(calls("authenticate", "session"), 1.0);
    assert_eq!(calls("authenticate", "nvu"), 1.0);
    assert_eq!(calls("sendRequestXML", "sent"), 1.0);
    assert_eq!(calls("receiveResponseXML", "done"), 1.0);
    assert_eq!(calls("closeConnection", "closed"), 1.0);
    assert_eq!(value(&after, "qbwcd_authentications_total", &[("outcome", "ok"), ("reason", "")]), Some(1.0));
    assert_eq!(
        value(&after, "qbwcd_authentications_total", &[("outcome", "nvu"), ("reason", "bad_password")]),
        Some(1.0)
    );
    assert_eq!(value(&after, "qbwcd_jobs", &[("company", "acme"), ("state", "done")]), Some(1.0));
    assert_eq!(value(&after, "qbwcd_jobs", &[("company", "acme"), ("state", "queued")]), Some(0.0));
    assert_eq!(value(&after, "qbwcd_job_duration_seconds_count", &[("state", "done")]), Some(1.0));
    assert_eq!(value(&after, "qbwcd_answer_bytes_count", &[]), Some(1.0));
    assert!(value(&after, "qbwcd_answer_bytes_sum", &[]).is_some_and(|v| v > 100.0));
    assert_eq!(value(&after, "qbwcd_open_sessions", &[]), Some(0.0));
    assert!(
        value(&after, "qbwcd_soap_call_duration_seconds_count", &[("method", "authenticate")]) == Some(2.0),
        "latency histogram by method"
    );
    // No label carries a ticket or a user name.
    let ticket = &log.auth[0];
    for s in &after {
        for v in s.labels.values() {
            assert!(v != ticket && v != "alice", "{s:?}");
        }
    }
}

async fn readyz_answers_503_when_the_database_is_down(b: Backend) {
    // Arrange
    let app = TestApp::spawn(b).await;
    let get = |path: &str| reqwest::get(format!("{}{path}", app.url));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    // Act: the database goes away.
    app.store.close().await;

    // Assert: alive, not ready, and /metrics still answers.
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let resp = get("/readyz").await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("database unreachable"));
    assert_eq!(get("/metrics").await.unwrap().status(), 200);
}

/// Serves over a database that was never migrated.
async fn spawn_unmigrated(
    b: Backend,
) -> (String, tokio::sync::oneshot::Sender<()>, Option<tempfile::TempDir>, Option<String>) {
    let mut pg_schema = None;
    let (store, dir) = match b {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("empty.db").display());
            (SqlStore::connect(&url, &PoolOptions::default()).await.unwrap(), Some(dir))
        }
        Backend::Postgres => {
            use std::str::FromStr;
            // A fresh schema with nothing in it (dropped with the server).
            let base = postgres_url().unwrap();
            let schema = format!("qbwcd_e_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&base).await.unwrap();
            sqlx::query(&format!("create schema {schema}")).execute(&admin).await.unwrap();
            admin.close().await;
            pg_schema = Some(schema.clone());
            let opts =
                sqlx::postgres::PgConnectOptions::from_str(&base).unwrap().options([("search_path", schema.as_str())]);
            (SqlStore::connect_postgres(opts, &PoolOptions::default()).await.unwrap(), None)
        }
    };
    let store: Arc<dyn Store> = Arc::new(store);
    let state = AppState::new(store, Arc::new(Settings::default()), Arc::new(ManualClock::new())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app::serve(listener, state, async move {
        let _ = rx.await;
    }));
    (url, tx, dir, pg_schema)
}

async fn readyz_answers_503_when_the_schema_is_not_migrated(b: Backend) {
    let (url, stop, _dir, pg_schema) = spawn_unmigrated(b).await;
    let resp = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(resp.status(), 503);
    let text = resp.text().await.unwrap();
    assert!(text.contains("schema not migrated") && text.contains("qbwcd migrate"), "{text}");
    let _ = stop.send(());
    if let Some(schema) = pg_schema {
        let admin = sqlx::PgPool::connect(&postgres_url().unwrap()).await.unwrap();
        let _ = sqlx::query(&format!("drop schema if exists {schema} cascade")).execute(&admin).await;
        admin.close().await;
    }
}

async fn a_connector_silent_for_three_intervals_is_reported_until_it_returns(b: Backend) {
    // Arrange: a 10-minute schedule and a reaper ticking every second.
    let app = TestApp::spawn_with(b, |s| {
        s.reaper_interval_seconds = 1;
        s.qwc.run_every_minutes = Some(10);
    })
    .await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    app.user("bob", &acme).await; // never connects: not "silent", just not set up
    assert_eq!(app.connector("alice").authenticate().await[1], "none");
    let api = app.api().await;
    let silent = |v: &serde_json::Value| v["silent_connectors"].as_array().cloned().expect("silent_connectors");

    // Thirty minutes: three intervals exactly, not yet silent.
    app.clock.advance(Duration::from_secs(30 * 60));
    let (status, view) = api.get("/companies/acme").await;
    assert_eq!(status, 200, "{view}");
    assert!(silent(&view).is_empty(), "{view}");

    // Act: past three intervals.
    app.clock.advance(Duration::from_secs(61));

    // Assert: on the company view, and (after a reaper tick) in the metric.
    let (_, view) = api.get("/companies/acme").await;
    let list = silent(&view);
    assert_eq!(list.len(), 1, "{view}");
    assert_eq!(list[0]["username"], "alice");
    assert_eq!(list[0]["expected_every_seconds"], 600);
    assert!(list[0]["last_seen_at"].is_string());
    let gauge = |samples: &[Sample]| value(samples, "qbwcd_silent_connectors", &[("company", "acme")]);
    let mut seen = None;
    for _ in 0..40 {
        seen = gauge(&scrape(&app).await);
        if seen == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(1.0), "the reaper sets the gauge");
    // ...and as an open problem on the company's health, with its steps.
    let problems = |v: &serde_json::Value| {
        v["health"]["problems"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p["code"] == "session.connector_silent")
            .count()
    };
    let (_, view) = api.get("/companies/acme").await;
    assert_eq!(problems(&view), 1, "{view}");

    // It authenticates again: cleared.
    assert_eq!(app.connector("alice").authenticate().await[1], "none");
    let (_, view) = api.get("/companies/acme").await;
    assert!(silent(&view).is_empty(), "{view}");
    assert_eq!(problems(&view), 0, "the problem clears when it checks in: {view}");
    for _ in 0..40 {
        seen = gauge(&scrape(&app).await);
        if seen == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(0.0), "the gauge drops when it returns");
}

#[test]
fn the_parser_refuses_malformed_lines() {
    let ok = parse_prometheus("# HELP a_total x\n# TYPE a_total counter\na_total{m=\"q\\\"x\",o=\"\"} 3\nb 1.5e3\n");
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].labels["m"], "q\"x");
    assert!(std::panic::catch_unwind(|| parse_prometheus("a_total{m=q} 1")).is_err());
    assert!(std::panic::catch_unwind(|| parse_prometheus("a_total 1 2 x")).is_err());
}
