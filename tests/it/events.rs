//! The event log, readable: `GET /events`, `GET /companies/{slug}/events`,
//! `GET /events/{id}` (the `E14` that health quotes), and `qbwcd events`.

use std::process::{Command, Output};
use std::time::Duration;

use qbwcd::store::{Company, EventStore, NewEvent};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{customer_query, Backend, TestApp};

both_backends!(
    a_refused_login_in_health_resolves_to_its_event_with_the_address,
    company_events_page_newest_first_with_a_cursor,
    all_events_filter_by_company_kind_and_since,
    bad_event_queries_are_refused_with_the_reason,
    the_events_command_lists_pages_and_shows_one,
);

/// Records an event straight in the store, at the app's clock.
async fn record(app: &TestApp, company: Option<&Company>, kind: &'static str, code: Option<&str>, msg: &str) -> i64 {
    record_at(app, app.now(), company, kind, code, msg).await
}

async fn record_at(
    app: &TestApp,
    at: chrono::DateTime<chrono::Utc>,
    company: Option<&Company>,
    kind: &'static str,
    code: Option<&str>,
    msg: &str,
) -> i64 {
    let e = NewEvent {
        at,
        company_id: company.map(|c| c.id),
        user_id: None,
        address: Some("192.0.2.7".into()),
        job_id: None,
        kind,
        code: code.map(str::to_owned),
        message: msg.to_owned(),
    };
    app.store.record_event(e).await.expect("record event")
}

fn ids(page: &Value) -> Vec<i64> {
    page["events"].as_array().expect("events").iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

async fn a_refused_login_in_health_resolves_to_its_event_with_the_address(b: Backend) {
    // Arrange: work queued, and a connector with the wrong password.
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let mut wc = app.connector("alice");
    wc.password = "not the password".into();
    assert_eq!(wc.authenticate().await[1], "nvu");
    let api = app.api().await;

    // Act: follow health's reference to the event.
    let (_, health) = api.get("/companies/acme/health").await;
    let problem = health["problems"].as_array().unwrap().iter().find(|p| p["code"] == "auth.bad_password").unwrap();
    let reference = problem["reference"].as_str().unwrap().to_owned();
    let (status, event) = api.get(&format!("/events/{reference}")).await;
    let number = reference.trim_start_matches('E');
    let (plain_status, plain) = api.get(&format!("/events/{number}")).await;

    // Assert: E14 and 14 are the same event, with who, from where, and the steps.
    assert!(reference.starts_with('E'), "{reference}");
    assert_eq!(status, 200, "{event}");
    assert_eq!(plain_status, 200);
    assert_eq!(plain, event);
    assert_eq!(event["reference"], reference);
    assert_eq!(event["id"].as_i64().unwrap().to_string(), number);
    assert_eq!(event["kind"], "auth.failed");
    assert_eq!(event["code"], "auth.bad_password");
    assert_eq!(event["company"], "acme");
    assert_eq!(event["user"], "alice");
    assert_eq!(event["address"], "127.0.0.1", "the lockout steps say the events show the address");
    assert!(!event["message"].as_str().unwrap().contains("not the password"), "never the password");
    assert!(!event["diagnostic"]["entry"]["steps"].as_array().unwrap().is_empty(), "{event}");
    // The company's list has it too, without the catalog entry.
    let (_, page) = api.get("/companies/acme/events").await;
    assert_eq!(page["events"][0]["reference"], reference);
    assert!(page["events"][0].get("diagnostic").is_none());
}

async fn company_events_page_newest_first_with_a_cursor(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let other = app.company("other", None).await;
    let mut acme_ids = Vec::new();
    for i in 0..5 {
        acme_ids.push(record(&app, Some(&acme), "session.busy", None, &format!("acme {i}")).await);
        record(&app, Some(&other), "session.busy", None, &format!("other {i}")).await;
    }
    acme_ids.reverse();
    let api = app.api().await;

    let (s1, p1) = api.get("/companies/acme/events?limit=2").await;
    let cursor1 = p1["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, p2) = api.get(&format!("/companies/acme/events?limit=2&before={cursor1}")).await;
    let cursor2 = p2["next_cursor"].as_str().expect("a third page").to_owned();
    let (_, p3) = api.get(&format!("/companies/acme/events?limit=2&before=E{cursor2}")).await;
    let (_, exact) = api.get("/companies/acme/events?limit=5").await;

    assert_eq!(s1, 200);
    assert_eq!(ids(&p1), acme_ids[0..2]);
    assert_eq!(ids(&p2), acme_ids[2..4]);
    assert_eq!(ids(&p3), acme_ids[4..5]);
    assert_eq!(p3["next_cursor"], Value::Null, "the last page says so");
    assert_eq!(ids(&exact), acme_ids, "newest first, only acme's");
    assert_eq!(exact["next_cursor"], Value::Null, "a full last page has no cursor either");
    let first = &p1["events"][0];
    assert_eq!(first["message"], "acme 4");
    assert_eq!(first["address"], "192.0.2.7");
    assert_eq!(first["user"], Value::Null);
    assert_eq!(api.get("/companies/nope/events").await.0, 404);
}

async fn all_events_filter_by_company_kind_and_since(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let other = app.company("other", None).await;
    // The lowest id with a time after the cut (a replica's clock ahead):
    // `since` must still find it.
    let ahead = app.now() + chrono::Duration::hours(4);
    let early = record_at(&app, ahead, Some(&other), "session.busy", None, "clock ahead").await;
    let old = record(&app, Some(&acme), "auth.failed", Some("auth.bad_password"), "old refusal").await;
    app.clock.advance(Duration::from_secs(3 * 3600));
    let cut = app.now();
    let nobody = record(&app, None, "auth.failed", Some("auth.unknown_user"), "unknown name").await;
    let busy = record(&app, Some(&other), "session.busy", Some("session.concurrent_connector"), "busy").await;
    let recent = record(&app, Some(&acme), "auth.failed", Some("auth.bad_password"), "new refusal").await;
    let api = app.api().await;

    let (_, all) = api.get("/events").await;
    let (_, kind) = api.get("/events?kind=auth.failed").await;
    let (_, company) = api.get("/events?company=acme").await;
    let since_time = cut.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (_, since) = api.get(&format!("/events?since={since_time}")).await;
    let (_, age) = api.get("/events?since=2h").await;
    let (_, both) = api.get("/events?company=acme&kind=auth.failed&since=2h&limit=10").await;
    let (_, paged) = api.get(&format!("/events?kind=auth.failed&before={recent}")).await;

    assert_eq!(ids(&all), [recent, busy, nobody, old, early], "every company's, and none's");
    assert_eq!(ids(&kind), [recent, nobody, old]);
    assert_eq!(ids(&company), [recent, old]);
    assert_eq!(ids(&since), [recent, busy, nobody, early], "by time, whatever the id");
    assert_eq!(ids(&age), [recent, busy, nobody, early], "an age counts back from now");
    assert_eq!(ids(&both), [recent]);
    assert_eq!(ids(&paged), [nobody, old]);
    assert_eq!(all["events"][2]["company"], Value::Null);
}

async fn bad_event_queries_are_refused_with_the_reason(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;

    let cases = [
        ("/events/abc", 400, "not an event reference"),
        ("/events/E0", 400, "not an event reference"),
        ("/events/E999999", 404, "event E999999"),
        ("/events?limit=0", 400, "limit must be 1 to 500"),
        ("/events?limit=501", 400, "limit must be 1 to 500"),
        ("/events?limit=many", 400, "limit"),
        ("/events?since=soon", 400, "neither a time"),
        ("/events?before=yesterday", 400, "not an event reference"),
        ("/events?company=nope", 404, "company nope"),
        ("/companies/acme/events?since=-3h", 400, "neither a time"),
    ];
    for (path, status, says) in cases {
        let (got, body) = api.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["message"].as_str().unwrap_or_default().contains(says), "{path}: {body}");
    }
    let anonymous = reqwest::get(format!("{}/api/v1/events", app.url)).await.unwrap();
    assert_eq!(anonymous.status(), 401, "events need a token");
}

fn qbwcd(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .env("QBWCD_LOG_FORMAT", "json")
        .output()
        .expect("run qbwcd")
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "qbwcd failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

async fn the_events_command_lists_pages_and_shows_one(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let other = app.company("other", None).await;
    let first = record(&app, Some(&acme), "session.busy", Some("session.concurrent_connector"), "first").await;
    let second = record(&app, Some(&acme), "auth.failed", Some("auth.bad_password"), "second").await;
    record(&app, Some(&other), "auth.failed", None, "elsewhere").await;
    let url = app.settings.database_url.clone();

    let table = ok(qbwcd(&url, &["events", "--company", "acme"]));
    let page = qbwcd(&url, &["events", "--company", "acme", "--limit", "1"]);
    let json: Value = serde_json::from_str(&ok(qbwcd(&url, &["events", "--kind", "auth.failed", "--json"]))).unwrap();
    let shown = ok(qbwcd(&url, &["events", "show", &format!("E{second}")]));
    let shown_json: Value =
        serde_json::from_str(&ok(qbwcd(&url, &["events", "show", &second.to_string(), "--json"]))).unwrap();
    let missing = qbwcd(&url, &["events", "show", "E999999"]);
    let bad_since = qbwcd(&url, &["events", "--since", "soon"]);

    // A table, newest first, one line per event, columns aligned.
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for h in ["ID", "TIME", "KIND", "CODE", "COMPANY", "USER", "ADDRESS", "JOB", "MESSAGE"] {
        assert!(lines[0].contains(h), "{table}");
    }
    assert!(lines[1].starts_with(&format!("E{second} ")) && lines[1].contains("192.0.2.7"), "{table}");
    assert!(lines[2].starts_with(&format!("E{first} ")), "{table}");
    assert_eq!(lines[0].find("KIND"), lines[1].find("auth.failed"), "aligned: {table}");
    // One per page, and stderr says how to get the next one.
    let page_out = ok(page.clone());
    assert_eq!(page_out.lines().count(), 2, "{page_out}");
    assert!(String::from_utf8_lossy(&page.stderr).contains(&format!("--before {second}")));
    // JSON is the API's page.
    assert_eq!(json["events"].as_array().unwrap().len(), 2);
    assert_eq!(json["events"][0]["company"], "other");
    assert_eq!(json["next_cursor"], Value::Null);
    // One event with what to do about it.
    assert!(shown.contains(&format!("event      E{second}")) && shown.contains("auth.bad_password"), "{shown}");
    assert!(shown.contains("  1. "), "the steps: {shown}");
    assert_eq!(shown_json["reference"], format!("E{second}"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no event E999999"));
    assert!(!bad_since.status.success());
    assert!(String::from_utf8_lossy(&bad_since.stderr).contains("neither a time"));
}
