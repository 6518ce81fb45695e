//! Property tests: the qbXML parsers never panic, whatever they are fed, and
//! what qbwcd wraps is what it parses back.

use proptest::prelude::*;

use super::convert::read_messages;
use super::{
    continue_iterator, parse_hcp, parse_response, parse_submission, parse_submission_tree, wrap, OnError, Version,
};

/// Text with the characters that matter to XML, so the parsers see tags,
/// entities and broken markup, not just letters.
fn xmlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("<".to_owned()),
            Just(">".to_owned()),
            Just("&".to_owned()),
            Just("&amp;".to_owned()),
            Just("&#13;".to_owned()),
            Just("\"".to_owned()),
            Just("/".to_owned()),
            Just("<?qbxml version=\"13.0\"?>".to_owned()),
            Just("<!DOCTYPE x>".to_owned()),
            Just("<QBXML>".to_owned()),
            Just("<QBXMLMsgsRq onError=\"stopOnError\">".to_owned()),
            Just("<CustomerQueryRq iterator=\"Start\">".to_owned()),
            Just("</CustomerQueryRq>".to_owned()),
            Just("<XRs statusCode=\"3100\" statusSeverity=\"Error\"/>".to_owned()),
            "[a-zA-Z0-9 ]{0,8}",
            "\\PC{0,4}",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// Text with references that XML allows and no markup.
fn well_formed_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("&amp;".to_owned()),
            Just("&lt;&gt;".to_owned()),
            Just("&#233;&#x1F600;".to_owned()),
            Just("&apos;".to_owned()),
            Just("]".to_owned()),
            "[^\\p{Cc}<>&\\]\"\u{FFFE}\u{FFFF}]{0,8}",
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_parsers_never_panic(text in xmlish()) {
        let _ = parse_submission(&text);
        let _ = parse_response(&text);
        let _ = parse_hcp(&text, "{00000000-0000-0000-0000-000000000000}");
        let _ = continue_iterator(&text, "{id}");
    }

    /// The submission reader is strict and quick-xml is not: whatever the
    /// former accepts, the latter reads from the stored body into the same
    /// requests (names, attributes, unescaped texts).
    #[test]
    fn what_the_submission_reader_accepts_quick_xml_reads_alike(text in xmlish()) {
        if let Ok((sub, tree)) = parse_submission_tree(&text) {
            let again = read_messages(&sub.body, "Rq").expect("quick-xml reads an accepted body");
            prop_assert_eq!(tree, again);
        }
    }

    /// Well-formed requests, with references, comments, CDATA and
    /// attributes in either quote, are accepted and read as quick-xml
    /// reads them.
    #[test]
    fn well_formed_requests_are_accepted(
        name in "[A-Z][a-zA-Z]{0,12}QueryRq",
        children in proptest::collection::vec(("[A-Z][a-zA-Z0-9._-]{0,8}(Ref|Name|-1)", well_formed_text(), any::<bool>()), 0..6),
        id in "[a-zA-Z0-9 ]{0,6}",
    ) {
        let mut body = format!("<{name} requestID='{id}' >");
        for (child, text, cdata) in &children {
            if *cdata {
                body.push_str(&format!("<{child}><![CDATA[{text}]]><!-- x --></{child} >"));
            } else {
                body.push_str(&format!("<{child} a=\"&quot;{text}\">{text}</{child}>"));
            }
        }
        body.push_str(&format!("</{name}>"));
        let (sub, tree) = parse_submission_tree(&body).map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
        prop_assert_eq!(&sub.body, &body);
        prop_assert_eq!(tree, read_messages(&body, "Rq").expect("quick-xml reads it"));
    }

    #[test]
    fn the_parsers_never_panic_on_any_unicode(text in "\\PC{0,200}") {
        let _ = parse_submission(&text);
        let _ = parse_response(&text);
        let _ = parse_hcp(&text, "x");
    }

    #[test]
    fn a_wrapped_submission_parses_back_to_the_same_requests(
        name in "[A-Z][a-zA-Z]{0,12}(Add|Query|Mod)Rq",
        value in "[^\\p{Cc}<&]{0,30}",
        major in 1u16..17,
    ) {
        let body = format!("<{name} requestID=\"1\"><Name>{value}</Name></{name}>");
        let sub = parse_submission(&body).expect("a plain request is accepted");
        prop_assert_eq!(&sub.body, &body);
        let doc = wrap(&sub.body, Version::new(major, 0), OnError::Stop, None);
        let again = parse_submission(&doc).expect("what qbwcd sends is valid qbXML");
        prop_assert_eq!(again.body, body);
        prop_assert_eq!(again.version, Some(Version::new(major, 0)));
        prop_assert_eq!(again.request_names, vec![name]);
    }
}
