//! The management commands through the real binary: `company show|update|
//! disable|enable|remove`, `user show|update|passwd|enable|unlock|remove|
//! list --company`, `jobs list` newest first with `--before`, and
//! idempotency conflicts on `enqueue`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use qbwcd::store::AccountStore;

use crate::both_backends;
use crate::helpers::{customer_add, customer_query, Backend, TestDb};

both_backends!(
    companies_are_shown_updated_disabled_and_removed_from_the_cli,
    users_are_shown_updated_unlocked_and_removed_from_the_cli,
    jobs_list_newest_first_in_pages_and_enqueue_refuses_a_reused_key,
);

fn qbwcd(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .env("QBWCD_LOG_FORMAT", "json")
        .output()
        .expect("run qbwcd")
}

fn qbwcd_stdin(db: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .env("QBWCD_LOG_FORMAT", "json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qbwcd");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write");
    child.wait_with_output().expect("wait")
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "qbwcd failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The command failed; its stderr.
fn fails(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn companies_are_shown_updated_disabled_and_removed_from_the_cli(b: Backend) {
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    ok(qbwcd(&url, &["company", "add", "acme"]));
    let path = "C:\\Users\\Public\\Acme Inc.QBW";
    let updated = ok(qbwcd(&url, &["company", "update", "acme", "--file-path", path, "--name", "Acme Inc."]));
    assert!(updated.contains(path), "{updated}");
    let acme = db.store.company(&qbwcd::types::CompanySlug::parse("acme").unwrap()).await.unwrap().unwrap();
    assert_eq!((acme.file_path.as_deref(), acme.name.as_str()), (Some(path), "Acme Inc."));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(qbwcd(&url, &["company", "show", "acme", "--json"]))).unwrap();
    assert_eq!((shown["file_path"].as_str(), shown["enabled"].as_bool()), (Some(path), Some(true)));
    ok(qbwcd(&url, &["company", "update", "acme", "--no-file-path"]));
    let text = ok(qbwcd(&url, &["company", "show", "acme"]));
    assert!(text.contains("(the file open in QuickBooks)") && text.contains("Acme Inc."), "{text}");
    assert!(fails(qbwcd(&url, &["company", "update", "acme"])).contains("nothing to change"));
    fails(qbwcd(&url, &["company", "update", "acme", "--file-path", "x", "--no-file-path"]));

    // The webhook, as the API and the console set it: checked before it is
    // stored (an internal address is refused without connecting), trimmed,
    // and removed with --no-webhook.
    use qbwcd::store::WebhookStore;
    let refused = fails(qbwcd(&url, &["company", "update", "acme", "--webhook", "http://10.1.2.3/hook"]));
    assert!(refused.contains("internal address") && refused.contains("webhook_allow_hosts"), "{refused}");
    assert_eq!(db.store.company_webhook(acme.id).await.unwrap(), None, "nothing was stored");
    // An allowed host is never looked up.
    let allowed = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_qbwcd"))
            .args(args)
            .env("QBWCD_DATABASE_URL", &url)
            .env("QBWCD_WEBHOOK_ALLOW_HOSTS", "[\"hooks.example.com\"]")
            .output()
            .expect("run qbwcd")
    };
    let set = ok(allowed(&["company", "update", "acme", "--webhook", " https://hooks.example.com/q "]));
    assert!(set.contains("webhook https://hooks.example.com/q"), "{set}");
    assert_eq!(db.store.company_webhook(acme.id).await.unwrap().as_deref(), Some("https://hooks.example.com/q"));
    let acme_now = db.store.company(&acme.slug).await.unwrap().unwrap();
    assert_eq!(acme_now.name, "Acme Inc.", "a webhook change leaves the name");
    ok(qbwcd(&url, &["company", "update", "acme", "--no-webhook"]));
    assert_eq!(db.store.company_webhook(acme.id).await.unwrap(), None);
    fails(qbwcd(&url, &["company", "update", "acme", "--webhook", "https://x.example", "--no-webhook"]));
    let added = [
        "company",
        "add",
        "beta",
        "--webhook",
        "https://hooks.example.com/b",
        "--name",
        " Beta ",
        "--file-path",
        " C:\\b.QBW ",
    ];
    ok(allowed(&added));
    let beta = db.store.company(&qbwcd::types::CompanySlug::parse("beta").unwrap()).await.unwrap().unwrap();
    assert_eq!((beta.name.as_str(), beta.file_path.as_deref()), ("Beta", Some("C:\\b.QBW")), "trimmed as an edit is");
    assert_eq!(db.store.company_webhook(beta.id).await.unwrap().as_deref(), Some("https://hooks.example.com/b"));
    let refused = fails(qbwcd(&url, &["company", "add", "gamma", "--webhook", "http://169.254.169.254/latest"]));
    assert!(refused.contains("169.254.169.254") && refused.contains("internal address"), "{refused}");
    let gamma = db.store.company(&qbwcd::types::CompanySlug::parse("gamma").unwrap()).await.unwrap();
    assert!(gamma.is_none(), "a refused webhook adds no company");
    ok(qbwcd(&url, &["company", "remove", "beta"]));

    ok(qbwcd(&url, &["company", "disable", "acme"]));
    assert!(ok(qbwcd(&url, &["company", "show", "acme"])).contains("no (disabled"));
    let listed = ok(qbwcd(&url, &["company", "list"]));
    assert!(listed.lines().any(|l| l.starts_with("acme") && l.contains("false")), "{listed}");
    ok(qbwcd(&url, &["company", "enable", "acme"]));
    assert!(ok(qbwcd(&url, &["company", "show", "acme"])).contains("enabled    yes"));

    let job = ok(qbwcd_stdin(&url, &["enqueue", "acme", "-"], &customer_query("1"))).trim().to_owned();
    let shown = ok(qbwcd(&url, &["company", "show", "acme"]));
    assert!(shown.contains("health     attention") && shown.contains("company.no_connector"), "{shown}");
    assert!(shown.contains("qbwcd user add"), "the first step: {shown}");
    let v: serde_json::Value = serde_json::from_str(&ok(qbwcd(&url, &["company", "show", "acme", "--json"]))).unwrap();
    assert_eq!((v["queue_depth"].as_i64(), v["health"]["jobs"]["queued"].as_i64()), (Some(1), Some(1)), "{v}");
    let refused = fails(qbwcd(&url, &["company", "remove", "acme"]));
    assert!(refused.contains("1 queued") && refused.contains("jobs cancel"), "{refused}");
    assert_eq!(refused.matches("open jobs").count(), 1, "said once: {refused}");
    ok(qbwcd(&url, &["jobs", "cancel", &job]));
    let removed = ok(qbwcd(&url, &["company", "remove", "acme"]));
    assert!(removed.contains("company acme removed with 0 user(s)") && removed.contains("1 finished job"), "{removed}");
    assert!(fails(qbwcd(&url, &["company", "show", "acme"])).contains("no company acme"));
}

async fn users_are_shown_updated_unlocked_and_removed_from_the_cli(b: Backend) {
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    ok(qbwcd(&url, &["company", "add", "acme"]));
    ok(qbwcd(&url, &["company", "add", "other"]));
    ok(qbwcd_stdin(&url, &["user", "add", "alice", "--company", "acme", "--password-stdin"], "first password\n"));
    ok(qbwcd(&url, &["user", "add", "olga", "--company", "other"]));
    let hash = db.store.user("alice").await.unwrap().unwrap().password_hash;

    // update changes the schedule and nothing else.
    let out = ok(qbwcd(&url, &["user", "update", "alice", "--run-every-minutes", "5"]));
    assert!(out.contains("every 5 minute"), "{out}");
    let alice = db.store.user("alice").await.unwrap().unwrap();
    assert_eq!((alice.run_every_minutes, alice.password_hash == hash), (Some(5), true));
    let v: serde_json::Value = serde_json::from_str(&ok(qbwcd(&url, &["user", "show", "alice", "--json"]))).unwrap();
    assert_eq!((v["run_every_minutes"].as_i64(), v["expected_every_seconds"].as_u64()), (Some(5), Some(300)));
    assert_eq!((v["company"].as_str(), &v["last_seen_at"]), (Some("acme"), &serde_json::Value::Null));
    ok(qbwcd(&url, &["user", "update", "alice", "--no-schedule"]));
    assert_eq!(db.store.user("alice").await.unwrap().unwrap().run_every_minutes, None);
    assert!(fails(qbwcd(&url, &["user", "update", "alice"])).contains("nothing to change"));
    fails(qbwcd(&url, &["user", "update", "alice", "--run-every-minutes", "5", "--no-schedule"]));

    // passwd changes the password and nothing else.
    ok(qbwcd(&url, &["user", "update", "alice", "--run-every-seconds", "30"]));
    ok(qbwcd_stdin(&url, &["user", "passwd", "alice", "--password-stdin"], "second password\n"));
    let alice = db.store.user("alice").await.unwrap().unwrap();
    assert_ne!(alice.password_hash, hash);
    assert_eq!(alice.run_every_seconds, Some(30), "the schedule stays");

    // A lockout, seen and cleared.
    let now = chrono::Utc::now();
    let rule = qbwcd::store::LockoutRule { threshold: 1, base_seconds: 3600, max_seconds: 3600 };
    let locks = db
        .store
        .record_login_failure(qbwcd::store::LoginFailure {
            username: "alice".into(),
            addr: "192.0.2.7".into(),
            guess: true,
            now,
            window_start: now - chrono::Duration::minutes(15),
            user_rule: rule,
            addr_rule: rule,
        })
        .await
        .unwrap();
    assert!(locks.user_until.is_some() && locks.addr_until.is_some());
    let text = ok(qbwcd(&url, &["user", "show", "alice"]));
    assert!(text.contains("status      locked") && text.contains("qbwcd user unlock alice"), "{text}");
    ok(qbwcd(&url, &["user", "unlock", "alice"]));
    assert!(db.store.login_lockouts("alice").await.unwrap().is_empty());
    assert_eq!(db.store.login_locked_until("alice", "192.0.2.7", now).await.unwrap(), None, "the address too");
    // A caller limited to companies (the API with such a token) clears the
    // name's lockouts, not the address's lock, which guards every company.
    let failure = qbwcd::store::LoginFailure {
        username: "alice".into(),
        addr: "192.0.2.7".into(),
        guess: true,
        now,
        window_start: now - chrono::Duration::minutes(15),
        user_rule: rule,
        addr_rule: rule,
    };
    db.store.record_login_failure(failure).await.unwrap();
    let alice_name = qbwcd::types::Username::parse("alice").unwrap();
    db.store.unlock_user(&alice_name, false).await.unwrap();
    assert!(db.store.login_lockouts("alice").await.unwrap().is_empty());
    let still = db.store.login_locked_until("alice", "192.0.2.7", now).await.unwrap();
    assert!(still.is_some(), "the address stays locked");

    ok(qbwcd(&url, &["user", "disable", "alice"]));
    assert!(!db.store.user("alice").await.unwrap().unwrap().enabled);
    ok(qbwcd(&url, &["user", "enable", "alice"]));
    assert!(db.store.user("alice").await.unwrap().unwrap().enabled);

    let listed = ok(qbwcd(&url, &["user", "list", "--company", "acme"]));
    assert!(listed.contains("alice") && !listed.contains("olga"), "{listed}");
    assert!(listed.contains("never connected"), "{listed}");
    let all = ok(qbwcd(&url, &["user", "list", "--json"]));
    assert!(all.contains("alice") && all.contains("olga") && !all.contains("password"), "{all}");

    ok(qbwcd(&url, &["user", "remove", "alice"]));
    assert!(db.store.user("alice").await.unwrap().is_none());
    assert!(fails(qbwcd(&url, &["user", "show", "alice"])).contains("no user alice"));
    assert!(fails(qbwcd(&url, &["user", "remove", "alice"])).contains("not found"));
}

async fn jobs_list_newest_first_in_pages_and_enqueue_refuses_a_reused_key(b: Backend) {
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    ok(qbwcd(&url, &["company", "add", "acme"]));
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(ok(qbwcd_stdin(&url, &["enqueue", "acme", "-"], &customer_query(&i.to_string()))).trim().to_owned());
    }
    let page1 = qbwcd(&url, &["jobs", "list", "--limit", "3"]);
    let hint = String::from_utf8_lossy(&page1.stderr).into_owned();
    let text = ok(page1);
    let order: Vec<usize> = ids.iter().map(|id| text.find(id.as_str()).unwrap_or(usize::MAX)).collect();
    assert!(order[4] < order[3] && order[3] < order[2] && order[1] == usize::MAX, "newest first: {text}");
    let cursor = hint
        .split("--before ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a cursor for the next page")
        .to_owned();
    let v: serde_json::Value =
        serde_json::from_str(&ok(qbwcd(&url, &["jobs", "list", "--limit", "3", "--before", &cursor, "--json"])))
            .unwrap();
    let rest: Vec<&str> = v["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(rest, [ids[1].as_str(), ids[0].as_str()]);
    assert_eq!(v["next_cursor"], serde_json::Value::Null);
    assert!(fails(qbwcd(&url, &["jobs", "list", "--before", "12"])).contains("cursor"));

    let key = ["enqueue", "acme", "-", "--idempotency-key", "order-7"];
    let first = ok(qbwcd_stdin(&url, &key, &customer_add("Ann"))).trim().to_owned();
    let again = qbwcd_stdin(&url, &key, &customer_add("Ann"));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing new was queued"));
    assert_eq!(ok(again).trim(), first);
    let err = fails(qbwcd_stdin(&url, &key, &customer_add("Bob")));
    assert!(err.contains("order-7") && err.contains(&first) && err.contains("different body"), "{err}");

    // The job view shows the request; not sent yet, it says so.
    let shown = ok(qbwcd(&url, &["jobs", "show", &first]));
    assert!(shown.contains("request    (not sent yet)") && shown.contains("CustomerAddRq"), "{shown}");
}
