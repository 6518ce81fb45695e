//! Submitted qbXML: a whole `<QBXML>` document or bare `…Rq` elements.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::convert::Tree;
use super::lex::{self, Lexer, Tag, Token};
use super::{xml_error, QbxmlError, Version, MAX_DEPTH};

/// `QBXMLMsgsRq/@onError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum OnError {
    /// Stop at the first failed request (qbwcd's default).
    #[default]
    #[serde(rename = "stopOnError")]
    Stop,
    /// Run every request whatever the others did.
    #[serde(rename = "continueOnError")]
    Continue,
    /// Undo the whole set when one request fails.
    #[serde(rename = "rollbackOnError")]
    Rollback,
}

impl OnError {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Stop => "stopOnError",
            OnError::Continue => "continueOnError",
            OnError::Rollback => "rollbackOnError",
        }
    }

    /// Parses the attribute value.
    ///
    /// # Errors
    /// [`QbxmlError::BadOnError`] for other values.
    pub fn parse(s: &str) -> Result<Self, QbxmlError> {
        match s {
            "stopOnError" => Ok(OnError::Stop),
            "continueOnError" => Ok(OnError::Continue),
            "rollbackOnError" => Ok(OnError::Rollback),
            other => Err(QbxmlError::BadOnError(other.to_owned())),
        }
    }
}

/// A submission reduced to what qbwcd stores: the request elements as they
/// were written, and the envelope facts it re-creates at send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The `…Rq` elements, verbatim (the bytes between the first one's `<`
    /// and the last one's `>`).
    pub body: String,
    /// The version the submitter asked for, if it sent a whole document.
    pub version: Option<Version>,
    /// `onError` of a whole document, else the default.
    pub on_error: OnError,
    /// The request element names in order (`CustomerAddRq`, …).
    pub request_names: Vec<String>,
    /// Whether any request starts an iterator (`iterator="Start"`).
    pub starts_iterator: bool,
}

impl Submission {
    /// True when every request is a query: such a job may be sent again
    /// safely if its answer is lost. Anything else writes.
    pub fn is_read_only(&self) -> bool {
        self.request_names.iter().all(|n| n.ends_with("QueryRq"))
    }
}

/// Where we are in a whole document.
#[derive(PartialEq)]
enum Mode {
    Undecided,
    Bare,
    Document,
}

/// Parses and checks submitted qbXML.
///
/// # Errors
/// [`QbxmlError`] when it is not well-formed, has a DOCTYPE, nests too
/// deep, contains no requests or something at request level that is not
/// one, or sets message-set ids.
pub fn parse_submission(text: &str) -> Result<Submission, QbxmlError> {
    parse(text, None)
}

/// [`parse_submission`], and the `…Rq` elements as trees (what
/// [`crate::qbxml::convert::read_messages`] would read from the body) in
/// the same pass: validation at enqueue then needs no second parse.
///
/// # Errors
/// As [`parse_submission`].
pub fn parse_submission_tree(text: &str) -> Result<(Submission, Tree<'_>), QbxmlError> {
    let mut requests = Tree::for_text(text)?;
    let sub = parse(text, Some(&mut requests))?;
    Ok((sub, requests))
}

/// The one pass of both: `tree`, when given, receives the requests' trees.
fn parse<'a>(text: &'a str, mut tree: Option<&mut Tree<'a>>) -> Result<Submission, QbxmlError> {
    // A byte-order mark is skipped here, not by the reader: the reader's
    // positions would then not be offsets into `text`.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lexer = Lexer::new(text);
    let mut mode = Mode::Undecided;
    let mut depth = 0usize;
    let mut version = None;
    let mut on_error = OnError::default();
    let mut names = Vec::new();
    let mut starts_iterator = false;
    let (mut first, mut last) = (None, 0usize);
    let mut msgs_seen = false;
    // The request being read, if any: anything inside it whose name ends
    // in `Rq` is a nested request.
    let mut current: Option<&'a str> = None;
    let mut any_element = false;
    // The open elements of the request being read, when building trees.
    let mut open: Vec<u32> = Vec::new();
    loop {
        let before = lexer.pos();
        let Some(token) = lexer.next_token().map_err(xml_error)? else {
            break;
        };
        match token {
            Token::Doctype => return Err(QbxmlError::Doctype),
            // `<?xml …?>` is allowed first only.
            Token::Pi { target: "xml", .. } if !any_element && version.is_none() => {}
            // Only `<?qbxml version?>`, once, before the first element.
            Token::Pi { target: "qbxml", rest } if !any_element && version.is_none() => {
                version = Some(pi_version(rest)?);
            }
            Token::Pi { target, .. } => {
                return Err(QbxmlError::ProcessingInstruction(target.chars().take(40).collect()));
            }
            Token::Start(_) | Token::Empty(_) if depth > MAX_DEPTH => {
                return Err(QbxmlError::TooDeep(MAX_DEPTH));
            }
            Token::Start(tag) | Token::Empty(tag) => {
                let is_empty = matches!(token, Token::Empty(_));
                let name = tag.local_name();
                let in_request = current.is_some();
                any_element = true;
                if name != "QBXMLMsgsRq" {
                    refuse_message_set_attributes(&tag, name)?;
                }
                if let Some(outer) = current.as_ref().filter(|_| name.ends_with("Rq")) {
                    return Err(QbxmlError::NestedRequest { outer: outer.to_string(), inner: name.to_owned() });
                }
                let request_level = match (&mode, depth) {
                    (Mode::Undecided, 0) if name == "QBXML" => {
                        mode = Mode::Document;
                        false
                    }
                    (Mode::Undecided, 0) => {
                        mode = Mode::Bare;
                        true
                    }
                    (Mode::Bare, 0) => true,
                    (Mode::Document, 0) => return Err(QbxmlError::BadDocument(name.to_owned())),
                    (Mode::Document, 1) => {
                        if name != "QBXMLMsgsRq" || msgs_seen {
                            return Err(QbxmlError::BadDocument(name.to_owned()));
                        }
                        msgs_seen = true;
                        on_error = msgs_attributes(&tag)?;
                        false
                    }
                    (Mode::Document, 2) => true,
                    _ => false,
                };
                if let Some(out) = tree.as_deref_mut().filter(|_| request_level || in_request) {
                    let id = out.open(name, open.is_empty());
                    for (key, value) in tag.attributes() {
                        out.push_attr(id, (Cow::Borrowed(key), lex::unescape(value)));
                    }
                    if is_empty {
                        out.close(id);
                    } else {
                        open.push(id);
                    }
                }
                if request_level {
                    if !name.ends_with("Rq") {
                        return Err(QbxmlError::NotARequest(name.to_owned()));
                    }
                    starts_iterator |= tag.attr("iterator").as_deref() == Some("Start");
                    names.push(name.to_string());
                    first.get_or_insert(before);
                    if is_empty {
                        last = lexer.pos();
                    } else {
                        current = Some(name);
                    }
                }
                if !is_empty {
                    depth += 1;
                }
            }
            Token::End => {
                depth = depth.saturating_sub(1);
                if let (Some(done), Some(out)) = (open.pop(), tree.as_deref_mut()) {
                    out.close(done);
                }
                let request_level_end = match mode {
                    Mode::Bare => depth == 0,
                    Mode::Document => depth == 2,
                    Mode::Undecided => false,
                };
                if request_level_end {
                    last = lexer.pos();
                    current = None;
                }
            }
            Token::Text(raw, refs) => {
                let unescape = |raw| if refs { lex::unescape(raw) } else { Cow::Borrowed(raw) };
                // Text outside the requests, refused unless it is whitespace.
                let refuse: Option<fn(String) -> QbxmlError> = match mode {
                    // Stray text before anything else: not a request at all.
                    Mode::Undecided | Mode::Bare if !any_element => Some(QbxmlError::NotARequest),
                    Mode::Bare if depth == 0 => Some(QbxmlError::TextBetweenRequests),
                    Mode::Document if depth <= 2 => Some(QbxmlError::TextBetweenRequests),
                    _ => None,
                };
                if let Some(refuse) = refuse {
                    let unescaped = unescape(raw);
                    let trimmed = unescaped.trim();
                    if !trimmed.is_empty() {
                        return Err(refuse(trimmed.chars().take(40).collect()));
                    }
                }
                if let (Some(&top), Some(out)) = (open.last(), tree.as_deref_mut()) {
                    out.push_text(top, unescape(raw));
                }
            }
            Token::CData(c) => {
                if let (Some(&top), Some(out)) = (open.last(), tree.as_deref_mut()) {
                    out.push_text(top, Cow::Borrowed(c));
                }
                let outside = match mode {
                    Mode::Undecided | Mode::Bare => depth == 0,
                    Mode::Document => depth <= 2,
                };
                if outside {
                    return Err(QbxmlError::TextBetweenRequests(c.trim().chars().take(40).collect()));
                }
            }
            Token::Comment => {}
        }
    }
    // The reader ends only when every element is closed.
    let Some(first) = first else {
        return Err(QbxmlError::NoRequests);
    };
    if starts_iterator && names.len() > 1 {
        return Err(QbxmlError::IteratorNotAlone);
    }
    let body = text
        .get(first..last)
        .ok_or_else(|| QbxmlError::Malformed("the requests' positions are not within the text".into()))?
        .to_owned();
    Ok(Submission { body, version, on_error, request_names: names, starts_iterator })
}

/// The attributes that configure a message set: only `QBXMLMsgsRq` may
/// carry them.
const MESSAGE_SET_ATTRIBUTES: [&str; 3] = ["onError", "newMessageSetID", "oldMessageSetID"];

fn refuse_message_set_attributes(tag: &Tag<'_>, element: &str) -> Result<(), QbxmlError> {
    for (key, _) in tag.attributes() {
        if let Some(attribute) = MESSAGE_SET_ATTRIBUTES.iter().find(|m| **m == key) {
            return Err(QbxmlError::MessageSetAttribute {
                attribute: (*attribute).to_owned(),
                element: element.to_owned(),
            });
        }
    }
    Ok(())
}

fn msgs_attributes(tag: &Tag<'_>) -> Result<OnError, QbxmlError> {
    if tag.attr("newMessageSetID").is_some() || tag.attr("oldMessageSetID").is_some() {
        return Err(QbxmlError::MessageSetIdGiven);
    }
    match tag.attr("onError") {
        Some(v) => OnError::parse(&v),
        None => Ok(OnError::default()),
    }
}

/// `version="13.0"` from the rest of a `<?qbxml …?>` instruction.
fn pi_version(rest: &str) -> Result<Version, QbxmlError> {
    let bad = || QbxmlError::BadVersion(rest.trim().to_owned());
    let after = rest.split_once("version").ok_or_else(bad)?.1;
    let after = after.trim_start().strip_prefix('=').ok_or_else(bad)?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or_else(bad)?;
    let value = after[1..].split(quote).next().ok_or_else(bad)?;
    Version::parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass trees are the ones the body reads into on its own.
    #[test]
    fn the_trees_of_one_pass_match_reading_the_body_again() {
        let cases = [
            "\u{feff}<CustomerQueryRq/>",
            "  <CustomerAddRq requestID=\"1\"><CustomerAdd><Name>A &amp; B</Name><Notes/><Phone>  </Phone></CustomerAdd></CustomerAddRq>\n<CustomerQueryRq a=\"&lt;x\"/>  ",
            "<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?>\n<QBXML>\n <QBXMLMsgsRq onError=\"continueOnError\">\n  <InvoiceAddRq>\n   <InvoiceAdd>\n    <Memo>a<![CDATA[<b>]]>c</Memo>\n    <InvoiceLineAdd><Desc>x</Desc></InvoiceLineAdd>\n   </InvoiceAdd>\n  </InvoiceAddRq>\n  <CustomerQueryRq><MaxReturned>1</MaxReturned></CustomerQueryRq>\n </QBXMLMsgsRq>\n</QBXML>",
        ];
        for text in cases {
            let (sub, tree) = parse_submission_tree(text).expect("accepted");
            assert_eq!(sub, parse_submission(text).expect("accepted"), "{text:?}");
            let again = crate::qbxml::convert::read_messages(&sub.body, "Rq").expect("reads");
            assert_eq!(tree, again, "{text:?}");
        }
        assert_eq!(parse_submission_tree("<ARq><B></ARq>").map(|_| ()), parse_submission("<ARq><B></ARq>").map(|_| ()));
    }

    /// Found by the `qbxml` fuzz target: a byte-order mark made the reader's
    /// positions fall inside it, and slicing there panicked.
    #[test]
    fn a_byte_order_mark_is_skipped_and_never_panics() {
        let s = parse_submission("\u{feff}\t<CustomerQueryRq/>").unwrap();
        assert_eq!(s.body, "<CustomerQueryRq/>");
        assert_eq!(s.request_names, vec!["CustomerQueryRq".to_owned()]);
        let fuzzed = String::from_utf8_lossy(&[239, 187, 191, 9, 60, 82, 113, 47, 62]).into_owned();
        assert_eq!(parse_submission(&fuzzed).map(|s| s.body), Ok("<Rq/>".to_owned()));
    }

    #[test]
    fn bare_requests_are_kept_verbatim() {
        let s = parse_submission(
            "  <CustomerAddRq requestID=\"1\"><CustomerAdd><Name>A &amp; B</Name></CustomerAdd></CustomerAddRq>\n<CustomerQueryRq/>  ",
        )
        .unwrap();
        assert_eq!(
            s.body,
            "<CustomerAddRq requestID=\"1\"><CustomerAdd><Name>A &amp; B</Name></CustomerAdd></CustomerAddRq>\n<CustomerQueryRq/>"
        );
        assert_eq!(s.request_names, ["CustomerAddRq", "CustomerQueryRq"]);
        assert!(!s.is_read_only());
        assert_eq!(s.version, None);
    }

    #[test]
    fn whole_documents_give_their_version_and_on_error() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<?qbxml version=\"13.0\"?>\n<QBXML><QBXMLMsgsRq onError=\"continueOnError\"><CustomerQueryRq requestID=\"1\" iterator=\"Start\"><MaxReturned>10</MaxReturned></CustomerQueryRq></QBXMLMsgsRq></QBXML>";
        let s = parse_submission(doc).unwrap();
        assert_eq!(s.version, Some(Version::new(13, 0)));
        assert_eq!(s.on_error, OnError::Continue);
        assert!(s.is_read_only());
        assert!(s.starts_iterator);
        assert!(s.body.starts_with("<CustomerQueryRq") && s.body.ends_with("</CustomerQueryRq>"));
    }

    #[test]
    fn bad_submissions_are_refused_with_a_reason() {
        let cases = [
            ("", QbxmlError::NoRequests),
            ("<Customer/>", QbxmlError::NotARequest("Customer".into())),
            ("hello", QbxmlError::NotARequest("hello".into())),
            ("<!DOCTYPE x [<!ENTITY a \"b\">]><XRq/>", QbxmlError::Doctype),
            (
                "<QBXML><QBXMLMsgsRq onError=\"stopOnError\" newMessageSetID=\"1\"/></QBXML>",
                QbxmlError::MessageSetIdGiven,
            ),
            ("<QBXML><QBXMLMsgsRq onError=\"maybe\"/></QBXML>", QbxmlError::BadOnError("maybe".into())),
            ("<QBXML><Other/></QBXML>", QbxmlError::BadDocument("Other".into())),
            ("<QBXML><QBXMLMsgsRq onError=\"stopOnError\"></QBXMLMsgsRq></QBXML>", QbxmlError::NoRequests),
        ];
        for (input, want) in cases {
            assert_eq!(parse_submission(input).unwrap_err(), want, "input {input:?}");
        }
        assert!(matches!(parse_submission("<ARq><B></ARq>"), Err(QbxmlError::Malformed(_))));
        assert!(matches!(parse_submission("<ARq><B>"), Err(QbxmlError::Malformed(_))));
        assert!(matches!(parse_submission("<ARq>&bogus;</ARq>"), Err(QbxmlError::Malformed(_))));
        assert!(matches!(parse_submission("<?qbxml version=\"x\"?><ARq/>"), Err(QbxmlError::BadVersion(_))));
        assert_eq!(
            parse_submission("<AQueryRq iterator=\"Start\"/><BQueryRq/>").unwrap_err(),
            QbxmlError::IteratorNotAlone
        );
    }

    #[test]
    fn processing_instructions_other_than_the_leading_declarations_are_refused() {
        let ok = "<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\"><AQueryRq/></QBXMLMsgsRq></QBXML>";
        assert!(parse_submission(ok).is_ok());
        let pi = |t: &str| QbxmlError::ProcessingInstruction(t.into());
        let cases = [
            ("<?php echo 1 ?><AQueryRq/>", pi("php")),
            ("<AQueryRq><?evil x?></AQueryRq>", pi("evil")),
            ("<AQueryRq/><?qbxml version=\"13.0\"?>", pi("qbxml")),
            ("<?qbxml version=\"13.0\"?><?qbxml version=\"2.0\"?><AQueryRq/>", pi("qbxml")),
            (
                "<QBXML><QBXMLMsgsRq><AQueryRq/><?xml-stylesheet href=\"x\"?></QBXMLMsgsRq></QBXML>",
                pi("xml-stylesheet"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_submission(input).unwrap_err(), want, "input {input:?}");
        }
    }

    #[test]
    fn text_between_requests_is_refused() {
        let text = |t: &str| QbxmlError::TextBetweenRequests(t.into());
        let cases = [
            ("<AQueryRq/> stray <BQueryRq/>", text("stray")),
            ("<AQueryRq/>trailing", text("trailing")),
            ("<QBXML><QBXMLMsgsRq><AQueryRq/>between<BQueryRq/></QBXMLMsgsRq></QBXML>", text("between")),
            ("<QBXML>x<QBXMLMsgsRq><AQueryRq/></QBXMLMsgsRq></QBXML>", text("x")),
            ("<AQueryRq/><![CDATA[hidden]]>", text("hidden")),
        ];
        for (input, want) in cases {
            assert_eq!(parse_submission(input).unwrap_err(), want, "input {input:?}");
        }
        // Whitespace and text inside a request are fine.
        assert!(parse_submission("<QBXML>\n <QBXMLMsgsRq>\n<ARq><N>x</N></ARq>\n</QBXMLMsgsRq>\n</QBXML>").is_ok());
    }

    #[test]
    fn message_set_attributes_below_qbxmlmsgsrq_are_refused() {
        let attr = |a: &str, e: &str| QbxmlError::MessageSetAttribute { attribute: a.into(), element: e.into() };
        let cases = [
            ("<CustomerAddRq onError=\"continueOnError\"/>", attr("onError", "CustomerAddRq")),
            ("<CustomerAddRq newMessageSetID=\"x\"/>", attr("newMessageSetID", "CustomerAddRq")),
            ("<ARq><Inner oldMessageSetID=\"y\"/></ARq>", attr("oldMessageSetID", "Inner")),
            (
                "<QBXML><QBXMLMsgsRq onError=\"stopOnError\"><ARq><B onError=\"rollbackOnError\"/></ARq></QBXMLMsgsRq></QBXML>",
                attr("onError", "B"),
            ),
            // After a line break or a tab, not only a space.
            ("<CustomerAddRq\n\tonError=\"stopOnError\"></CustomerAddRq>", attr("onError", "CustomerAddRq")),
            ("<ARq><Inner\r\nnewMessageSetID=\"x\"/></ARq>", attr("newMessageSetID", "Inner")),
        ];
        for (input, want) in cases {
            assert_eq!(parse_submission(input).unwrap_err(), want, "input {input:?}");
        }
        // Whitespace alone after a name is no attribute.
        let (sub, tree) = parse_submission_tree("<ARq ><B\n/><C\t>x</C></ARq>").expect("well-formed");
        assert_eq!(sub.request_names, ["ARq"]);
        let children: Vec<(&str, usize)> =
            tree.roots().next().unwrap().children().map(|c| (c.name(), c.attrs().len())).collect();
        assert_eq!(children, [("B", 0), ("C", 0)]);
    }

    #[test]
    fn a_request_nested_in_another_is_refused_not_counted_as_a_read() {
        let nested = "<CustomerQueryRq><CustomerAddRq><CustomerAdd><Name>x</Name></CustomerAdd></CustomerAddRq></CustomerQueryRq>";
        assert_eq!(
            parse_submission(nested).unwrap_err(),
            QbxmlError::NestedRequest { outer: "CustomerQueryRq".into(), inner: "CustomerAddRq".into() }
        );
        let doc = format!("<QBXML><QBXMLMsgsRq onError=\"stopOnError\">{nested}</QBXMLMsgsRq></QBXML>");
        assert!(matches!(parse_submission(&doc), Err(QbxmlError::NestedRequest { .. })));
        // Siblings are counted one by one: a write beside a query is a write.
        let s = parse_submission("<CustomerQueryRq/><CustomerAddRq><CustomerAdd/></CustomerAddRq>").unwrap();
        assert!(!s.is_read_only());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("<ARq>{}{}</ARq>", "<a>".repeat(MAX_DEPTH + 5), "</a>".repeat(MAX_DEPTH + 5));
        assert_eq!(parse_submission(&deep).unwrap_err(), QbxmlError::TooDeep(MAX_DEPTH));
    }
}
