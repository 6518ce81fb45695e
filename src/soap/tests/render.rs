//! Replies render byte for byte as the .NET client expects, and their text
//! comes back unchanged through an independent XML reader.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::soap::{render_reply, Reply};

/// Written out here, not taken from the module, so the test pins the bytes.
const HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>"#;
const TAIL: &str = "</soap:Body></soap:Envelope>";

fn rendered(reply: &Reply) -> String {
    String::from_utf8(render_reply(reply)).expect("replies are UTF-8")
}

/// The text of every `{http://developer.intuit.com/}*Result` (or `string`
/// inside it) in `xml`, read with quick-xml as an oracle.
fn result_texts(xml: &str) -> Vec<String> {
    let mut reader = NsReader::from_str(xml);
    let mut texts = Vec::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_resolved_event().expect("well-formed reply") {
            (ResolveResult::Bound(ns), Event::Start(e)) if ns.as_ref() == b"http://developer.intuit.com/" => {
                let local = e.local_name();
                if local.as_ref() == b"string" || (local.as_ref().ends_with(b"Result") && current.is_none()) {
                    current = Some(String::new());
                }
            }
            (_, Event::Text(t)) => {
                if let Some(text) = current.as_mut() {
                    text.push_str(&t.unescape().expect("valid escapes"));
                }
            }
            (_, Event::End(_)) => texts.extend(current.take()),
            (_, Event::Eof) => return texts,
            _ => {}
        }
    }
}

#[test]
fn each_reply_renders_to_its_golden_bytes() {
    let cases = [
        (Reply::ServerVersion("qbwcd 0.1.0".into()), "<serverVersionResponse xmlns=\"http://developer.intuit.com/\"><serverVersionResult>qbwcd 0.1.0</serverVersionResult></serverVersionResponse>"),
        (Reply::ClientVersion(String::new()), "<clientVersionResponse xmlns=\"http://developer.intuit.com/\"><clientVersionResult></clientVersionResult></clientVersionResponse>"),
        (
            Reply::Authenticate(vec!["c94c84b3d59fe7a1603b765dd734e481".into(), "none".into(), "60".into()]),
            "<authenticateResponse xmlns=\"http://developer.intuit.com/\"><authenticateResult><string>c94c84b3d59fe7a1603b765dd734e481</string><string>none</string><string>60</string></authenticateResult></authenticateResponse>",
        ),
        (Reply::Authenticate(vec!["t".into(), String::new()]), "<authenticateResponse xmlns=\"http://developer.intuit.com/\"><authenticateResult><string>t</string><string></string></authenticateResult></authenticateResponse>"),
        (
            Reply::SendRequestXml("<?xml version=\"1.0\"?>\r\n<?qbxml version=\"5.0\"?><QBXML>A & B</QBXML>".into()),
            "<sendRequestXMLResponse xmlns=\"http://developer.intuit.com/\"><sendRequestXMLResult>&lt;?xml version=\"1.0\"?&gt;&#13;\n&lt;?qbxml version=\"5.0\"?&gt;&lt;QBXML&gt;A &amp; B&lt;/QBXML&gt;</sendRequestXMLResult></sendRequestXMLResponse>",
        ),
        (Reply::ReceiveResponseXml(100), "<receiveResponseXMLResponse xmlns=\"http://developer.intuit.com/\"><receiveResponseXMLResult>100</receiveResponseXMLResult></receiveResponseXMLResponse>"),
        (Reply::ReceiveResponseXml(-1), "<receiveResponseXMLResponse xmlns=\"http://developer.intuit.com/\"><receiveResponseXMLResult>-1</receiveResponseXMLResult></receiveResponseXMLResponse>"),
        (Reply::ConnectionError("done".into()), "<connectionErrorResponse xmlns=\"http://developer.intuit.com/\"><connectionErrorResult>done</connectionErrorResult></connectionErrorResponse>"),
        (Reply::GetLastError("NoOp".into()), "<getLastErrorResponse xmlns=\"http://developer.intuit.com/\"><getLastErrorResult>NoOp</getLastErrorResult></getLastErrorResponse>"),
        (Reply::CloseConnection("OK".into()), "<closeConnectionResponse xmlns=\"http://developer.intuit.com/\"><closeConnectionResult>OK</closeConnectionResult></closeConnectionResponse>"),
        (Reply::GetInteractiveUrl("https://x/?a=1&b=2".into()), "<getInteractiveURLResponse xmlns=\"http://developer.intuit.com/\"><getInteractiveURLResult>https://x/?a=1&amp;b=2</getInteractiveURLResult></getInteractiveURLResponse>"),
        (Reply::InteractiveDone("Done".into()), "<interactiveDoneResponse xmlns=\"http://developer.intuit.com/\"><interactiveDoneResult>Done</interactiveDoneResult></interactiveDoneResponse>"),
        (Reply::InteractiveRejected("ok".into()), "<interactiveRejectedResponse xmlns=\"http://developer.intuit.com/\"><interactiveRejectedResult>ok</interactiveRejectedResult></interactiveRejectedResponse>"),
        (Reply::GetServerVersion("1.0".into()), "<getServerVersionResponse xmlns=\"http://developer.intuit.com/\"><getServerVersionResult>1.0</getServerVersionResult></getServerVersionResponse>"),
    ];
    for (reply, inner) in cases {
        assert_eq!(rendered(&reply), format!("{HEAD}{inner}{TAIL}"), "{reply:?}");
    }
}

#[test]
fn result_text_round_trips_through_escaping() {
    let samples = [
        "&<>\"'",
        "a\r\nb\rc\n\td",
        "]]> and <![CDATA[",
        "Jörg Müller — 日本 😀 \u{7F}\u{85}\u{FFFD}",
        "&amp; already escaped &#13;",
        "",
    ];
    for text in samples {
        let xml = rendered(&Reply::SendRequestXml(text.into()));
        assert_eq!(result_texts(&xml), [text], "{xml}");
        let auth = rendered(&Reply::Authenticate(vec![text.into(), text.into()]));
        assert_eq!(result_texts(&auth), [text, text], "{auth}");
    }
}

#[test]
fn characters_xml_cannot_carry_are_replaced_not_emitted() {
    let text = "a\u{0}b\u{1}c\u{8}d\u{B}e\u{C}f\u{1F}g\u{FFFE}h\u{FFFF}i\u{EFFF}j";
    let xml = rendered(&Reply::GetLastError(text.into()));
    assert!(!xml.bytes().any(|b| b < 0x20 && b != b'\t' && b != b'\n'), "{xml:?}");
    assert_eq!(
        result_texts(&xml),
        ["a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\u{FFFD}g\u{FFFD}h\u{FFFD}i\u{EFFF}j"]
    );
}

#[test]
fn a_rendered_request_is_recovered_by_parse_call() {
    // The same escaping, read back by our own parser as a request parameter.
    let text = "<QBXML a=\"1\">x &amp; y\r\n</QBXML>é";
    let body = super::envelope("receiveResponseXML", &format!("<response>{}</response>", super::escaped(text)));
    match super::parse(body) {
        Ok(crate::soap::Call::ReceiveResponseXml { response, .. }) => assert_eq!(response, text),
        other => panic!("{other:?}"),
    }
}
