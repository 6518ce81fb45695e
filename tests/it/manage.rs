//! The management surface over the API: every field of a company and a
//! user read and changed with no side effect, disabling and removing them,
//! the job view's request as sent, newest-first listings, idempotency
//! conflicts, and health for work nothing will collect.

use std::time::Duration;

use qbwcd::queue::JobState;
use qbwcd::store::{AccountStore, EventStore, JobStore, TokenStore};
use qbwcd::submit::SubmitOptions;
use qbwcd::types::Username;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

both_backends!(
    a_company_file_path_and_name_are_set_and_cleared_with_patch,
    a_disabled_company_gets_nvu_with_the_reason_recorded_and_keeps_its_work,
    a_company_with_open_work_is_not_removed_and_one_without_is_removed_whole,
    users_are_read_listed_and_their_schedule_changes_without_the_password,
    a_locked_out_user_is_unlocked,
    removing_a_user_mid_session_holds_its_write_for_a_person,
    the_job_view_shows_the_request_exactly_as_the_web_connector_received_it,
    an_idempotency_key_with_another_body_is_a_409_naming_the_job,
    work_nobody_collects_puts_health_in_attention_with_what_to_do,
);

async fn a_company_file_path_and_name_are_set_and_cleared_with_patch(b: Backend) {
    // The webhook host is on the allow list, so it is never looked up.
    let app = TestApp::spawn_with(b, |s| s.webhook_allow_hosts = vec!["example.com".into()]).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let path = "C:\\Users\\Public\\Acme.QBW";

    let (s, c) = api.send(Method::PATCH, "/companies/acme", Some(json!({"file_path": path, "name": "Acme"}))).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!((c["file_path"].as_str(), c["name"].as_str()), (Some(path), Some("Acme")));
    // The Web Connector is told to open the file from now on.
    let acme = app.store.company(&qbwcd::types::CompanySlug::parse("acme").unwrap()).await.unwrap().unwrap();
    assert_eq!(acme.file_path.as_deref(), Some(path));

    // A key left out stays; null clears the path.
    let (s, c) = api.send(Method::PATCH, "/companies/acme", Some(json!({"webhook_url": null}))).await;
    assert_eq!((s, c["file_path"].as_str()), (200, Some(path)));
    let (s, c) = api.send(Method::PATCH, "/companies/acme", Some(json!({"file_path": null}))).await;
    assert_eq!((s, &c["file_path"], c["name"].as_str()), (200, &Value::Null, Some("Acme")));

    // Texts are trimmed, as the console and `company update` trim them.
    let hook = json!({"webhook_url": " https://example.com/h ", "name": " Acme "});
    let (s, c) = api.send(Method::PATCH, "/companies/acme", Some(hook)).await;
    assert_eq!((s, c["webhook_url"].as_str(), c["name"].as_str()), (200, Some("https://example.com/h"), Some("Acme")));
    let (s, e) = api.send(Method::PATCH, "/companies/acme", Some(json!({"webhook_url": "http://192.168.1.5/"}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid_request")), "{e}");
    let (s, c) = api.send(Method::PATCH, "/companies/acme", Some(json!({"webhook_url": ""}))).await;
    assert_eq!((s, &c["webhook_url"]), (200, &Value::Null), "an empty URL removes it");

    let (s, e) = api.send(Method::PATCH, "/companies/acme", Some(json!({"name": "  "}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid_request")));
    let (s, _) = api.send(Method::PATCH, "/companies/acme", Some(json!({"file_id": "x"}))).await;
    assert_eq!(s, 422, "unknown fields are still refused");
    assert_eq!(api.send(Method::PATCH, "/companies/ghost", Some(json!({"name": "x"}))).await.0, 404);
    let (_, shown) = api.get("/companies/acme").await;
    assert_eq!((shown["name"].as_str(), shown["enabled"].as_bool()), (Some("Acme"), Some(true)));
}

async fn a_disabled_company_gets_nvu_with_the_reason_recorded_and_keeps_its_work(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let job = app.enqueue(&acme, &customer_query("1")).await;
    let api = app.api().await;

    let (s, c) = api.post("/companies/acme/disable", json!({})).await;
    assert_eq!((s, c["enabled"].as_bool()), (200, Some(false)), "{c}");
    assert!(c["disabled_at"].is_string());
    let wc = app.connector("alice");
    let log = wc.run_session().await;
    assert_eq!(log.auth[1], "nvu", "{log:?}");
    assert!(log.requests.is_empty());
    // The reason is in the events, never on the wire.
    let events = app.store.list_events(Some(acme.id), 10).await.unwrap();
    let refused = events.iter().find(|e| e.kind == "auth.failed").expect("the refusal is recorded");
    assert_eq!(refused.code.as_deref(), Some("auth.company_disabled"));
    assert!(!log.auth.iter().any(|s| s.contains("disabled")));
    assert_eq!(app.job(&job).await.state, JobState::Queued, "work stays queued");
    let (_, u) = api.get("/users/alice").await;
    assert_eq!((u["enabled"].as_bool(), u["company_enabled"].as_bool()), (Some(true), Some(false)));

    let (s, c) = api.post("/companies/acme/enable", json!({})).await;
    assert_eq!((s, c["enabled"].as_bool(), &c["disabled_at"]), (200, Some(true), &Value::Null));
    app.clock.advance(Duration::from_secs(60));
    let log = wc.run_session().await;
    assert_eq!(log.requests.len(), 1, "{log:?}");
    assert_eq!(app.job(&job).await.state, JobState::Done);
    assert_eq!(api.post("/companies/ghost/disable", json!({})).await.0, 404);
}

async fn a_company_with_open_work_is_not_removed_and_one_without_is_removed_whole(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let other = app.company("other", None).await;
    app.user("alice", &acme).await;
    app.user("olga", &other).await;
    let done = app.enqueue(&acme, &customer_query("1")).await;
    app.connector("alice").run_session().await;
    assert_eq!(app.job(&done).await.state, JobState::Done);
    let queued = app.enqueue(&acme, &customer_query("2")).await;
    let parent = app.enqueue(&acme, &customer_add("P")).await;
    let opts = SubmitOptions { depends_on: vec![parent.id], ..SubmitOptions::default() };
    app.enqueue_with(&acme, &customer_add("C"), opts).await;
    let keep = app.enqueue(&other, &customer_query("x")).await;
    let api = app.api().await;

    let (s, e) = api.send(Method::DELETE, "/companies/acme", None).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("company_has_work")), "{e}");
    assert_eq!(e["open_work"], json!({"queued": 2, "sent": 0, "unknown": 0, "held": 1}));
    assert!(e["message"].as_str().unwrap().contains("2 queued"), "{e}");
    assert_eq!(api.get("/companies/acme").await.0, 200, "nothing was removed");

    for j in [&queued, &parent] {
        assert_eq!(api.post(&format!("/jobs/{}/cancel", j.id), json!({})).await.0, 200);
    }
    // A live token limited to it keeps it too: a later company could be
    // given its row id, and the token would see that one.
    app.scoped_token(qbwcd::types::Role::Read, Some(vec![acme.id]), None).await;
    let (s, e) = api.send(Method::DELETE, "/companies/acme", None).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("company_has_work")), "{e}");
    let name = e["open_work"]["limited_tokens"][0].as_str().expect("the token is named").to_owned();
    app.store.revoke_token(&name, app.now()).await.unwrap();
    let (s, removed) = api.send(Method::DELETE, "/companies/acme", None).await;
    assert_eq!(s, 200, "{removed}");
    assert_eq!((removed["users"].as_u64(), removed["jobs"].as_u64()), (Some(1), Some(4)), "{removed}");
    assert!(removed["sessions"].as_u64().unwrap() >= 1);
    assert_eq!(api.get("/companies/acme").await.0, 404);
    assert_eq!(api.get("/users/alice").await.0, 404);
    assert!(app.store.job(done.id).await.unwrap().is_none());
    // Another company is untouched, and the slug can be used again.
    assert_eq!(app.job(&keep).await.state, JobState::Queued);
    assert_eq!(api.get("/users/olga").await.0, 200);
    assert_eq!(api.post("/companies", json!({"slug": "acme"})).await.0, 201);
    assert_eq!(api.send(Method::DELETE, "/companies/ghost", None).await.0, 404);
}

async fn users_are_read_listed_and_their_schedule_changes_without_the_password(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let other = app.company("other", None).await;
    app.user("alice", &acme).await;
    app.user("bob", &acme).await;
    app.user("olga", &other).await;
    let api = app.api().await;
    assert_eq!(app.connector("alice").authenticate().await[1], "none");

    let (s, u) = api.get("/users/alice").await;
    assert_eq!(s, 200, "{u}");
    assert_eq!((u["company"].as_str(), u["enabled"].as_bool()), (Some("acme"), Some(true)));
    assert!(u["last_seen_at"].is_string());
    assert_eq!((u["failed_logins"].as_i64(), &u["locked_until"]), (Some(0), &Value::Null));
    assert_eq!((u["silent"].as_bool(), u["expected_every_seconds"].as_u64()), (Some(false), Some(900)));
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    let (s, list) = api.get("/companies/acme/users").await;
    assert_eq!(s, 200);
    let names: Vec<_> = list.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(api.get("/companies/ghost/users").await.0, 404);
    assert_eq!(api.get("/users/ghost").await.0, 404);

    // Silent after three intervals without a login.
    app.clock.advance(Duration::from_secs(3 * 900 + 1));
    assert_eq!(api.get("/users/alice").await.1["silent"], true);

    let (s, u) = api.send(Method::PATCH, "/users/alice", Some(json!({"run_every_minutes": 5}))).await;
    assert_eq!((s, u["run_every_minutes"].as_i64(), u["expected_every_seconds"].as_u64()), (200, Some(5), Some(300)));
    // The password did not change: the Web Connector still logs in.
    assert_eq!(app.connector("alice").authenticate().await[1], "none");
    let (_, u) = api.send(Method::PATCH, "/users/alice", Some(json!({"enabled": false}))).await;
    assert_eq!((u["enabled"].as_bool(), u["run_every_minutes"].as_i64()), (Some(false), Some(5)), "keys left out stay");
    let (_, u) = api.send(Method::PATCH, "/users/alice", Some(json!({"run_every_seconds": 30, "enabled": true}))).await;
    assert_eq!((&u["run_every_minutes"], u["run_every_seconds"].as_i64()), (&Value::Null, Some(30)));
    let (_, u) = api.send(Method::PATCH, "/users/alice", Some(json!({"run_every_seconds": null}))).await;
    assert_eq!((&u["run_every_minutes"], &u["run_every_seconds"]), (&Value::Null, &Value::Null));
    let both = json!({"run_every_minutes": 1, "run_every_seconds": 1});
    let (s, e) = api.send(Method::PATCH, "/users/alice", Some(both)).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid_schedule")));
    assert_eq!(api.send(Method::PATCH, "/users/alice", Some(json!({"password": "x"}))).await.0, 422);
    assert_eq!(app.connector("alice").authenticate().await[1], "none");
}

async fn a_locked_out_user_is_unlocked(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.auth.lockout_threshold = 2;
        s.auth.address_lockout_threshold = 100;
    })
    .await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let api = app.api().await;
    let mut wrong = app.connector("alice");
    wrong.password = "not the password at all".into();
    for _ in 0..3 {
        assert_eq!(wrong.authenticate().await[1], "nvu");
    }
    let (_, u) = api.get("/users/alice").await;
    assert!(u["locked_until"].is_string(), "{u}");
    assert!(u["failed_logins"].as_i64().unwrap() >= 2);
    assert_eq!(app.connector("alice").authenticate().await[1], "nvu", "locked, even with the right password");

    let (s, u) = api.post("/users/alice/unlock", json!({})).await;
    assert_eq!((s, &u["locked_until"], u["failed_logins"].as_i64()), (200, &Value::Null, Some(0)), "{u}");
    assert_eq!(app.connector("alice").authenticate().await[1], "none", "the same password works again");
    assert_eq!(api.post("/users/ghost/unlock", json!({})).await.0, 404);
}

async fn removing_a_user_mid_session_holds_its_write_for_a_person(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    app.user("bob", &acme).await;
    let write = app.enqueue(&acme, &customer_add("Ann")).await;
    let wc = app.connector("alice");
    let auth = wc.authenticate().await;
    let sent = wc.send_request_xml(&auth[0], &wc.hcp).await;
    assert!(sent.contains("CustomerAddRq"), "{sent}");
    assert_eq!(app.job(&write).await.state, JobState::Sent);
    let api = app.api().await;

    let (s, removed) = api.send(Method::DELETE, "/users/alice", None).await;
    assert_eq!(s, 200, "{removed}");
    assert_eq!(
        (removed["users"].as_u64(), removed["leases_released"].as_u64(), removed["writes_held"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    // QuickBooks may have applied it (never resent blindly), and only
    // alice's application could have asked: a person checks.
    let job = app.job(&write).await;
    assert_eq!(job.state, JobState::Held, "{job:?}");
    assert_eq!(job.diagnostic.as_deref(), Some("session.recovery_connector_absent"));
    assert!(job.error.as_deref().is_some_and(|e| e.contains("user alice was removed")), "{job:?}");
    assert_eq!(api.get("/users/alice").await.0, 404);
    assert_eq!(app.connector("alice").authenticate().await[1], "nvu");
    // Its late answer finds no session; the company's other user is not
    // sent the held write.
    assert!(wc.receive_response_xml(&auth[0], "<QBXML/>", "", "").await < 0);
    let log = app.connector("bob").run_session().await;
    assert!(log.requests.is_empty(), "{log:?}");
    assert_eq!(app.job(&write).await.state, JobState::Held);
    assert!(app.store.user("alice").await.unwrap().is_none());
    assert_eq!(api.send(Method::DELETE, "/users/alice", None).await.0, 404);
    let name = Username::parse("bob").unwrap();
    assert!(app.store.remove_user(&name, app.now()).await.is_ok());
}

async fn the_job_view_shows_the_request_exactly_as_the_web_connector_received_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let write = app.enqueue(&acme, &customer_add("Ann")).await;
    let read_doc = format!(
        "<?qbxml version=\"4.0\"?><QBXML><QBXMLMsgsRq onError=\"continueOnError\">{}</QBXMLMsgsRq></QBXML>",
        customer_query("q")
    );
    let read = app.enqueue(&acme, &read_doc).await;
    let second = app.enqueue(&acme, &customer_add("Bob")).await;
    let api = app.api().await;
    let (_, before) = api.get(&format!("/jobs/{}", write.id)).await;
    assert!(before.get("request").is_none(), "not sent yet: {before}");

    let log = app.connector("alice").run_session().await;
    assert_eq!(log.requests.len(), 3, "{log:?}");
    let view = |id| {
        let api = &api;
        async move { api.get(&format!("/jobs/{id}")).await.1 }
    };
    let (w, r, w2) = (view(write.id).await, view(read.id).await, view(second.id).await);
    // Byte for byte what the Web Connector received, in order.
    assert_eq!(w["request"].as_str(), Some(log.requests[0].as_str()), "{w}");
    assert_eq!(r["request"].as_str(), Some(log.requests[1].as_str()), "the read, at its own version and onError");
    assert_eq!(w2["request"].as_str(), Some(log.requests[2].as_str()), "{w2}");
    let id = w["new_message_set_id"].as_str().expect("a write has its message-set id");
    assert!(w["request"].as_str().unwrap().contains(&format!("newMessageSetID=\"{id}\"")));
    // The second write clears the first's recovery record: it carries its id.
    assert!(w2["request"].as_str().unwrap().contains(&format!("oldMessageSetID=\"{id}\"")), "{w2}");
    assert!(r["request"].as_str().unwrap().contains("onError=\"continueOnError\""));
    assert_eq!(r["new_message_set_id"], Value::Null);
    let (_, page) = api.get("/companies/acme/jobs").await;
    assert!(page["jobs"][0].get("request").is_none(), "lists stay light");
}

async fn an_idempotency_key_with_another_body_is_a_409_naming_the_job(b: Backend) {
    // The webhook host is on the allow list, so it is never looked up.
    let app = TestApp::spawn_with(b, |s| s.webhook_allow_hosts = vec!["example.com".into()]).await;
    let acme = app.company("acme", None).await;
    let api = app.api().await;
    let body = json!({"qbxml": customer_add("Ann"), "idempotency_key": "order-7", "priority": 1});
    let (s1, first) = api.post("/companies/acme/jobs", body.clone()).await;
    assert_eq!(s1, 201);
    // The same submission, spelled as a whole document: the same body.
    let doc = format!(
        "<?xml version=\"1.0\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\">\n  {}\n</QBXMLMsgsRq></QBXML>",
        customer_add("Ann")
    );
    let (s2, again) =
        api.post("/companies/acme/jobs", json!({"qbxml": doc, "idempotency_key": "order-7", "priority": 1})).await;
    assert_eq!((s2, &again["id"]), (200, &first["id"]), "{again}");
    for other in [
        json!({"qbxml": customer_add("Bob"), "idempotency_key": "order-7", "priority": 1}),
        json!({"qbxml": customer_add("Ann"), "idempotency_key": "order-7", "priority": 2}),
        json!({"qbxml": customer_add("Ann"), "idempotency_key": "order-7", "priority": 1, "webhook_url": "https://example.com/h"}),
    ] {
        let (s, e) = api.post("/companies/acme/jobs", other.clone()).await;
        assert_eq!((s, e["code"].as_str()), (409, Some("idempotency_conflict")), "{other} → {e}");
        assert_eq!(e["job_id"], first["id"]);
        assert!(e["message"].as_str().unwrap().contains(first["id"].as_str().unwrap()));
    }
    let (_, page) = api.get("/companies/acme/jobs").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1, "nothing new was queued");
    // Dependencies count as a set.
    let dep = app.enqueue(&acme, &customer_query("d")).await;
    let with = |deps: Value| json!({"qbxml": customer_query("x"), "idempotency_key": "k2", "depends_on": deps});
    assert_eq!(api.post("/companies/acme/jobs", with(json!([dep.id, dep.id]))).await.0, 201);
    assert_eq!(api.post("/companies/acme/jobs", with(json!([dep.id]))).await.0, 200);
    assert_eq!(api.post("/companies/acme/jobs", with(json!([]))).await.0, 409);
}

async fn work_nobody_collects_puts_health_in_attention_with_what_to_do(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let api = app.api().await;
    let (_, h) = api.get("/companies/acme/health").await;
    assert_eq!(h["status"], "ok", "nothing queued, nothing to collect: {h}");

    app.enqueue(&acme, &customer_query("1")).await;
    let (_, h) = api.get("/companies/acme/health").await;
    assert_eq!(h["status"], "attention", "{h}");
    let p = &h["problems"][0];
    assert_eq!(p["code"], "company.no_connector");
    assert!(p["steps"].to_string().contains("qbwcd user add"), "{p}");
    assert!(p.get("reference").is_none(), "no event behind it: {p}");

    app.user("alice", &acme).await;
    let (_, h) = api.get("/companies/acme/health").await;
    assert_eq!(
        (h["status"].as_str(), h["problems"][0]["code"].as_str()),
        (Some("attention"), Some("company.never_connected"))
    );
    assert!(h["problems"][0]["last_detail"].as_str().unwrap().contains("alice"));
    assert!(h["problems"][0]["steps"].to_string().contains(".qwc"));

    let log = app.connector("alice").run_session().await;
    assert_eq!(log.requests.len(), 1);
    app.enqueue(&acme, &customer_query("2")).await;
    let (_, h) = api.get("/companies/acme/health").await;
    let codes = h["problems"].to_string();
    assert!(!codes.contains("company.no_connector") && !codes.contains("company.never_connected"), "{h}");
    let (_, c) = api.get("/companies/acme").await;
    assert!(!c["health"]["problems"].to_string().contains("company.never_connected"));
}
