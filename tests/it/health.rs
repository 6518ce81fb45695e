//! Company health through the live protocol: problems appear with their
//! fix steps when the Web Connector or QuickBooks reports them, and clear
//! when the next session runs clean.

use std::time::Duration;

use qbwcd::queue::JobState;
use qbwcd::store::EventStore;
use serde_json::Value;

use crate::both_backends;
use crate::fake_qbwc::Script;
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

both_backends!(
    a_denied_connection_shows_the_login_as_steps_until_a_clean_session,
    a_permission_status_fails_the_job_and_get_last_error_says_what_to_change,
    a_unc_path_to_the_registered_file_is_shown_in_health,
    another_file_id_sends_no_write_and_shows_wrong_file,
    a_bad_password_is_nvu_on_the_wire_and_auth_bad_password_in_health,
    health_counts_jobs_by_state_and_is_in_the_company_view,
);

async fn health(app: &TestApp, slug: &str) -> Value {
    let (status, body) = app.api().await.get(&format!("/companies/{slug}/health")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn problem<'a>(h: &'a Value, code: &str) -> Option<&'a Value> {
    h["problems"].as_array().unwrap().iter().find(|p| p["code"] == code)
}

fn codes(h: &Value) -> Vec<&str> {
    h["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect()
}

fn steps(p: &Value) -> String {
    p["steps"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join("\n")
}

async fn a_denied_connection_shows_the_login_as_steps_until_a_clean_session(b: Backend) {
    // Arrange
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let wc = app.connector("api");

    // Act: QuickBooks refuses the connection, twice.
    for _ in 0..2 {
        let auth = wc.authenticate().await;
        assert_eq!(wc.connection_error(&auth[0], "0x80040420", "The QuickBooks user has denied access.").await, "done");
        app.clock.advance(Duration::from_secs(60));
    }
    let h = health(&app, "acme").await;

    // Assert: one open problem, counted twice, with the steps that fix it.
    assert_eq!(h["status"], "attention");
    let p = problem(&h, "0x80040420").expect("the denied connection is a problem");
    assert_eq!(p["occurrences"], 2);
    assert_eq!(p["fixer"], "quickbooks_admin");
    let s = steps(p);
    assert!(s.contains("Integrated Applications") && s.contains("Login as"), "{s}");
    assert!(p["last_detail"].as_str().unwrap().contains("denied access"), "{p}");
    assert!(p["reference"].as_str().unwrap().starts_with('E'));
    assert!(p["first_seen_at"].as_str() < p["last_seen_at"].as_str());
    assert!(h["last_poll_at"].is_string());

    // The admin fixes it; the next session runs clean and clears it.
    let log = wc.run_session().await;
    assert_eq!(log.progress, [100]);
    let h = health(&app, "acme").await;
    assert!(problem(&h, "0x80040420").is_none(), "{h}");
    assert_eq!(codes(&h), ["hcp.auto_login_not_allowed"], "only what the clean session itself saw");
}

async fn a_permission_status_fails_the_job_and_get_last_error_says_what_to_change(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, "<InvoiceAddRq requestID=\"7\"><InvoiceAdd><CustomerRef><FullName>Ann</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq>").await;
    let wc = app.connector("api");
    wc.qb.script(Script::Status(3260, "Error", "Insufficient permission level to perform this action."));

    let auth = wc.authenticate().await;
    let request = wc.send_request_xml(&auth[0], &wc.hcp).await;
    let answer = match wc.qb.process(&wc.username, &request) {
        crate::fake_qbwc::Answer::Xml(x) => x,
        _ => unreachable!("scripted status"),
    };
    let pct = wc.receive_response_xml(&auth[0], &answer, "", "").await;
    let last = wc.get_last_error(&auth[0]).await;
    wc.close_connection(&auth[0]).await;

    assert_eq!(pct, 100);
    let j = app.job(&job).await;
    assert_eq!(j.state, JobState::Failed);
    assert_eq!(j.diagnostic.as_deref(), Some("qbxml.3260"));
    assert!(last.starts_with("[qbxml.3260]") && last.contains("Login as"), "says what to change: {last}");
    let (_, view) = app.api().await.get(&format!("/jobs/{}", job.id)).await;
    assert_eq!(view["diagnostic"]["code"], "qbxml.3260");
    let h = health(&app, "acme").await;
    let p = problem(&h, "qbxml.3260").expect("permission problem");
    assert!(steps(p).contains("Set Up Users"), "{p}");
    assert_eq!(h["jobs"]["failed"], 1);
}

async fn a_unc_path_to_the_registered_file_is_shown_in_health(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", Some("Q:\\Acme.QBW")).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let mut wc = app.connector("api");
    wc.company_file = "\\\\SERVER\\Share\\Acme.QBW".into();

    let log = wc.run_session().await;

    assert_eq!(log.progress, [100], "only a warning: the work is done");
    let h = health(&app, "acme").await;
    let p = problem(&h, "company.unc_path").expect("UNC warning survives its own clean session");
    assert_eq!(p["severity"], "warning");
    assert!(p["last_detail"].as_str().unwrap().contains("\\\\SERVER\\Share\\Acme.QBW"), "{p}");
    assert!(steps(p).contains("drive letter"), "{p}");
}

async fn another_file_id_sends_no_write_and_shows_wrong_file(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let user = app.user("api", &acme).await;
    let job = app.enqueue(&acme, &customer_add("x")).await;
    let mut wc = app.connector("api");
    let other = "0b5e5c5e-0000-4000-8000-000000000000";
    wc.hcp = crate::fake_qbwc::hcp_response(Some(&user.owner_id.to_string()), Some(other));

    let log = wc.run_session().await;

    assert!(log.requests.is_empty() && wc.qb.applied().is_empty(), "no write reaches the wrong books");
    assert_eq!(app.job(&job).await.state, JobState::Queued);
    let h = health(&app, "acme").await;
    let p = problem(&h, "company.wrong_file").expect("wrong file");
    assert!(p["last_detail"].as_str().unwrap().contains(other), "{p}");
    assert_eq!(h["status"], "attention");
}

async fn a_bad_password_is_nvu_on_the_wire_and_auth_bad_password_in_health(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let mut wc = app.connector("api");
    wc.password = "not the password".into();

    let p = format!("<strUserName>api</strUserName><strPassword>{}</strPassword>", wc.password);
    let raw = wc.post("authenticate", &p).await;
    let auth = crate::fake_qbwc::strings(&raw);

    assert_eq!(auth.len(), 2);
    assert_eq!(auth[1], "nvu");
    for reason in ["password", "bad_password", "locked", "unknown"] {
        assert!(!raw.contains(reason), "the reason never reaches the wire: {raw}");
    }
    let events = app.store.list_events(Some(acme.id), 10).await.unwrap();
    assert!(events.iter().any(|e| e.code.as_deref() == Some("auth.bad_password")));
    let h = health(&app, "acme").await;
    let p = problem(&h, "auth.bad_password").expect("auth problem in health");
    assert!(!p["last_detail"].as_str().unwrap().contains("not the password"), "never the password");

    // The right password, a clean session: cleared.
    app.clock.advance(Duration::from_secs(60));
    wc.password = crate::helpers::PASSWORD.into();
    assert_eq!(wc.run_session().await.progress, [100]);
    assert!(problem(&health(&app, "acme").await, "auth.bad_password").is_none());
}

async fn health_counts_jobs_by_state_and_is_in_the_company_view(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    app.connector("api").run_session().await;
    app.enqueue(&acme, &customer_query("2")).await;
    app.enqueue(&acme, &customer_query("3")).await;

    let h = health(&app, "acme").await;
    let (_, view) = app.api().await.get("/companies/acme").await;

    assert_eq!(h["queue_depth"], 2);
    assert_eq!(h["jobs"]["queued"], 2);
    assert_eq!(h["jobs"]["done"], 1);
    assert_eq!(h["jobs"]["held"], 0, "every state is listed");
    // The captured HCP says automatic login is not allowed: a real warning.
    assert_eq!(codes(&h), ["hcp.auto_login_not_allowed"]);
    assert_eq!(view["health"], h);
    assert_eq!(view["queue_depth"], 2);
    assert_eq!(app.api().await.get("/companies/nope/health").await.0, 404);
}
