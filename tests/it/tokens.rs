//! API token scopes: a role per route, company limits, expiry, and the
//! `token` commands that make and list them.

use std::process::Command;
use std::time::Duration;

use qbwcd::api::{Access, Role, ROUTE_ACCESS};
use qbwcd::store::{AccountStore, TokenStore};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{customer_add, Backend, TestApp, TestDb};

both_backends!(
    every_route_refuses_a_token_below_its_role_and_admits_its_role,
    a_token_limited_to_companies_sees_only_them,
    an_expired_token_is_refused_with_401_saying_so,
    token_create_sets_role_companies_and_expiry_and_token_list_shows_them,
    a_token_stored_before_scopes_is_an_admin_for_every_company_without_expiry,
    an_admin_lists_creates_and_revokes_tokens_over_the_api,
);

async fn an_admin_lists_creates_and_revokes_tokens_over_the_api(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.company("other", None).await;
    let admin = app.token().await;
    let send = |token: String, m: &'static str, path: &'static str, body: serde_json::Value| {
        let url = format!("{}/api/v1{path}", app.url);
        async move {
            let resp = reqwest::Client::new().request(method(m), url).bearer_auth(token).json(&body).send().await;
            let resp = resp.unwrap();
            (resp.status().as_u16(), resp.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };

    // Create: a read token for acme that expires in an hour.
    let body = json!({"name": "reporting", "role": "read", "companies": ["acme"], "expires_in_seconds": 3600});
    let (status, made) = send(admin.clone(), "post", "/tokens", body).await;
    assert_eq!(status, 201, "{made}");
    let reporting = made["token"].as_str().unwrap().to_owned();
    assert!(reporting.starts_with("qbt_"));
    assert_eq!((made["role"].clone(), made["companies"].clone()), (json!("read"), json!(["acme"])));
    assert!(made["expires_at"].is_string());
    // It reads acme only and cannot enqueue.
    let (_, list) = call(&app, Some(&reporting), "get", "/companies").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let enqueue = json!({"qbxml": customer_add("X")});
    assert_eq!(send(reporting.clone(), "post", "/companies/acme/jobs", enqueue).await.0, 403);
    // Bad input is refused with a reason, and nothing is made.
    for bad in [
        json!({"name": " "}),
        json!({"name": "x", "role": "root"}),
        json!({"name": "x", "companies": ["nowhere"]}),
        json!({"name": "x", "expires_in_seconds": 0}),
    ] {
        let (status, body) = send(admin.clone(), "post", "/tokens", bad.clone()).await;
        assert!(status == 400 || status == 422, "{bad}: {status} {body}");
    }
    assert_eq!(send(admin.clone(), "post", "/tokens", json!({"name": "reporting"})).await.0, 409);
    // A company-limited admin manages no tokens.
    let limited = app.scoped_token(Role::Admin, Some(vec![acme.id]), None).await;
    assert_eq!(call(&app, Some(&limited), "get", "/tokens").await.0, 403);
    // List (never the token), then revoke.
    let (status, tokens) = call(&app, Some(&admin), "get", "/tokens").await;
    assert_eq!(status, 200);
    let row = tokens.as_array().unwrap().iter().find(|t| t["name"] == "reporting").unwrap().clone();
    assert_eq!(row["status"], "active");
    assert!(row.get("token").is_none() && !tokens.to_string().contains(&reporting));
    let (status, revoked) = send(admin.clone(), "post", "/tokens/reporting/revoke", json!({})).await;
    assert_eq!((status, revoked["status"].clone()), (200, json!("revoked")));
    assert_eq!(call(&app, Some(&reporting), "get", "/companies").await.0, 401);
    assert_eq!(send(admin, "post", "/tokens/reporting/revoke", json!({})).await.0, 404);
}

async fn a_token_stored_before_scopes_is_an_admin_for_every_company_without_expiry(b: Backend) {
    // Arrange: a row written as qbwcd wrote them before 0020 (no role,
    // companies or expiry); 0020 gave the existing rows its defaults.
    let db = TestDb::new(b).await;
    let insert =
        "insert into api_token (name, token_hash, created_at) values ('old', 'abc', '2026-01-01T00:00:00+00:00')";
    match b {
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            rusqlite::Connection::open(path).unwrap().execute(insert, []).unwrap();
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    let old = db.store.list_tokens().await.unwrap().pop().unwrap();

    assert_eq!((old.name.as_str(), old.role, old.company_ids, old.expires_at), ("old", Role::Admin, None, None));
}

/// `{slug}`, `{id}`, `{username}` and `{code}` filled with rows that exist.
fn concrete(path: &str, job: &str) -> String {
    path.replace("{slug}", "acme")
        .replace("{id}", job)
        .replace("{username}", "pc1")
        .replace("{code}", "qbxml.3100")
        .replace("{name}", "nobody")
}

fn method(m: &str) -> reqwest::Method {
    m.to_uppercase().parse().expect("an HTTP method")
}

async fn call(app: &TestApp, token: Option<&str>, m: &str, path: &str) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().request(method(m), format!("{}/api/v1{path}", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if m != "get" {
        req = req.json(&json!({}));
    }
    let resp = req.send().await.expect("API request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

async fn every_route_refuses_a_token_below_its_role_and_admits_its_role(b: Backend) {
    // Arrange: rows for every path parameter, and a token of each role.
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("pc1", &acme).await;
    let job = app.enqueue(&acme, &customer_add("A")).await.id.to_string();
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, app.scoped_token(role, None, None).await));
    }
    let public: Vec<_> = ROUTE_ACCESS.iter().filter(|r| r.2 == Access::Public).map(|r| r.1).collect();
    assert_eq!(public, ["/diagnostics/{code}", "/openapi.json"], "only these are open to anyone");

    for (m, path, access) in ROUTE_ACCESS {
        let path = concrete(path, &job);
        let Access::Token(needed) = *access else {
            let (status, _) = call(&app, None, m, &path).await;
            assert_eq!(status, 200, "{m} {path} is public");
            continue;
        };
        // Act + Assert: no token is 401; each lower role is 403.
        let (status, _) = call(&app, None, m, &path).await;
        assert_eq!(status, 401, "{m} {path} without a token");
        for (role, token) in tokens.iter().filter(|(r, _)| *r < needed) {
            let (status, body) = call(&app, Some(token), m, &path).await;
            assert_eq!(status, 403, "{m} {path} with a {role} token (needs {needed}): {body}");
            assert_eq!(body["code"], "forbidden");
            assert!(body["message"].as_str().unwrap().contains(&format!("needs {needed}")), "{body}");
        }
        // The role it names gets past the check (the handler may still
        // refuse the empty body or the job's state, never the token).
        let token = &tokens.iter().find(|(r, _)| *r == needed).unwrap().1;
        let (status, body) = call(&app, Some(token), m, &path).await;
        assert!(status != 401 && status != 403, "{m} {path} with a {needed} token: {status} {body}");
    }
}

async fn a_token_limited_to_companies_sees_only_them(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let other = app.company("other", None).await;
    app.user("pc1", &acme).await;
    app.user("pc2", &other).await;
    let mine = app.enqueue(&acme, &customer_add("MINE")).await.id.to_string();
    let theirs = app.enqueue(&other, &customer_add("THEIRS")).await.id.to_string();
    let token = app.scoped_token(Role::Admin, Some(vec![acme.id]), None).await;
    let t = Some(token.as_str());

    // Lists are filtered.
    let (status, list) = call(&app, t, "get", "/companies").await;
    assert_eq!(status, 200);
    let slugs: Vec<_> = list.as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap().to_owned()).collect();
    assert_eq!(slugs, ["acme"]);
    // Its own company's rows are there.
    assert_eq!(call(&app, t, "get", "/companies/acme").await.0, 200);
    assert_eq!(call(&app, t, "get", &format!("/jobs/{mine}")).await.0, 200);
    assert_eq!(call(&app, t, "get", "/companies/acme/jobs").await.0, 200);
    // Another company's are not found, exactly as if they did not exist.
    for path in [
        "/companies/other".to_owned(),
        "/companies/other/jobs".to_owned(),
        "/companies/other/health".to_owned(),
        format!("/jobs/{theirs}"),
        "/users/pc2/qwc".to_owned(),
    ] {
        let (status, body) = call(&app, t, "get", &path).await;
        assert_eq!(status, 404, "GET {path}: {body}");
        assert_eq!(body["code"], "not_found");
    }
    let missing = call(&app, t, "get", "/companies/nowhere").await.1;
    let hidden = call(&app, t, "get", "/companies/other").await.1;
    assert_eq!(
        missing["message"].as_str().unwrap().replace("nowhere", "X"),
        hidden["message"].as_str().unwrap().replace("other", "X")
    );
    // Nor can it change them.
    let (status, _) = call(&app, t, "post", "/users/pc2/disable").await;
    assert_eq!(status, 404);
    assert!(app.store.user("pc2").await.unwrap().unwrap().enabled, "pc2 untouched");
    let body = json!({"qbxml": customer_add("X")});
    let req = reqwest::Client::new().post(format!("{}/api/v1/companies/other/jobs", app.url)).bearer_auth(&token);
    assert_eq!(req.json(&body).send().await.unwrap().status(), 404);
    assert_eq!(call(&app, t, "post", &format!("/jobs/{theirs}/cancel")).await.0, 404);
    // And it cannot make a company it would not see.
    let req = reqwest::Client::new().post(format!("{}/api/v1/companies", app.url)).bearer_auth(&token);
    let resp = req.json(&json!({"slug": "third"})).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(app.store.list_companies().await.unwrap().iter().all(|c| c.slug.as_str() != "third"));
}

async fn an_expired_token_is_refused_with_401_saying_so(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let token = app.scoped_token(Role::Read, None, Some(app.now() + chrono::Duration::hours(1))).await;
    assert_eq!(call(&app, Some(&token), "get", "/companies").await.0, 200);
    let used = app.store.list_tokens().await.unwrap().into_iter().find(|t| t.role == Role::Read).unwrap();

    app.clock.advance(Duration::from_secs(3601));

    let (status, body) = call(&app, Some(&token), "get", "/companies").await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "token_expired");
    assert!(body["message"].as_str().unwrap().contains("expired at"), "{body}");
    let after = app.store.list_tokens().await.unwrap().into_iter().find(|t| t.role == Role::Read).unwrap();
    assert_eq!(after.last_used_at, used.last_used_at, "a refused use is not a use");
}

fn qbwcd(db: &str, args: &[&str]) -> (bool, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_qbwcd")).args(args).env("QBWCD_DATABASE_URL", db).output().expect("run qbwcd");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

async fn token_create_sets_role_companies_and_expiry_and_token_list_shows_them(b: Backend) {
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    let now = chrono::Utc::now();
    let acme = crate::helpers::seed_company(&db.store, "acme", now).await;

    let (ok, token, err) =
        qbwcd(&url, &["token", "create", "billing", "--role", "read", "--company", "acme", "--expires-in", "30d"]);
    assert!(ok, "{err}");
    assert!(token.trim().starts_with("qbt_"));
    assert!(err.contains("read") && err.contains("acme"), "{err}");
    let (ok, _, err) = qbwcd(&url, &["token", "create", "app"]);
    assert!(ok, "{err}");
    // Bad input: a clear refusal, nothing stored.
    let (ok, _, err) = qbwcd(&url, &["token", "create", "bad", "--role", "root"]);
    assert!(!ok && err.contains("root"), "{err}");
    let (ok, _, err) = qbwcd(&url, &["token", "create", "bad", "--company", "nowhere"]);
    assert!(!ok && err.contains("nowhere"), "{err}");
    let (ok, _, err) = qbwcd(&url, &["token", "create", "bad", "--expires-in", "soon"]);
    assert!(!ok && err.contains("soon"), "{err}");

    let tokens = db.store.list_tokens().await.unwrap();
    assert_eq!(tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["app", "billing"]);
    let billing = &tokens[1];
    assert_eq!((billing.role, billing.company_ids.clone()), (Role::Read, Some(vec![acme.id])));
    let expires = billing.expires_at.expect("an expiry");
    assert!((expires - (now + chrono::Duration::days(30))).num_minutes().abs() < 5, "{expires}");
    assert_eq!((tokens[0].role, tokens[0].company_ids.clone(), tokens[0].expires_at), (Role::Enqueue, None, None));

    let (ok, table, err) = qbwcd(&url, &["token", "list"]);
    assert!(ok, "{err}");
    for header in ["ROLE", "COMPANIES", "EXPIRES", "LAST USED"] {
        assert!(table.contains(header), "{table}");
    }
    let line = table.lines().find(|l| l.contains("billing")).unwrap();
    assert!(line.contains("read") && line.contains("acme") && line.contains("active"), "{line}");
    let line = table.lines().find(|l| l.starts_with("app") || l.contains(" app ")).unwrap();
    assert!(line.contains("enqueue") && line.contains("all") && line.contains("never"), "{line}");
    let (ok, json, _) = qbwcd(&url, &["token", "list", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[1]["companies"], json!(["acme"]));
    assert_eq!(v[0]["companies"], serde_json::Value::Null);
    assert_eq!(v[1]["role"], "read");
}
