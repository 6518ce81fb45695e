//! The JSON API: tokens, companies and users, jobs.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

both_backends!(
    requests_without_a_valid_token_are_refused_with_the_error_shape,
    companies_and_users_are_created_and_the_password_is_shown_once,
    a_job_is_enqueued_done_by_the_web_connector_and_read_back,
    an_idempotency_key_returns_the_existing_job_with_200,
    invalid_submissions_get_clear_422s_400s_and_413s,
    job_lists_page_stably_and_filter_by_state,
    retry_and_cancel_follow_the_state_rules,
    diagnostics_are_served_in_every_code_form,
    users_are_disabled_enabled_and_given_a_new_password,
    an_iterator_job_returns_its_pages_in_order,
);

async fn requests_without_a_valid_token_are_refused_with_the_error_shape(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut api = app.api().await;
    let (ok, _) = api.get("/companies").await;
    assert_eq!(ok, 200);
    for bad in ["", "qbt_nope"] {
        api.token = bad.into();
        let (status, body) = api.get("/companies").await;
        assert_eq!(status, 401);
        assert_eq!(body["code"], "unauthorized");
        assert!(body["message"].as_str().unwrap().contains("Bearer"));
    }
    // A revoked token stops working.
    use qbwcd::store::TokenStore;
    let token = qbwcd::api::generate_token();
    let new = qbwcd::store::NewToken {
        name: "revoke-me".into(),
        token_hash: qbwcd::api::hash_token(&token),
        role: qbwcd::api::Role::Read,
        company_ids: None,
        expires_at: None,
    };
    app.store.create_token(new, app.now()).await.unwrap();
    api.token = token;
    assert_eq!(api.get("/companies").await.0, 200);
    app.store.revoke_token("revoke-me", app.now()).await.unwrap();
    assert_eq!(api.get("/companies").await.0, 401);
}

async fn companies_and_users_are_created_and_the_password_is_shown_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let api = app.api().await;
    let (s, c) =
        api.post("/companies", json!({"slug": "acme", "name": "Acme & Sons", "file_path": "Q:\\\\Acme.QBW"})).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["slug"], "acme");
    assert!(c["file_id"].as_str().unwrap().starts_with('{'));
    assert_eq!(api.post("/companies", json!({"slug": "acme"})).await.0, 409);
    assert_eq!(api.post("/companies", json!({"slug": "Not Valid"})).await.0, 400);
    assert_eq!(api.post("/companies", json!({"slug": "x", "bogus": 1})).await.0, 422);

    let (s, u) = api.post("/companies/acme/users", json!({"username": "alice"})).await;
    assert_eq!(s, 201, "{u}");
    let password = u["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 24);
    assert_eq!(api.post("/companies/acme/users", json!({"username": "alice"})).await.0, 409);
    assert_eq!(api.post("/companies/nope/users", json!({"username": "bob"})).await.0, 404);

    // The password works with the Web Connector and is never shown again.
    let (s, list) = api.get("/companies").await;
    assert_eq!(s, 200);
    assert!(!list.to_string().contains(&password));
    let (_, one) = api.get("/companies/acme").await;
    assert_eq!(one["queue_depth"], 0);
    let mut wc = app.connector("alice");
    wc.password = password;
    assert_eq!(wc.authenticate().await[1], "none");
}

async fn a_job_is_enqueued_done_by_the_web_connector_and_read_back(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let (s, job) = api.post("/companies/acme/jobs", json!({"qbxml": customer_add("Ann"), "priority": 2})).await;
    assert_eq!(s, 201, "{job}");
    assert_eq!(job["state"], "queued");
    assert_eq!(job["kind"], "write");
    assert_eq!(job["requests"], json!(["CustomerAddRq"]));
    let id = job["id"].as_str().unwrap().to_owned();

    app.connector("api").run_session().await;

    let (s, done) = api.get(&format!("/jobs/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(done["state"], "done");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["statuses"][0]["status_code"], 0);
    assert!(done["response"].as_str().unwrap().contains("<CustomerAddRs"));
    assert!(done["completed_at"].is_string());
    assert_eq!(api.get("/jobs/not-a-uuid").await.0, 404);
    assert_eq!(api.get(&format!("/jobs/{}", uuid::Uuid::new_v4())).await.0, 404);
}

async fn an_idempotency_key_returns_the_existing_job_with_200(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let body = json!({"qbxml": customer_add("Ann"), "idempotency_key": "order-7"});
    let (s1, a) = api.post("/companies/acme/jobs", body.clone()).await;
    let (s2, b2) = api.post("/companies/acme/jobs", body).await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(a["id"], b2["id"]);
    let (_, page) = api.get("/companies/acme/jobs").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
}

async fn invalid_submissions_get_clear_422s_400s_and_413s(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.job_max_bytes = 4096).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let cases = [
        (json!({"qbxml": "<CustomerAdd>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": "<Customer/>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": "<!DOCTYPE x><ARq/>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": "<ARq>\u{1}</ARq>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": "<?php x?><AQueryRq/>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": "<AQueryRq/>stray<BQueryRq/>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": "<CustomerAddRq onError=\"continueOnError\"/>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": "<CustomerQueryRq><CustomerAddRq/></CustomerQueryRq>"}), 422, "invalid_qbxml"),
        (json!({"qbxml": customer_query("1"), "depends_on": [uuid::Uuid::new_v4()]}), 400, "unknown_dependency"),
        (json!({"qbxml": customer_query("1"), "webhook_url": "ftp://x"}), 400, "invalid_request"),
        (json!({"qbxml": "x".repeat(5000)}), 413, "too_large"),
        (json!({"nope": 1}), 422, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let (s, err) = api.post("/companies/acme/jobs", body.clone()).await;
        assert_eq!((s, err["code"].as_str()), (status, Some(code)), "{body} → {err}");
        assert!(!err["message"].as_str().unwrap_or_default().is_empty());
    }
    assert_eq!(api.post("/companies/ghost/jobs", json!({"qbxml": customer_query("1")})).await.0, 404);
}

async fn job_lists_page_stably_and_filter_by_state(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let other = app.company("other", None).await;
    let api = app.api().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.enqueue(&acme, &customer_query(&i.to_string())).await.id.to_string());
    }
    app.enqueue(&other, &customer_query("x")).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = api.get(&format!("/companies/acme/jobs?limit=3{cursor}")).await;
        assert_eq!(s, 200);
        for j in page["jobs"].as_array().unwrap() {
            seen.push(j["id"].as_str().unwrap().to_owned());
            assert!(j.get("response").is_none(), "lists omit the answer");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&before={c}"),
            None => break,
        }
    }
    // Newest first, every job once, across pages.
    ids.reverse();
    assert_eq!(seen, ids);
    api.post(&format!("/jobs/{}/cancel", ids[0]), json!({})).await;
    let (_, cancelled) = api.get("/companies/acme/jobs?state=cancelled").await;
    assert_eq!(cancelled["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/companies/acme/jobs?state=bogus").await.0, 400);
    assert_eq!(api.get("/companies/acme/jobs?cursor=zz").await.0, 400);
    assert_eq!(api.get("/companies/acme/jobs?before=zz").await.0, 400);
    assert_eq!(api.get("/companies/acme/jobs?limit=0").await.0, 400);
}

async fn retry_and_cancel_follow_the_state_rules(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let job = app.enqueue(&acme, &customer_add("dup")).await;
    let id = job.id.to_string();
    let (s, err) = api.post(&format!("/jobs/{id}/retry"), json!({})).await;
    assert_eq!((s, err["code"].as_str()), (409, Some("conflict")));

    let wc = app.connector("api");
    wc.qb.script(crate::fake_qbwc::Script::Status(
        3260,
        "Error",
        "Insufficient permission level to perform this action.",
    ));
    wc.run_session().await;
    let (_, failed) = api.get(&format!("/jobs/{id}")).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["diagnostic"]["code"], "qbxml.3260");
    assert!(failed["diagnostic"]["entry"]["steps"][0].as_str().unwrap().contains("Integrated Applications"));
    assert_eq!(api.post(&format!("/jobs/{id}/cancel"), json!({})).await.0, 409);

    let (s, retried) = api.post(&format!("/jobs/{id}/retry"), json!({})).await;
    assert_eq!((s, retried["state"].as_str()), (200, Some("queued")));
    wc.run_session().await;
    assert_eq!(api.get(&format!("/jobs/{id}")).await.1["state"], "done");
    assert_eq!(api.post(&format!("/jobs/{id}/resolve"), json!({"applied": true})).await.0, 409);
}

async fn diagnostics_are_served_in_every_code_form(b: Backend) {
    let app = TestApp::spawn(b).await;
    let http = reqwest::Client::new();
    for code in ["0x80040420", "-2147220448", "3260", "QBWC1012", "auth.bad_password"] {
        let resp = http.get(format!("{}/api/v1/diagnostics/{code}", app.url)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{code}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert!(!v["entry"]["steps"].as_array().unwrap().is_empty(), "{code}");
    }
    let missing = http.get(format!("{}/api/v1/diagnostics/nope.nothing", app.url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

async fn users_are_disabled_enabled_and_given_a_new_password(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let api = app.api().await;
    let qwc_before = api.get_text("/users/api/qwc").await;

    let (s, u) = api.post("/users/api/disable", json!({})).await;
    assert_eq!((s, u["enabled"].as_bool()), (200, Some(false)), "{u}");
    assert_eq!(app.connector("api").authenticate().await[1], "nvu");
    let (s, u) = api.post("/users/api/enable", json!({})).await;
    assert_eq!((s, u["enabled"].as_bool()), (200, Some(true)));
    assert_eq!(app.connector("api").authenticate().await[1], "");

    let (s, p) = api.post("/users/api/password", json!({})).await;
    assert_eq!(s, 201, "{p}");
    let password = p["password"].as_str().unwrap().to_owned();
    assert_eq!(app.connector("api").authenticate().await[1], "nvu", "the old password no longer works");
    let mut wc = app.connector("api");
    wc.password = password;
    assert_eq!(wc.authenticate().await[1], "");
    let qwc_after = api.get_text("/users/api/qwc").await;
    assert_eq!(qwc_before, qwc_after, "a new password keeps the same .qwc file");
    assert_eq!(api.post("/users/nobody/password", json!({})).await.0, 404);
    assert_eq!(api.post("/users/nobody/disable", json!({})).await.0, 404);
}

async fn an_iterator_job_returns_its_pages_in_order(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let q = "<CustomerQueryRq requestID=\"it\" iterator=\"Start\"><MaxReturned>2</MaxReturned></CustomerQueryRq>";
    let (_, job) = api.post("/companies/acme/jobs", json!({"qbxml": q})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let wc = app.connector("api");
    wc.qb.set_records(5);
    wc.run_session().await;

    let (_, done) = api.get(&format!("/jobs/{id}")).await;
    assert_eq!(done["state"], "done");
    let pages = done["pages"].as_array().expect("pages");
    assert_eq!(pages.iter().map(|p| p["page"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(pages[0]["response"].as_str().unwrap().contains("Customer 0"));
    assert!(pages[2]["response"].as_str().unwrap().contains("Customer 4"));
    assert_eq!(pages[2]["statuses"][0]["iterator_remaining_count"], 0);
    let (_, plain) = api.get(&format!("/jobs/{id}")).await;
    assert_eq!(plain["pages"], done["pages"], "stable");
}
