//! Tests of the SOAP layer, with shared helpers. The capture fixtures are
//! compiled in, so the suite stands alone without `shared/`.

mod captures;
mod faults;
mod props;
mod render;
mod variations;

use super::*;
use crate::types::Ticket;

/// The real request bodies from `shared/reference/captures`, byte for byte.
pub(super) const FIXTURES: [(&str, &[u8]); 11] = [
    ("authenticate.xml", include_bytes!("../../../tests/fixtures/soap/authenticate.xml")),
    ("clientVersion.xml", include_bytes!("../../../tests/fixtures/soap/clientVersion.xml")),
    ("closeConnection.xml", include_bytes!("../../../tests/fixtures/soap/closeConnection.xml")),
    ("connectionError.xml", include_bytes!("../../../tests/fixtures/soap/connectionError.xml")),
    ("getLastError.xml", include_bytes!("../../../tests/fixtures/soap/getLastError.xml")),
    ("receiveResponseXML.xml", include_bytes!("../../../tests/fixtures/soap/receiveResponseXML.xml")),
    ("receiveResponseXML_hresult.xml", include_bytes!("../../../tests/fixtures/soap/receiveResponseXML_hresult.xml")),
    (
        "receiveResponseXML_statusError.xml",
        include_bytes!("../../../tests/fixtures/soap/receiveResponseXML_statusError.xml"),
    ),
    ("sendRequestXML.xml", include_bytes!("../../../tests/fixtures/soap/sendRequestXML.xml")),
    ("sendRequestXML_subsequent.xml", include_bytes!("../../../tests/fixtures/soap/sendRequestXML_subsequent.xml")),
    ("serverVersion.xml", include_bytes!("../../../tests/fixtures/soap/serverVersion.xml")),
];

/// The fixture with this file name.
pub(super) fn fixture(name: &str) -> &'static [u8] {
    FIXTURES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b).unwrap_or_else(|| panic!("no fixture {name}"))
}

/// Parses with the default limits.
pub(super) fn parse(body: impl AsRef<[u8]>) -> Result<Call, SoapError> {
    parse_call(body.as_ref(), &Limits::default())
}

/// A request envelope shaped exactly like QBWC's, around `params`.
pub(super) fn envelope(op: &str, params: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\
         <soap:Body><{op} xmlns=\"http://developer.intuit.com/\">{params}</{op}></soap:Body></soap:Envelope>"
    )
}

/// Text escaped the way [`render_reply`] escapes it.
pub(super) fn escaped(text: &str) -> String {
    let mut out = Vec::new();
    super::render::push_escaped(&mut out, text, super::render::Quotes::Keep);
    String::from_utf8(out).expect("escaping keeps UTF-8")
}

#[test]
fn method_names_round_trip_and_are_case_sensitive() {
    for method in Method::ALL {
        assert_eq!(Method::from_name(method.name()), Some(method));
    }
    assert_eq!(Method::SendRequestXml.name(), "sendRequestXML");
    assert_eq!(Method::GetInteractiveUrl.name(), "getInteractiveURL");
    assert_eq!(Method::from_name("SendRequestXML"), None);
    assert_eq!(Method::from_name("sendRequestXml"), None);
    let mut names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 12);
}

#[test]
fn call_debug_shows_neither_password_nor_ticket_nor_bodies() {
    // Arrange
    let auth = parse(fixture("authenticate.xml")).expect("parses");
    let receive = parse(fixture("receiveResponseXML.xml")).expect("parses");
    let ticket = Ticket::from_wire("ea0bf596246b623664adb465cc8662a2");

    // Act
    let auth_shown = format!("{auth:?}");
    let receive_shown = format!("{receive:?}");

    // Assert
    assert_eq!(auth_shown, r#"authenticate { username: 3 bytes, password: "[redacted]" }"#);
    assert!(!receive_shown.contains("ea0bf596"), "{receive_shown}");
    assert!(receive_shown.contains(&ticket.short()), "{receive_shown}");
    assert!(!receive_shown.contains("QBXML"), "{receive_shown}");
    assert!(receive_shown.contains("response: 1070 bytes"), "{receive_shown}");
}

#[test]
fn reply_debug_hides_the_ticket_and_the_request() {
    let auth = Reply::Authenticate(vec!["ea0bf596246b623664adb465cc8662a2".into(), String::new()]);
    let send = Reply::SendRequestXml("<QBXML>secret customer</QBXML>".into());
    assert_eq!(format!("{auth:?}"), "authenticate { strings: 2 }");
    assert_eq!(format!("{send:?}"), "sendRequestXML { result: 30 bytes }");
    assert_eq!(format!("{:?}", Reply::ReceiveResponseXml(-1)), "receiveResponseXML { result: -1 }");
}

#[test]
fn calls_and_replies_know_their_method_and_ticket() {
    let call = parse(fixture("closeConnection.xml")).expect("parses");
    assert_eq!(call.method(), Method::CloseConnection);
    assert_eq!(call.ticket().map(Ticket::expose), Some("ea0bf596246b623664adb465cc8662a2"));
    assert!(parse(fixture("serverVersion.xml")).expect("parses").ticket().is_none());
    assert_eq!(Reply::GetLastError(String::new()).method(), Method::GetLastError);
}
