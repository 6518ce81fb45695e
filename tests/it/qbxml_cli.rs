//! `qbwcd qbxml validate | to-json | to-xml` and `qbwcd enqueue --json`,
//! run as the real binary.

use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, TestDb};

both_backends!(json_requests_are_enqueued_from_a_file_and_refused_with_every_problem);

fn qbwcd(db: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qbwcd"));
    cmd.args(args).env("QBWCD_LOG_FORMAT", "json");
    if let Some(db) = db {
        cmd.env("QBWCD_DATABASE_URL", db);
    }
    cmd.output().expect("run qbwcd")
}

fn text(out: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn validate_lists_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.xml");
    let name = "x".repeat(57);
    std::fs::write(
        &bad,
        format!("<CustomerAddRq><CustomerAdd><Phone>1</Phone><Name>{name}</Name></CustomerAdd></CustomerAddRq>"),
    )
    .expect("write");
    let out = qbwcd(None, &["qbxml", "validate", bad.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains(
            "CustomerAddRq/CustomerAdd: the elements of <CustomerAdd> are out of order: expected Name, Phone"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("CustomerAddRq/CustomerAdd/Name: at most 41 characters; got 57 (too_long)"), "{stdout}");
    assert!(stderr.contains("2 problem(s) against qbXML 16.0"), "{stderr}");
    let alert = dir.path().join("alert.xml");
    std::fs::write(&alert, "<AlertQueryRq><OwnerID>0</OwnerID></AlertQueryRq>").expect("write");
    let out = qbwcd(None, &["qbxml", "validate", alert.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("valid against qbXML 16.0"));
    let out = qbwcd(None, &["qbxml", "validate", "--version", "13.0", alert.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).0.contains("AlertQueryRq needs qbXML 16.0"), "{:?}", text(&out));
}

#[test]
fn to_xml_and_to_json_convert_both_ways() {
    let dir = tempfile::tempdir().expect("dir");
    let json = dir.path().join("customer.json");
    std::fs::write(&json, r#"{"request": {"CustomerAddRq": {"CustomerAdd": {"Phone": "555", "Name": "Ann"}}}}"#)
        .expect("write");
    let out = qbwcd(None, &["qbxml", "to-xml", json.to_str().unwrap()]);
    let (xml, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let expected =
        "<CustomerAddRq requestID=\"1\"><CustomerAdd><Name>Ann</Name><Phone>555</Phone></CustomerAdd></CustomerAddRq>";
    assert!(xml.contains(expected), "{xml}");
    let xml_file = dir.path().join("customer.xml");
    std::fs::write(&xml_file, &xml).expect("write");
    let out = qbwcd(None, &["qbxml", "to-json", xml_file.to_str().unwrap()]);
    let back: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        back,
        serde_json::json!([{"CustomerAddRq": {"@requestID": "1", "CustomerAdd": {"Name": "Ann", "Phone": "555"}}}])
    );
    let answer = dir.path().join("answer.xml");
    std::fs::write(
        &answer,
        "<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode=\"0\" statusSeverity=\"Info\"><CustomerRet><Name>Ann</Name><IsActive>true</IsActive></CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>",
    )
    .expect("write");
    let out = qbwcd(None, &["qbxml", "to-json", answer.to_str().unwrap()]);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result[0]["CustomerQueryRs"]["CustomerRet"][0]["IsActive"], true, "{result}");
}

async fn json_requests_are_enqueued_from_a_file_and_refused_with_every_problem(b: Backend) {
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    assert!(qbwcd(Some(&url), &["company", "add", "acme"]).status.success());
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"requests": [{"CustomerAddRq": {"CustomerAdd": {"Name": "Ann"}}}, {"CustomerQueryRq": {"FullName": "Ann"}}]}"#)
        .expect("write");
    let out =
        qbwcd(Some(&url), &["enqueue", "acme", "--json", good.to_str().unwrap(), "--on-error", "continueOnError"]);
    let (id, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let shown = qbwcd(Some(&url), &["jobs", "show", id.trim(), "--json"]);
    let job: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("job json");
    assert_eq!(job["request_names"], "CustomerAddRq,CustomerQueryRq", "{job}");
    assert!(
        job["submitted"].as_str().unwrap().contains("<CustomerQueryRq requestID=\"2\"><FullName>Ann</FullName>"),
        "{job}"
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"request": {"CustomerAddRq": {"CustomerAdd": {"Name": "Ann", "Bogus": 1, "IsActive": "maybe"}}}}"#,
    )
    .expect("write");
    let out = qbwcd(Some(&url), &["enqueue", "acme", "--json", bad.to_str().unwrap()]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("CustomerAddRq/CustomerAdd/Bogus"), "{err}");
    assert!(err.contains("CustomerAddRq/CustomerAdd/IsActive"), "{err}");
    let raw = dir.path().join("raw.xml");
    std::fs::write(&raw, "<CustomerFutureRq/>").expect("write");
    assert!(!qbwcd(Some(&url), &["enqueue", "acme", raw.to_str().unwrap()]).status.success());
    assert!(qbwcd(Some(&url), &["enqueue", "acme", raw.to_str().unwrap(), "--no-validate"]).status.success());
}
