//! A small element tree: what validation walks and what JSON requests are
//! built into before they are written as qbXML. Requests are bounded by
//! `job_max_bytes`, and answers are read into a tree one record at a time
//! (see `to_json`), so no whole answer is ever held as a tree.
//!
//! Names and texts are borrowed from what the tree was read from (the qbXML
//! text, or the JSON values) and copied only when they had to change (an
//! entity unescaped, an amount given two decimals): allocating a name and a
//! text for each of a large request's ~40,000 elements was most of the cost
//! of validating it (BENCHMARKS.md, #16).

use std::borrow::Cow;

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::Reader;

use crate::qbxml::{xml_error, QbxmlError, MAX_DEPTH};

/// An attribute: its local name and its value, unescaped.
pub type Attr<'a> = (Cow<'a, str>, Cow<'a, str>);

/// One element: its name, attributes in document order, children and text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node<'a> {
    /// Local name as written (`CustomerAdd`).
    pub name: Cow<'a, str>,
    /// Attributes as written, unescaped.
    pub attrs: Vec<Attr<'a>>,
    /// Child elements in document order.
    pub children: Vec<Node<'a>>,
    /// The element's text, unescaped (concatenated when split by children).
    pub text: Cow<'a, str>,
}

impl<'a> Node<'a> {
    /// An element with a name and nothing else.
    pub fn named(name: impl Into<Cow<'a, str>>) -> Self {
        Node { name: name.into(), ..Node::default() }
    }

    /// Appends text read after what the element already has (text split by
    /// a child, a comment or CDATA); the first piece stays borrowed.
    pub(crate) fn push_text(&mut self, piece: Cow<'a, str>) {
        // Layout between children would only be joined to be thrown away
        // by `finish`.
        if !self.children.is_empty() && piece.trim().is_empty() && self.text.trim().is_empty() {
            return;
        }
        if self.text.is_empty() {
            self.text = piece;
        } else {
            self.text.to_mut().push_str(&piece);
        }
    }

    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Appends this element as qbXML text (no whitespace between elements).
    pub fn write_xml(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(v, true, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            // An empty leaf (a Mod clearing a field) and an empty aggregate
            // are both written open and closed, as QuickBooks' own samples do.
            out.push_str("></");
        } else {
            out.push('>');
            escape_into(&self.text, false, out);
            for c in &self.children {
                c.write_xml(out);
            }
            out.push_str("</");
        }
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Escapes XML text (and, in attributes, quotes): runs without a special
/// character are copied whole.
fn escape_into(s: &str, attr: bool, out: &mut String) {
    let mut rest = s;
    while let Some(i) = rest.find(|c| matches!(c, '<' | '>' | '&') || (attr && c == '"')) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            _ => "&quot;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// `part` borrowed from `text` when it lies within it (the reader lends its
/// events from the text it reads), else copied. Only addresses are
/// compared: a range inside `text` is those very bytes.
pub(crate) fn lend<'a>(text: &'a str, part: &[u8]) -> Cow<'a, str> {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    match start.checked_add(part.len()).and_then(|end| text.get(start..end)) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(String::from_utf8_lossy(part).into_owned()),
    }
}

/// The local name of a start tag read from `text`.
pub(crate) fn local_name<'a>(text: &'a str, e: &BytesStart<'_>) -> Cow<'a, str> {
    lend(text, e.local_name().into_inner())
}

/// The attributes of a start tag read from `text`, unescaped (a value with
/// an unknown entity is kept as written rather than refused: answers are
/// never refused).
pub(crate) fn attributes<'a>(text: &'a str, e: &BytesStart<'_>) -> Result<Vec<Attr<'a>>, QbxmlError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(xml_error)?;
        let key = lend(text, a.key.local_name().into_inner());
        let value = if a.value.contains(&b'&') {
            match a.unescape_value() {
                Ok(v) => Cow::Owned(v.into_owned()),
                Err(_) => lend(text, &a.value),
            }
        } else {
            lend(text, &a.value)
        };
        out.push((key, value));
    }
    Ok(out)
}

/// An element's text, unescaped; borrowed from the input unless an entity
/// had to be replaced (one that cannot be is kept as written).
pub(crate) fn text_of<'a>(t: BytesText<'a>) -> Cow<'a, str> {
    match t.unescape() {
        Ok(s) => s,
        Err(_) => match t.into_inner() {
            Cow::Borrowed(b) => String::from_utf8_lossy(b),
            Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
        },
    }
}

/// The element of start tag `e`, read from `text`, with nothing in it yet.
pub(crate) fn start_node<'a>(text: &'a str, e: &BytesStart<'_>) -> Result<Node<'a>, QbxmlError> {
    Ok(Node { name: local_name(text, e), attrs: attributes(text, e)?, ..Node::default() })
}

/// Reads the rest of the element whose start tag `start` was just read
/// (`empty` when it was `<X/>`) from `reader`, which reads `text`, into a
/// [`Node`]; `depth` is its depth.
///
/// # Errors
/// When the XML is not well-formed or nests deeper than [`MAX_DEPTH`].
pub(crate) fn read_node<'a>(
    text: &'a str,
    reader: &mut Reader<&'a [u8]>,
    start: &BytesStart<'_>,
    empty: bool,
    depth: usize,
) -> Result<Node<'a>, QbxmlError> {
    let mut stack = vec![start_node(text, start)?];
    if empty {
        return Ok(stack.pop().unwrap_or_default());
    }
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) => {
                if depth + stack.len() > MAX_DEPTH {
                    return Err(QbxmlError::TooDeep(MAX_DEPTH));
                }
                stack.push(start_node(text, &e)?);
            }
            Event::Empty(e) => {
                let node = start_node(text, &e)?;
                if let Some(top) = stack.last_mut() {
                    top.children.push(node);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.push_text(text_of(t));
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.push_text(lend(text, &c));
                }
            }
            Event::End(_) => {
                let done = stack.pop().unwrap_or_default();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(finish(done)),
                }
            }
            Event::Eof => {
                return Err(QbxmlError::Malformed("unexpected end of input: an element is not closed".into()))
            }
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            _ => {}
        }
    }
}

/// Whitespace between child elements is layout, not text.
pub(crate) fn finish(mut node: Node<'_>) -> Node<'_> {
    fn trim(n: &mut Node<'_>) {
        if !n.children.is_empty() && !n.text.is_empty() && n.text.trim().is_empty() {
            n.text = Cow::Borrowed("");
        }
        n.children.iter_mut().for_each(trim);
    }
    trim(&mut node);
    node
}

/// The `…Rq` (or `…Rs`) elements of a qbXML text: a whole document or bare
/// elements. Anything at request level that is not an element ending in
/// `suffix` is skipped here (the submission checks refuse it).
///
/// # Errors
/// When the XML is not well-formed, has a DOCTYPE or nests too deep.
pub fn read_messages<'a>(text: &'a str, suffix: &str) -> Result<Vec<Node<'a>>, QbxmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut depth = 0usize;
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            Event::Start(e) => {
                let name = local_name(text, &e);
                if name.ends_with(suffix) && !name.starts_with("QBXMLMsgs") {
                    out.push(read_node(text, &mut reader, &e, false, depth)?);
                } else {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(QbxmlError::TooDeep(MAX_DEPTH));
                    }
                }
            }
            Event::Empty(e) => {
                let name = local_name(text, &e);
                if name.ends_with(suffix) && !name.starts_with("QBXMLMsgs") {
                    out.push(read_node(text, &mut reader, &e, true, depth)?);
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_reads_into_requests_and_writes_back() {
        let text = "<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\">\n\
                    <CustomerAddRq requestID=\"1\"><CustomerAdd><Name>A &amp; B</Name><Notes/></CustomerAdd></CustomerAddRq>\n\
                    </QBXMLMsgsRq></QBXML>";
        let rq = read_messages(text, "Rq").expect("parses");
        assert_eq!(rq.len(), 1);
        assert_eq!(rq[0].attr("requestID"), Some("1"));
        assert_eq!(rq[0].children[0].children[0].text, "A & B");
        let mut out = String::new();
        rq[0].write_xml(&mut out);
        assert_eq!(
            out,
            "<CustomerAddRq requestID=\"1\"><CustomerAdd><Name>A &amp; B</Name><Notes></Notes></CustomerAdd></CustomerAddRq>"
        );
    }
}
