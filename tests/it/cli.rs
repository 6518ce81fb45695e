//! The real binary: enqueue from the command line, serve, run a session,
//! and read the answer back with `jobs show`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::both_backends;
use crate::helpers::{Backend, TestDb};

both_backends!(enqueued_work_is_done_and_shown_by_the_cli);

fn qbwcd(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .env("QBWCD_LOG_FORMAT", "json")
        .output()
        .expect("run qbwcd")
}

fn ok(out: std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "qbwcd failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

async fn enqueued_work_is_done_and_shown_by_the_cli(b: Backend) {
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    ok(qbwcd(&url, &["company", "add", "acme", "--name", "Acme & Sons"]));
    let out = ok(qbwcd(&url, &["user", "add", "api", "--company", "acme"]));
    let password = out
        .lines()
        .find_map(|l| l.split(": ").nth(1).filter(|_| l.starts_with("password")))
        .expect("password shown")
        .trim()
        .to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(["enqueue", "acme", "-"])
        .env("QBWCD_DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("enqueue");
    child.stdin.take().expect("stdin").write_all(crate::helpers::customer_add("Ann").as_bytes()).expect("write");
    let job_id = ok(child.wait_with_output().expect("wait")).trim().to_owned();
    assert_eq!(job_id.len(), 36, "{job_id}");
    let listed = ok(qbwcd(&url, &["jobs", "list", "--company", "acme", "--state", "queued"]));
    assert!(listed.contains(&job_id), "{listed}");

    // Serve it on a free port and run the Web Connector against it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let mut server = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("QBWCD_DATABASE_URL", &url)
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "server came up");
    let wc = crate::fake_qbwc::FakeWebConnector::new(&format!("{base}/qbwc"), "api", &password);
    let log = wc.run_session().await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(log.progress, [100], "{log:?}");

    let shown = ok(qbwcd(&url, &["jobs", "show", &job_id]));
    assert!(shown.contains("state      done"), "{shown}");
    assert!(shown.contains("CustomerAddRs"), "the answer is shown: {shown}");
    assert!(shown.contains("request as sent") && shown.contains("newMessageSetID=\""), "the request is shown: {shown}");
    let json = ok(qbwcd(&url, &["jobs", "show", &job_id, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["state"], "done");
    assert_eq!(v["statuses"][0]["status_code"], 0);
    let id = v["message_set_id"].as_str().expect("a write has its message-set id");
    assert!(v["request"].as_str().unwrap().contains(&format!("newMessageSetID=\"{id}\"")), "{v}");
    let companies = ok(qbwcd(&url, &["company", "list", "--json"]));
    assert!(companies.contains("Acme & Sons"), "{companies}");
    let explained = ok(qbwcd(&url, &["explain", "-2147220448"]));
    assert!(explained.contains("0x80040420") && explained.contains("Login as"), "{explained}");
}
