//! Every real request body parses to the right call with the right values.

use std::path::Path;

use secrecy::ExposeSecret;

use super::{fixture, parse, FIXTURES};
use crate::soap::Call;

const TICKET_A: &str = "ea0bf596246b623664adb465cc8662a2";
const COMPANY_FILE: &str = r"C:\KPALMER\QBW\Test Company.QBW";

/// Checks one capture's call; panics with the file name when it is wrong.
fn check(name: &str, body: &[u8]) {
    let call = parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ticket = call.ticket().map(|t| t.expose().to_owned());
    match (name, call) {
        ("serverVersion.xml", Call::ServerVersion) => {}
        ("clientVersion.xml", Call::ClientVersion { version }) => assert_eq!(version, "2.0.0.116"),
        ("authenticate.xml", Call::Authenticate { username, password }) => {
            assert_eq!(username, "api");
            assert_eq!(password.expose_secret(), "password");
        }
        (
            "sendRequestXML.xml",
            Call::SendRequestXml { hcp_response, company_file_name, country, major_version, minor_version, .. },
        ) => {
            assert_eq!(ticket.as_deref(), Some(TICKET_A));
            assert!(hcp_response
                .starts_with("<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n<HostQueryRs requestID=\"0\""));
            assert!(hcp_response.contains("<DataExtName>FileID</DataExtName>"));
            assert!(hcp_response.contains("<DataExtValue>{ee032e95-47f7-2564-096f-2d4545fcb021}</DataExtValue>"));
            assert!(hcp_response.ends_with("</QBXMLMsgsRs>\n</QBXML>\n"));
            assert!(!hcp_response.contains('&'), "every entity was resolved");
            assert_eq!(company_file_name, COMPANY_FILE);
            assert_eq!((country.as_str(), major_version, minor_version), ("US", 5, 0));
        }
        (
            "sendRequestXML_subsequent.xml",
            Call::SendRequestXml { hcp_response, company_file_name, country, major_version, minor_version, .. },
        ) => {
            assert_eq!(ticket.as_deref(), Some(TICKET_A));
            assert_eq!(hcp_response, "");
            assert_eq!(company_file_name, COMPANY_FILE);
            assert_eq!((country.as_str(), major_version, minor_version), ("US", 5, 0));
        }
        ("receiveResponseXML.xml", Call::ReceiveResponseXml { response, hresult, message, .. }) => {
            assert_eq!(ticket.as_deref(), Some(TICKET_A));
            assert!(response.starts_with("<?xml version=\"1.0\" ?>\n<QBXML>\n"));
            assert!(response.contains(
                "<CustomerAddRs requestID=\"Q3VzdG9tZXJBZGR8MTU=\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\">"
            ));
            assert!(response.ends_with("</QBXML>\n"));
            assert_eq!((hresult.as_str(), message.as_str()), ("", ""));
        }
        ("receiveResponseXML_statusError.xml", Call::ReceiveResponseXml { response, hresult, message, .. }) => {
            assert_eq!(ticket.as_deref(), Some("7fe1d3dccd44d65f2f3d85a077f1705f"));
            // The wire had `&amp;quot;`: one level of escaping comes off.
            assert!(response.contains(
                "statusCode=\"3100\" statusSeverity=\"Error\" statusMessage=\"The name &quot;Shipping Item - QuickBooks Inte&quot; of the list element is already in use.\" />"
            ));
            assert_eq!((hresult.as_str(), message.as_str()), ("", ""));
        }
        ("receiveResponseXML_hresult.xml", Call::ReceiveResponseXml { response, hresult, message, .. }) => {
            assert_eq!(ticket.as_deref(), Some("438d2fc02a519df5fcc2eef0e7ad3898"));
            assert_eq!(response, "");
            assert_eq!(hresult, "0x80040400");
            assert_eq!(message, "QuickBooks found an error when parsing the provided XML text stream.");
        }
        ("connectionError.xml", Call::ConnectionError { hresult, message, .. }) => {
            assert_eq!(ticket.as_deref(), Some("2b0e7d30-b580-11e6-b7d0-6bd4c65bd962"));
            assert_eq!(hresult, "0x80040408");
            assert_eq!(message, "Could not start QuickBooks.");
        }
        ("getLastError.xml", Call::GetLastError { .. }) | ("closeConnection.xml", Call::CloseConnection { .. }) => {
            assert_eq!(ticket.as_deref(), Some(TICKET_A));
        }
        (name, call) => panic!("{name} parsed to the wrong call: {call:?}"),
    }
}

#[test]
fn every_embedded_capture_parses_to_the_right_call() {
    for (name, body) in FIXTURES {
        check(name, body);
    }
}

#[test]
fn every_capture_in_shared_reference_parses_and_matches_its_fixture() {
    // Arrange: the reference directory beside the crate, when it is there.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/captures");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is not present", dir.display());
        return;
    };
    let mut seen = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));

        // Act and assert: the same checks, and the fixture is the same bytes.
        check(&name, &body);
        assert!(fixture(&name) == body.as_slice(), "tests/fixtures/soap/{name} differs from the reference capture");
        seen += 1;
    }
    assert_eq!(seen, FIXTURES.len(), "a capture has no fixture, or a fixture no capture");
}

#[test]
fn captures_parse_at_the_smallest_depth_limit_that_fits_them() {
    // Envelope, Body, operation, parameter: four levels.
    let limits = crate::soap::Limits { max_depth: 4 };
    for (name, body) in FIXTURES {
        assert!(crate::soap::parse_call(body, &limits).is_ok(), "{name}");
    }
}
