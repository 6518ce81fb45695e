//! Every real request body the Web Connector sent, replayed byte for byte
//! against the live server: each gets a conformant in-band answer.

use std::path::{Path, PathBuf};

use crate::both_backends;
use crate::fake_qbwc::{result_of, FakeWebConnector};
use crate::helpers::{Backend, TestApp};

both_backends!(every_capture_gets_a_conformant_answer, hostile_and_broken_bodies_get_faults_not_hangs);

/// The captures: `../shared/reference/captures` when present (the source of
/// truth), else the copies in `tests/fixtures/soap` so the suite stands alone.
fn capture_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("tests/fixtures/soap")];
    let shared = root.join("../shared/reference/captures");
    if shared.is_dir() {
        dirs.push(shared);
    } else {
        eprintln!("note: ../shared/reference/captures not found; replaying tests/fixtures/soap only");
    }
    dirs
}

async fn every_capture_gets_a_conformant_answer(b: Backend) {
    let app = TestApp::spawn(b).await;
    let wc = FakeWebConnector::new(&format!("{}/qbwc", app.url), "api", "password");
    let mut seen = 0;
    for dir in capture_dirs() {
        for entry in std::fs::read_dir(&dir).expect("captures") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            let method = name.split('_').next().unwrap_or_default().to_owned();
            let body = std::fs::read(&path).expect("read capture");
            let reply = wc.post_raw(&method, body).await;
            let (result, values) = result_of(&reply);
            assert_eq!(result, format!("{method}Result"), "{name}");
            let v = values.first().cloned().unwrap_or_default();
            // The captured tickets and user are unknown here: every answer
            // must end the exchange in-band, never with a fault.
            match method.as_str() {
                "serverVersion" => assert!(v.starts_with("qbwcd "), "{name}: {v}"),
                "clientVersion" => assert_eq!(v, "", "{name}"),
                "authenticate" => assert_eq!(values.get(1).map(String::as_str), Some("nvu"), "{name}"),
                "sendRequestXML" => assert_eq!(v, "", "{name}"),
                "receiveResponseXML" => assert!(v.parse::<i32>().expect("integer") < 0, "{name}: {v}"),
                "connectionError" => assert_eq!(v, "done", "{name}"),
                "getLastError" => assert!(v.starts_with("[session.unknown_ticket]"), "{name}: {v}"),
                "closeConnection" => assert!(!v.is_empty(), "{name}"),
                other => panic!("unexpected capture {other}"),
            }
            seen += 1;
        }
    }
    assert!(seen >= 11, "replayed {seen} captures");
}

async fn hostile_and_broken_bodies_get_faults_not_hangs(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = reqwest::Client::new();
    let bodies: Vec<&[u8]> = vec![
        b"",
        b"not xml at all",
        b"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><serverVersion xmlns=\"http://developer.intuit.com/\">&lol2;</serverVersion></soap:Body></soap:Envelope>",
        b"<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><authenticate xmlns=\"http://developer.intuit.com/\"><strUserName>a",
        b"<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><dropTables xmlns=\"http://developer.intuit.com/\"/></soap:Body></soap:Envelope>",
        b"\xff\xfe<\x00",
    ];
    for body in bodies {
        let resp = client
            .post(format!("{}/qbwc", app.url))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body.to_vec())
            .send()
            .await
            .expect("answered");
        assert_eq!(resp.status(), 500, "a fault for {:?}", String::from_utf8_lossy(body));
        let text = resp.text().await.expect("body");
        assert!(text.contains("<faultcode>") && text.contains("Fault"), "{text}");
    }
    // GET answers 200, and ?wsdl serves the WSDL with our address.
    let get = client.get(format!("{}/qbwc", app.url)).send().await.expect("GET");
    assert_eq!(get.status(), 200);
    let wsdl = client.get(format!("{}/qbwc?wsdl", app.url)).send().await.expect("GET wsdl").text().await.expect("text");
    assert!(wsdl.contains("wsdl:definitions") || wsdl.contains("definitions"), "{wsdl}");
    assert!(wsdl.contains(&format!("{}/qbwc", app.settings.public_url)), "{wsdl}");
}
