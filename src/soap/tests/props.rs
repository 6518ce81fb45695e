//! Property tests: no input panics the parser, and any text survives a reply.

use proptest::prelude::*;

use super::{envelope, escaped, parse, FIXTURES};
use crate::soap::{render_reply, Call, Reply};

/// What the renderer promises for `text`: itself, with the characters XML 1.0
/// cannot carry replaced by U+FFFD.
fn carried(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            _ => c,
        })
        .collect()
}

/// A capture with a handful of bytes changed, inserted or cut off.
fn mutated_capture() -> impl Strategy<Value = Vec<u8>> {
    (
        0..FIXTURES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(which, edits, cut)| {
            let mut body = FIXTURES[which].1.to_vec();
            for (at, byte, kind) in edits {
                let i = at.index(body.len().max(1));
                match kind {
                    0 if i < body.len() => body[i] = byte,
                    1 => body.insert(i.min(body.len()), byte),
                    _ if i < body.len() => {
                        body.remove(i);
                    }
                    _ => {}
                }
            }
            if cut.index(4) == 0 {
                body.truncate(cut.index(body.len().max(1)));
            }
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_call_never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&body);
    }

    #[test]
    fn parse_call_never_panics_on_xml_like_text(body in "[<>/?!a-zA-Z:=\"' &;#x0-9\\[\\]-]{0,300}") {
        let _ = parse(&body);
        let _ = parse(envelope("authenticate", &body));
    }

    #[test]
    fn parse_call_never_panics_on_mutated_captures(body in mutated_capture()) {
        let _ = parse(&body);
    }

    #[test]
    fn any_text_in_a_send_request_reply_is_recovered(text in any::<String>()) {
        let xml = String::from_utf8(render_reply(&Reply::SendRequestXml(text.clone())))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut reader = quick_xml::reader::Reader::from_str(&xml);
        let mut recovered = None;
        let mut inside = false;
        loop {
            match reader.read_event().map_err(|e| TestCaseError::fail(e.to_string()))? {
                quick_xml::events::Event::Start(e) => inside = e.name().as_ref() == b"sendRequestXMLResult",
                quick_xml::events::Event::Text(t) if inside => {
                    recovered = Some(t.unescape().map_err(|e| TestCaseError::fail(e.to_string()))?.into_owned());
                }
                quick_xml::events::Event::End(_) => inside = false,
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        prop_assert_eq!(recovered.unwrap_or_default(), carried(&text));
    }

    #[test]
    fn any_escaped_text_in_a_request_parameter_is_recovered(text in any::<String>()) {
        let body = envelope("receiveResponseXML", &format!("<response>{}</response>", escaped(&text)));
        match parse(body) {
            Ok(Call::ReceiveResponseXml { response, .. }) => prop_assert_eq!(response, carried(&text)),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
