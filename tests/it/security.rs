//! Lockout, timing, tenant isolation and input bounds.

use std::time::{Duration, Instant};

use qbwcd::queue::JobState;
use qbwcd::store::EventStore;

use crate::both_backends;
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

both_backends!(
    a_user_is_locked_out_after_wrong_passwords_and_sees_only_nvu,
    an_address_guessing_user_names_is_locked_out,
    unknown_users_take_as_long_as_known_ones,
    a_ticket_only_ever_reaches_its_own_company,
    oversized_and_deep_bodies_are_refused,
);

async fn codes(app: &TestApp) -> Vec<String> {
    app.store.list_events(None, 100).await.unwrap().into_iter().filter_map(|e| e.code).collect()
}

async fn a_user_is_locked_out_after_wrong_passwords_and_sees_only_nvu(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let mut wc = app.connector("api");
    let right = wc.password.clone();
    wc.password = "wrong".into();
    for _ in 0..5 {
        assert_eq!(wc.authenticate().await[1], "nvu");
    }
    wc.password = right;
    let locked = wc.authenticate().await;
    assert_eq!(locked, vec![locked[0].clone(), "nvu".to_owned()], "the right password is refused while locked");
    assert!(codes(&app).await.contains(&"auth.locked_out".to_owned()));
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(wc.authenticate().await[1], "", "the lockout expires");
}

async fn an_address_guessing_user_names_is_locked_out(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.auth.address_lockout_threshold = 3).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    for name in ["admin", "root", "qb"] {
        let mut guess = app.connector("api");
        guess.username = name.into();
        assert_eq!(guess.authenticate().await[1], "nvu");
    }
    assert_eq!(app.connector("api").authenticate().await[1], "nvu", "the address is locked");
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.connector("api").authenticate().await[1], "");
}

async fn unknown_users_take_as_long_as_known_ones(b: Backend) {
    // What matters is that an unknown user still costs a full argon2
    // verification (a dummy hash), so timing does not reveal which names
    // exist. Compare each login path with one verification measured here;
    // without the dummy, an unknown user would take a small fraction of it.
    let app = TestApp::spawn_with(b, |s| s.auth.lockout_threshold = 0).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let verifier = qbwcd::auth::Verifier::new(1, 0).unwrap();
    let hash = qbwcd::auth::hash_password(&secrecy::SecretString::from("x")).unwrap();
    let mut known = app.connector("api");
    known.password = "wrong".into();
    let mut unknown = app.connector("nobody");
    unknown.password = "wrong".into();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut one, mut k, mut u) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        verifier.verify(secrecy::SecretString::from("y"), Some(hash.clone())).await.unwrap();
        one.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        known.authenticate().await;
        k.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        unknown.authenticate().await;
        u.push(t.elapsed().as_secs_f64());
    }
    let (one, k, u) = (median(one), median(k), median(u));
    assert!(u > one * 0.6, "unknown user {u:.4}s vs one verification {one:.4}s");
    assert!(k > one * 0.6, "known user {k:.4}s vs one verification {one:.4}s");
}

async fn a_ticket_only_ever_reaches_its_own_company(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let globex = app.company("globex", None).await;
    app.user("acme-user", &acme).await;
    app.user("globex-user", &globex).await;
    let a_job = app.enqueue(&acme, &customer_add("acme-only")).await;
    let g_job = app.enqueue(&globex, &customer_add("globex-only")).await;

    let a = app.connector("acme-user");
    let ticket = a.authenticate().await[0].clone();
    let req = a.send_request_xml(&ticket, &a.hcp).await;
    assert!(req.contains("acme-only") && !req.contains("globex-only"));
    // An answer posted with acme's ticket can only complete acme's job.
    let answer = "<QBXML><QBXMLMsgsRs><CustomerAddRs requestID=\"globex-only\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"x\"/></QBXMLMsgsRs></QBXML>";
    a.receive_response_xml(&ticket, answer, "", "").await;
    assert_eq!(app.job(&a_job).await.state, JobState::Done);
    assert_eq!(app.job(&g_job).await.state, JobState::Queued);
    // A made-up ticket reaches nothing.
    let forged = "0".repeat(32);
    assert_eq!(a.send_request_xml(&forged, "").await, "");
    assert!(a.receive_response_xml(&forged, answer, "", "").await < 0);
    assert_eq!(app.job(&g_job).await.state, JobState::Queued);
}

async fn oversized_and_deep_bodies_are_refused(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.soap_body_limit_bytes = 64 * 1024;
        s.job_max_bytes = 1024;
    })
    .await;
    app.company("acme", None).await;
    let http = reqwest::Client::new();
    let big = vec![b'x'; 100 * 1024];
    let r = http.post(format!("{}/qbwc", app.url)).body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), 413, "SOAP bodies are bounded by soap_body_limit_bytes");
    let api = app.api().await;
    let r = api
        .http
        .post(format!("{}/companies/acme/jobs", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "API bodies are bounded separately");
    let deep = format!(
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><authenticate xmlns=\"http://developer.intuit.com/\">{}{}</authenticate></soap:Body></soap:Envelope>",
        "<a>".repeat(500),
        "</a>".repeat(500)
    );
    let r = http.post(format!("{}/qbwc", app.url)).body(deep).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("Fault"));
}

/// The SQLite database and its WAL and shared-memory files are created
/// readable by their owner only, whatever the umask.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_created_private() {
    use std::os::unix::fs::PermissionsExt as _;

    use qbwcd::store::{PoolOptions, SqlStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = SqlStore::connect(&format!("sqlite://{}", path.display()), &PoolOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    crate::helpers::seed_company(&store, "acme", chrono::Utc::now()).await;
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("private.db{suffix}"));
        let mode = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} is {:o}", file.display(), mode & 0o777);
    }
    store.close().await;
}
