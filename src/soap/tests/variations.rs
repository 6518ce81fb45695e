//! Envelopes other clients (and other SOAP stacks) may send.

use secrecy::ExposeSecret;

use super::{envelope, fixture, parse};
use crate::soap::{Call, Method};

/// The username and password of an `authenticate` body.
fn credentials(body: &str) -> (String, String) {
    match parse(body) {
        Ok(Call::Authenticate { username, password }) => (username, password.expose_secret().to_owned()),
        other => panic!("not an authenticate call: {other:?}"),
    }
}

/// The `response` of a `receiveResponseXML` whose parameters are `params`.
fn response_of(params: &str) -> String {
    match parse(envelope("receiveResponseXML", params)) {
        Ok(Call::ReceiveResponseXml { response, .. }) => response,
        other => panic!("not a receiveResponseXML call: {other:?}"),
    }
}

#[test]
fn any_envelope_prefix_is_accepted() {
    for prefix in ["SOAP-ENV", "s", "env"] {
        let body = format!(
            r#"<{prefix}:Envelope xmlns:{prefix}="http://schemas.xmlsoap.org/soap/envelope/"><{prefix}:Body><authenticate xmlns="http://developer.intuit.com/"><strUserName>u</strUserName><strPassword>p</strPassword></authenticate></{prefix}:Body></{prefix}:Envelope>"#
        );
        assert_eq!(credentials(&body), ("u".into(), "p".into()), "{prefix}");
    }
}

#[test]
fn a_prefixed_operation_and_prefixed_parameters_are_accepted() {
    let on_op = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns1:authenticate xmlns:ns1="http://developer.intuit.com/"><ns1:strUserName>u</ns1:strUserName><ns1:strPassword>p</ns1:strPassword></ns1:authenticate></soap:Body></soap:Envelope>"#;
    let on_envelope = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns1="http://developer.intuit.com/"><SOAP-ENV:Body><ns1:authenticate><strUserName>u</strUserName><strPassword>p</strPassword></ns1:authenticate></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    assert_eq!(credentials(on_op), ("u".into(), "p".into()));
    assert_eq!(credentials(on_envelope), ("u".into(), "p".into()));
}

#[test]
fn a_soap_header_is_skipped_even_when_it_looks_like_a_call() {
    let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><authenticate xmlns="http://developer.intuit.com/"><strUserName>header</strUserName></authenticate><x:Security xmlns:x="urn:x" soap:mustUnderstand="1"><x:a><x:b/></x:a></x:Security></soap:Header><soap:Body><authenticate xmlns="http://developer.intuit.com/"><strUserName>body</strUserName><strPassword /></authenticate></soap:Body></soap:Envelope>"#;
    assert_eq!(credentials(body), ("body".into(), String::new()));
}

#[test]
fn cdata_and_text_are_concatenated_and_comments_ignored() {
    let params = "<response>a&amp;<![CDATA[<QBXML>x & y</QBXML>]]><!-- note -->z<?pi data?></response>";
    assert_eq!(response_of(params), "a&<QBXML>x & y</QBXML>z");
}

#[test]
fn entities_and_character_references_are_resolved() {
    let params = "<response>&lt;&gt;&amp;&quot;&apos; &#13;&#10;&#xD;&#x41;&#233;&#x1F600;</response>";
    assert_eq!(response_of(params), "<>&\"' \r\n\rAé😀");
}

#[test]
fn literal_line_breaks_are_normalised_but_referenced_cr_survives() {
    assert_eq!(response_of("<response>a\r\nb\rc\nd&#13;\r\n</response>"), "a\nb\nc\nd\r\n");
    assert_eq!(response_of("<response><![CDATA[a\r\nb]]></response>"), "a\nb");
}

#[test]
fn non_ascii_text_is_kept() {
    let body =
        envelope("authenticate", "<strUserName>Jörg Müller — 日本</strUserName><strPassword>pässwörd😀</strPassword>");
    assert_eq!(credentials(&body), ("Jörg Müller — 日本".into(), "pässwörd😀".into()));
}

#[test]
fn whitespace_in_strings_is_kept_and_in_integers_trimmed() {
    let params = "<ticket> t </ticket><strHCPResponse>\n</strHCPResponse><qbXMLMajorVers> 13\n</qbXMLMajorVers><qbXMLMinorVers/>";
    match parse(envelope("sendRequestXML", params)) {
        Ok(Call::SendRequestXml { ticket, hcp_response, company_file_name, major_version, minor_version, .. }) => {
            assert_eq!(ticket.expose(), " t ");
            assert_eq!(hcp_response, "\n");
            assert_eq!(company_file_name, "", "missing parameters are empty");
            assert_eq!((major_version, minor_version), (13, 0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bom_and_whitespace_before_the_declaration_are_tolerated() {
    let plain = fixture("authenticate.xml");
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(plain);
    let mut with_space = b" \r\n\t".to_vec();
    with_space.extend_from_slice(plain);
    with_space.extend_from_slice(b"\r\n");
    assert_eq!(credentials(std::str::from_utf8(&with_bom).expect("utf-8")), ("api".into(), "password".into()));
    assert_eq!(credentials(std::str::from_utf8(&with_space).expect("utf-8")), ("api".into(), "password".into()));
}

#[test]
fn unknown_parameters_are_ignored_and_the_first_duplicate_wins() {
    let params = "<extra><deep><er>x</er></deep></extra><strUserName>first</strUserName><STRUSERNAME>case</STRUSERNAME><strUserName>second</strUserName><strPassword xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>";
    assert_eq!(credentials(&envelope("authenticate", params)), ("first".into(), String::new()));
}

#[test]
fn server_version_ignores_a_str_version_parameter() {
    assert!(matches!(parse(envelope("serverVersion", "<strVersion>1</strVersion>")), Ok(Call::ServerVersion)));
}

#[test]
fn the_interactive_calls_take_wc_ticket() {
    match parse(envelope("getInteractiveURL", "<wcTicket>t</wcTicket><sessionID>s</sessionID>")) {
        Ok(Call::GetInteractiveUrl { ticket, session_id }) => {
            assert_eq!((ticket.expose(), session_id.as_str()), ("t", "s"))
        }
        other => panic!("{other:?}"),
    }
    match parse(envelope("interactiveRejected", "<wcTicket>t</wcTicket><reason>user said no</reason>")) {
        Ok(Call::InteractiveRejected { ticket, reason }) => {
            assert_eq!((ticket.expose(), reason.as_str()), ("t", "user said no"))
        }
        other => panic!("{other:?}"),
    }
    match parse(envelope("interactiveDone", "<ticket>wrong name</ticket>")) {
        Ok(Call::InteractiveDone { ticket }) => assert_eq!(ticket.expose(), ""),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_method_parses_from_its_wire_name_with_no_parameters() {
    for method in Method::ALL {
        let empty = format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><{} xmlns="http://developer.intuit.com/" /></soap:Body></soap:Envelope>"#,
            method.name()
        );
        let call = parse(&empty).unwrap_or_else(|e| panic!("{}: {e}", method.name()));
        assert_eq!(call.method(), method);
        assert_eq!(parse(envelope(method.name(), "")).map(|c| c.method()).ok(), Some(method));
    }
}

#[test]
fn elements_after_the_operation_are_ignored() {
    let body = fixture("closeConnection.xml");
    let text = std::str::from_utf8(body)
        .expect("utf-8")
        .replace("</closeConnection>", "</closeConnection><other><x/></other>");
    assert!(matches!(parse(text), Ok(Call::CloseConnection { .. })));
}

#[test]
fn a_large_response_is_read_whole() {
    // Arrange: 8 MB of escaped qbXML, about what a big query answer is.
    let row = "<CustomerRet><Name>A &amp; B</Name></CustomerRet>\n";
    let qbxml = row.repeat(8 * 1024 * 1024 / row.len());
    let body =
        envelope("receiveResponseXML", &format!("<ticket>t</ticket><response>{}</response>", super::escaped(&qbxml)));

    // Act
    let response = response_of_body(&body);

    // Assert
    assert_eq!(response.len(), qbxml.len());
    assert!(response == qbxml);
}

fn response_of_body(body: &str) -> String {
    match parse(body) {
        Ok(Call::ReceiveResponseXml { response, .. }) => response,
        other => panic!("{other:?}"),
    }
}
