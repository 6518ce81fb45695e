//! Bodies that must be refused, and how.

use super::{envelope, fixture, parse};
use crate::soap::{parse_call, render_fault, Limits, SoapError};

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The body with `from` replaced by `to` (once, and it must be there).
fn fixture_with(name: &str, from: &str, to: &str) -> String {
    let text = std::str::from_utf8(fixture(name)).expect("fixtures are UTF-8");
    assert!(text.contains(from), "{from} is not in {name}");
    text.replacen(from, to, 1)
}

#[test]
fn bodies_that_are_not_xml_are_refused() {
    for body in ["", "   ", "hello", "{\"json\": true}", "<", "<a", "text<a/>", "\u{FEFF}"] {
        assert!(matches!(parse(body), Err(SoapError::NotXml { .. })), "{body:?}: {:?}", parse(body));
    }
    let mismatched = fixture_with("authenticate.xml", "</strUserName>", "</strUsername>");
    let bare_ampersand = fixture_with("authenticate.xml", "<strUserName>api", "<strUserName>a & b");
    for body in [mismatched, bare_ampersand] {
        assert!(matches!(parse(&body), Err(SoapError::NotXml { .. })), "{body}: {:?}", parse(&body));
    }
}

#[test]
fn every_truncation_of_a_capture_is_refused_as_not_xml() {
    for name in ["authenticate.xml", "serverVersion.xml", "receiveResponseXML_hresult.xml"] {
        let body = fixture(name);
        for cut in 0..body.len() {
            let result = parse(&body[..cut]);
            assert!(matches!(result, Err(SoapError::NotXml { .. })), "{name} cut at {cut}: {result:?}");
        }
    }
}

#[test]
fn a_doctype_is_refused_in_every_form() {
    let plain = fixture_with("authenticate.xml", "?>", "?><!DOCTYPE soap:Envelope>");
    let laughs = fixture_with(
        "authenticate.xml",
        "?>",
        r#"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>"#,
    )
    .replace("<strUserName>api", "<strUserName>&lol3;");
    let xxe = fixture_with("authenticate.xml", "?>", r#"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#)
        .replace("<strUserName>api", "<strUserName>&xxe;");
    let unclosed = "<?xml version=\"1.0\"?><!DOCTYPE x [";
    for body in [plain.as_str(), &laughs, &xxe, unclosed] {
        assert!(matches!(parse(body), Err(SoapError::DoctypeRefused)), "{body}: {:?}", parse(body));
    }
    // Without the DTD the entity is simply unknown.
    let undeclared = fixture_with("authenticate.xml", "<strUserName>api", "<strUserName>&xxe;");
    assert!(matches!(parse(undeclared), Err(SoapError::NotXml { .. })));
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    let deep = format!("<soap:Header>{}{}</soap:Header><soap:Body>", "<a>".repeat(100), "</a>".repeat(100));
    let body = fixture_with("serverVersion.xml", "<soap:Body>", &deep);
    assert!(matches!(parse(&body), Err(SoapError::TooDeep { max: 64 })));
    let empty_too_deep = fixture_with(
        "serverVersion.xml",
        "<soap:Body>",
        &format!("<soap:Header>{}<b/>{}</soap:Header><soap:Body>", "<a>".repeat(62), "</a>".repeat(62)),
    );
    assert!(matches!(parse(&empty_too_deep), Err(SoapError::TooDeep { max: 64 })));
    let tight = Limits { max_depth: 3 };
    assert!(matches!(parse_call(fixture("authenticate.xml"), &tight), Err(SoapError::TooDeep { max: 3 })));
}

#[test]
fn a_root_that_is_not_a_soap_envelope_is_refused() {
    let bodies = [
        "<foo/>".to_owned(),
        "<Envelope><Body/></Envelope>".to_owned(),
        format!("<soap:Envelope xmlns:soap=\"{SOAP11}x\"><soap:Body/></soap:Envelope>"),
        format!("<soap:Body xmlns:soap=\"{SOAP11}\"/>"),
        "<undeclared:Envelope><undeclared:Body/></undeclared:Envelope>".to_owned(),
    ];
    for body in bodies {
        assert!(matches!(parse(&body), Err(SoapError::NotSoapEnvelope)), "{body}: {:?}", parse(&body));
    }
}

#[test]
fn a_soap_1_2_envelope_is_a_version_mismatch() {
    let body = fixture_with("authenticate.xml", SOAP11, "http://www.w3.org/2003/05/soap-envelope");
    assert!(matches!(parse(body), Err(SoapError::VersionMismatch)));
}

#[test]
fn an_operation_outside_the_intuit_namespace_is_refused() {
    let other = fixture_with("authenticate.xml", "http://developer.intuit.com/", "http://example.com/");
    let unqualified = fixture_with("authenticate.xml", " xmlns=\"http://developer.intuit.com/\"", "");
    assert!(matches!(parse(other), Err(SoapError::WrongNamespace { namespace }) if namespace == "http://example.com/"));
    assert!(matches!(parse(unqualified), Err(SoapError::WrongNamespace { namespace }) if namespace.is_empty()));
}

#[test]
fn an_unknown_operation_name_is_refused() {
    for name in ["Authenticate", "sendRequestXml", "doSomething"] {
        let result = parse(envelope(name, ""));
        assert!(matches!(&result, Err(SoapError::UnknownOperation { name: n }) if n == name), "{result:?}");
    }
}

#[test]
fn an_envelope_without_body_or_operation_is_refused() {
    let no_body = [
        format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"/>"),
        format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Header/></soap:Envelope>"),
        format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><Body><authenticate xmlns=\"http://developer.intuit.com/\"/></Body></soap:Envelope>"),
    ];
    for body in no_body {
        assert!(matches!(parse(&body), Err(SoapError::NoBody)), "{body}: {:?}", parse(&body));
    }
    let no_operation = [
        format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body/></soap:Envelope>"),
        format!("<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body> <!-- c --> </soap:Body></soap:Envelope>"),
    ];
    for body in no_operation {
        assert!(matches!(parse(&body), Err(SoapError::NoOperation)), "{body}: {:?}", parse(&body));
    }
}

#[test]
fn invalid_utf8_is_refused_with_its_position() {
    let mut body = fixture("authenticate.xml").to_vec();
    let at = body.windows(3).position(|w| w == b"api").expect("user name present");
    body[at] = 0xFF;
    assert!(matches!(parse(&body), Err(SoapError::NotUtf8 { position }) if position == at));
}

#[test]
fn a_qbxml_version_that_is_not_an_integer_is_refused() {
    let body = fixture_with("sendRequestXML_subsequent.xml", "<qbXMLMajorVers>5<", "<qbXMLMajorVers>five<");
    let result = parse(body);
    assert!(
        matches!(&result, Err(SoapError::BadInteger { param: "qbXMLMajorVers", value }) if value == "five"),
        "{result:?}"
    );
}

#[test]
fn markup_inside_a_known_parameter_is_refused() {
    let body = envelope("receiveResponseXML", "<ticket>t</ticket><response><QBXML/></response>");
    assert!(matches!(parse(body), Err(SoapError::MarkupInParameter { param: "response" })));
}

#[test]
fn content_after_the_envelope_is_refused() {
    let body = std::str::from_utf8(fixture("serverVersion.xml")).expect("utf-8");
    for tail in ["<soap:Envelope/>", "junk", "</soap:Envelope>"] {
        let result = parse(format!("{body}{tail}"));
        assert!(matches!(result, Err(SoapError::NotXml { .. })), "{tail}: {result:?}");
    }
    assert!(parse(format!("{body}<!-- trailing comment -->\n")).is_ok());
}

#[test]
fn every_refusal_renders_a_parseable_client_fault() {
    let bodies: [&[u8]; 5] = [
        b"",
        b"<!DOCTYPE x>",
        b"<foo/>",
        b"\xFF",
        b"<a:Envelope xmlns:a=\"http://www.w3.org/2003/05/soap-envelope\"/>",
    ];
    for body in bodies {
        let err = parse(body).expect_err("refused");
        assert!(err.is_client_fault());
        let fault = String::from_utf8(render_fault(&err)).expect("UTF-8");
        assert!(fault.contains("<soap:Fault><faultcode>soap:"), "{fault}");
        assert!(fault.contains(&super::escaped(&err.to_string())), "{fault}");
        // The fault is itself a well-formed SOAP 1.1 envelope (with no operation).
        assert!(matches!(parse(&fault), Err(SoapError::WrongNamespace { .. })), "{fault}");
    }
}
