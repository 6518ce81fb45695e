//! The admin commands through the real binary: `qwc`, `user … --run-every-*`,
//! `explain`, `diagnose`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::both_backends;
use crate::helpers::{Backend, TestDb};
use crate::qwc::qwc_elements;

both_backends!(the_qwc_command_writes_the_file_and_a_password_change_keeps_it);

fn qbwcd(db: &str, envs: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .env("QBWCD_LOG_FORMAT", "json")
        .envs(envs.iter().copied())
        .output()
        .expect("run qbwcd")
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "qbwcd failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

const HTTPS: (&str, &str) = ("QBWCD_PUBLIC_URL", "https://qb.example.com");

async fn the_qwc_command_writes_the_file_and_a_password_change_keeps_it(b: Backend) {
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    ok(qbwcd(&url, &[], &["company", "add", "acme", "--name", "Acme & Sons"]));
    let added = ok(qbwcd(&url, &[], &["user", "add", "alice", "--company", "acme", "--run-every-minutes", "5"]));
    assert!(added.contains("every 5 minute"), "{added}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.qwc");

    ok(qbwcd(&url, &[HTTPS], &["qwc", "alice", "-o", path.to_str().unwrap()]));
    let written = std::fs::read_to_string(&path).unwrap();
    ok(qbwcd(&url, &[], &["user", "passwd", "alice"]));
    let after = ok(qbwcd(&url, &[HTTPS], &["qwc", "alice"]));

    assert_eq!(after, written, "the same file after a password change");
    let e = qwc_elements(&written);
    assert_eq!(e["UserName"], "alice");
    assert_eq!(e["AppURL"], "https://qb.example.com/qbwc");
    assert_eq!(e["Scheduler/RunEveryNMinutes"], "5");
    assert!(e["AppName"].contains("Acme & Sons"));

    // A refusal is printed with what to change, and fails.
    let refused = qbwcd(&url, &[("QBWCD_PUBLIC_URL", "http://qb.example.com")], &["qwc", "alice"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("cannot make a .qwc file for alice") && err.contains("uses http"), "{err}");
    // Links need a secret; without one the command says how to turn them on.
    let no_links = qbwcd(&url, &[HTTPS], &["qwc", "alice", "--link"]);
    assert!(!no_links.status.success());
    assert!(String::from_utf8_lossy(&no_links.stderr).contains("link_secret is not set"));
    let secret = ("QBWCD_LINK_SECRET", "0123456789abcdef0123456789abcdef");
    let linked = ok(qbwcd(&url, &[HTTPS, secret], &["qwc", "alice", "--link", "--reset-password"]));
    assert!(linked.trim().starts_with("https://qb.example.com/qwc/") && linked.lines().count() == 1, "{linked}");
    let short = qbwcd(&url, &[HTTPS, ("QBWCD_LINK_SECRET", "too short")], &["qwc", "alice", "--link"]);
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 32"));
    let both = qbwcd(&url, &[], &["user", "update", "alice", "--run-every-minutes", "1", "--run-every-seconds", "1"]);
    assert!(!both.status.success(), "clap refuses both units");
    // passwd only changes the password: it takes no schedule.
    let mixed = qbwcd(&url, &[], &["user", "passwd", "alice", "--run-every-minutes", "5"]);
    assert!(!mixed.status.success(), "passwd refuses schedule flags");
}

#[test]
fn explain_accepts_every_code_form() {
    let cases = [
        ("0x80040420", "0x80040420", "Login as"),
        ("80040420", "0x80040420", "Login as"),
        ("-2147220448", "0x80040420", "Integrated Applications"),
        ("3260", "qbxml.3260", "Insufficient"),
        ("qbxml.3260", "qbxml.3260", "Insufficient"),
        ("QBWC1012", "QBWC1012", ""),
        ("qbwc1012", "QBWC1012", ""),
        ("auth.bad_password", "auth.bad_password", ""),
        ("company.unc_path", "company.unc_path", "drive letter"),
    ];
    for (input, code, says) in cases {
        let out = ok(qbwcd("sqlite::memory:", &[], &["explain", input]));
        assert!(out.starts_with(code), "{input}: {out}");
        assert!(out.contains(says), "{input}: {out}");
        assert!(out.contains("\n1. "), "{input} has numbered steps: {out}");
    }
    let unknown = qbwcd("sqlite::memory:", &[], &["explain", "not-a-code"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not a code qbwcd knows"));
}

#[test]
fn diagnose_explains_the_sample_log_by_line() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/QWCLog.sample.txt");
    let text = std::fs::read_to_string(fixture).unwrap();
    let out = ok(qbwcd("sqlite::memory:", &[], &["diagnose", fixture]));
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).expect(needle) + 1;

    assert!(out.contains(&format!("line {}: QBWC1039", line_of("QBWC1039"))), "{out}");
    assert!(out.contains(&format!("line {}: QBWC1012", line_of("QBWC1012: Authentication failed"))), "{out}");
    assert!(out.contains("    1. "), "first steps are shown: {out}");
    assert!(!out.contains("No Data Exchange"), "not an error: {out}");

    let json = ok(qbwcd("sqlite::memory:", &[], &["diagnose", fixture, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let findings = v.as_array().unwrap();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| f["line_number"].as_u64().unwrap() > 0 && f["finding"]["code"].is_string()));
    assert!(findings.iter().all(|f| !f["finding"]["entry"]["steps"].as_array().unwrap().is_empty()));

    // The same log saved as UTF-16 by a Windows tool, read from stdin.
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(["diagnose", "-", "--json"])
        .env("QBWCD_DATABASE_URL", "sqlite::memory:")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&utf16).unwrap();
    let from_stdin = ok(child.wait_with_output().unwrap());
    assert_eq!(from_stdin, json, "UTF-16 with a BOM reads the same as UTF-8");
}
