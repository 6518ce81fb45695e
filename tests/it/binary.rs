//! The real `qbwcd serve` process: graceful shutdown on SIGTERM, and JSON
//! logs that parse line by line and never carry a secret.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::both_backends;
use crate::helpers::{customer_add, Backend, TestDb};

both_backends!(
    sigterm_finishes_the_call_in_flight_and_exits_zero,
    json_logs_are_one_object_per_line_and_carry_no_secrets,
);

/// A `qbwcd serve` child with stderr going to a file.
struct Server {
    child: Child,
    base: String,
    port: u16,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(db: &str, envs: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr.log");
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qbwcd"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("QBWCD_DATABASE_URL", db)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // Owned by a Server at once, so Drop reaps it whatever happens next.
        let server = Server {
            child: cmd.spawn().expect("serve"),
            base: format!("http://127.0.0.1:{port}"),
            port,
            stderr,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{}/readyz", server.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("qbwcd serve did not come up: {}", server.logs());
    }

    fn sigterm(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    async fn exit_within(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("qbwcd did not exit within {limit:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn qbwcd(db: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qbwcd");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "qbwcd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn sigterm_finishes_the_call_in_flight_and_exits_zero(b: Backend) {
    // Arrange: a call whose body is only half sent.
    let db = TestDb::new(b).await;
    let mut server = Server::start(&db.url, &[]).await;
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><serverVersion xmlns=\"http://developer.intuit.com/\" /></soap:Body></soap:Envelope>";
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /qbwc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n\
         SOAPAction: \"http://developer.intuit.com/serverVersion\"\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(first.as_bytes()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act: SIGTERM mid-call, then the rest of the body.
    server.sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "it waits for the call in flight");
    conn.write_all(rest.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = conn.read_to_end(&mut reply);

    // Assert: the call was answered, then the process exited 0, promptly.
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("serverVersionResult"), "{reply}");
    let status = server.exit_within(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status:?}: {}", server.logs());
    assert!(server.logs().contains("shutting down"), "{}", server.logs());
}

async fn json_logs_are_one_object_per_line_and_carry_no_secrets(b: Backend) {
    // Arrange: a user with a known password, a job whose qbXML carries a marker.
    const PASSWORD: &str = "Known-Passw0rd-4d9c";
    const WRONG: &str = "Wrong-Passw0rd-b71e";
    const MARKER: &str = "QBXML-BODY-MARKER-93af";
    let db = TestDb::new(b).await;
    qbwcd(&db.url, &["company", "add", "acme"], "");
    qbwcd(&db.url, &["user", "add", "alice", "--company", "acme", "--password-stdin"], &format!("{PASSWORD}\n"));
    qbwcd(&db.url, &["enqueue", "acme", "-"], &customer_add(MARKER));
    let token = qbwcd(&db.url, &["token", "create", "billing", "--role", "read"], "").trim().to_owned();
    let mut server = Server::start(&db.url, &[("RUST_LOG", "debug"), ("QBWCD_LOG_FORMAT", "json")]).await;

    // Act: a wrong password, then a whole session; then stop.
    let url = format!("{}/qbwc", server.base);
    let wrong = crate::fake_qbwc::FakeWebConnector::new(&url, "alice", WRONG);
    assert_eq!(wrong.authenticate().await[1], "nvu");
    let wc = crate::fake_qbwc::FakeWebConnector::new(&url, "alice", PASSWORD);
    let log = wc.run_session().await;
    assert_eq!(log.progress, [100], "{log:?}");
    assert!(log.requests[0].contains(MARKER), "the marker went to QuickBooks");
    let ticket = log.auth[0].clone();
    let api = reqwest::Client::new()
        .get(format!("{}/api/v1/companies/acme", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    server.sigterm();
    assert!(server.exit_within(Duration::from_secs(10)).await.success());

    // Assert
    let logs = server.logs();
    let mut lines = 0;
    let mut saw_call = false;
    let mut saw_api = false;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
        if v["qbwc.method"] == "authenticate" && v["outcome"] == "session" && v["message"] == "qbwc call" {
            saw_call = true;
            assert_eq!(v["user"], "alice", "{line}");
            assert_eq!(v["qbwc.ticket"].as_str().map(str::len), Some(8), "a short hash: {line}");
            assert!(v["duration_ms"].is_number() && v["request_bytes"].is_number(), "{line}");
        }
        if v["span"] == "api.request" && v["message"] == "api request" {
            saw_api = true;
            // The route template, not the path; the token's row id, not the token.
            assert_eq!(v["http.route"], "/api/v1/companies/{slug}", "{line}");
            assert_eq!((v["http.method"].as_str(), v["http.status"].as_u64()), (Some("GET"), Some(200)), "{line}");
            assert!(v["token.id"].as_i64().is_some(), "{line}");
            assert_eq!(v["request.id"].as_str().map(str::len), Some(16), "{line}");
        }
    }
    assert!(lines > 5, "{logs}");
    assert!(saw_call, "the authenticate call is logged with flat span fields:\n{logs}");
    assert!(saw_api, "the API request is logged in its span:\n{logs}");
    assert!(logs.contains("auth.bad_password"), "the refusal reason is logged");
    for (what, secret) in [
        ("password", PASSWORD),
        ("wrong password", WRONG),
        ("ticket", ticket.as_str()),
        ("API token", token.as_str()),
        ("qbXML request body", MARKER),
        ("qbXML answer body", "Caf\u{e9}"),
        ("qbXML answer body (escaped)", "Caf\\u00e9"),
        ("qbXML answer body (element)", "CustomerRet"),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs:\n{logs}");
    }
}

/// A user name carrying a newline, a forged log line and an ANSI escape
/// comes out of the pretty log escaped: no raw ESC, no line that starts
/// with the forged text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretty_logs_escape_a_forged_user_name() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut server = Server::start(&db.url, &[("RUST_LOG", "info"), ("QBWCD_LOG_FORMAT", "pretty")]).await;
    let evil = "bob\n2026-12-03T00:00:00Z  INFO FORGED-LINE session opened\x1b[31m";
    let url = format!("{}/qbwc", server.base);
    let wc = crate::fake_qbwc::FakeWebConnector::new(&url, evil, "whatever");
    assert_eq!(wc.authenticate().await[1], "nvu");
    server.sigterm();
    assert!(server.exit_within(Duration::from_secs(10)).await.success());
    let logs = server.logs();
    assert!(logs.contains("bob\\u{a}2026-12-03"), "the name is logged, escaped: {logs}");
    assert!(logs.contains("\\u{1b}[31m"), "{logs}");
    assert!(!logs.contains("\x1b[31m"), "the client's raw ESC reached the log: {logs:?}");
    assert!(!logs.lines().any(|l| l.starts_with("2026-12-03T00:00:00Z")), "a forged line: {logs}");
}
