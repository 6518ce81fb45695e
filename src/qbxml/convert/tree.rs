//! A small element tree: what validation walks and what JSON requests are
//! built into before they are written as qbXML. Requests are bounded by
//! `job_max_bytes`, and answers are read into a tree one record at a time
//! (see `to_json`), so no whole answer is ever held as a tree.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::qbxml::{xml_error, QbxmlError, MAX_DEPTH};

/// One element: its name, attributes in document order, children and text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Local name as written (`CustomerAdd`).
    pub name: String,
    /// Attributes as written, unescaped.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Node>,
    /// The element's text, unescaped (concatenated when split by children).
    pub text: String,
}

impl Node {
    /// An element with a name and nothing else.
    pub fn named(name: impl Into<String>) -> Self {
        Node { name: name.into(), ..Node::default() }
    }

    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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

/// Escapes XML text (and, in attributes, quotes).
fn escape_into(s: &str, attr: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' if attr => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// The local name of a start tag.
pub(crate) fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

/// The attributes of a start tag, unescaped (a value with an unknown
/// entity is kept as written rather than refused: answers are never refused).
pub(crate) fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, QbxmlError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(xml_error)?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = match a.unescape_value() {
            Ok(v) => v.into_owned(),
            Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// Reads the rest of the element whose start tag `start` was just read
/// (`empty` when it was `<X/>`) into a [`Node`]; `depth` is its depth.
///
/// # Errors
/// When the XML is not well-formed or nests deeper than [`MAX_DEPTH`].
pub(crate) fn read_node(
    reader: &mut Reader<&[u8]>,
    start: &BytesStart<'_>,
    empty: bool,
    depth: usize,
) -> Result<Node, QbxmlError> {
    let mut stack = vec![Node { name: local_name(start), attrs: attributes(start)?, ..Node::default() }];
    if empty {
        return Ok(stack.pop().unwrap_or_default());
    }
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) => {
                if depth + stack.len() > MAX_DEPTH {
                    return Err(QbxmlError::TooDeep(MAX_DEPTH));
                }
                stack.push(Node { name: local_name(&e), attrs: attributes(&e)?, ..Node::default() });
            }
            Event::Empty(e) => {
                let node = Node { name: local_name(&e), attrs: attributes(&e)?, ..Node::default() };
                if let Some(top) = stack.last_mut() {
                    top.children.push(node);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    match t.unescape() {
                        Ok(s) => top.text.push_str(&s),
                        Err(_) => top.text.push_str(&String::from_utf8_lossy(t.as_ref())),
                    }
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(c.as_ref()));
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
pub(crate) fn finish(mut node: Node) -> Node {
    fn trim(n: &mut Node) {
        if !n.children.is_empty() && n.text.trim().is_empty() {
            n.text.clear();
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
pub fn read_messages(text: &str, suffix: &str) -> Result<Vec<Node>, QbxmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut depth = 0usize;
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            Event::Start(e) => {
                let name = local_name(&e);
                if name.ends_with(suffix) && !name.starts_with("QBXMLMsgs") {
                    out.push(read_node(&mut reader, &e, false, depth)?);
                } else {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(QbxmlError::TooDeep(MAX_DEPTH));
                    }
                }
            }
            Event::Empty(e) => {
                let name = local_name(&e);
                if name.ends_with(suffix) && !name.starts_with("QBXMLMsgs") {
                    out.push(read_node(&mut reader, &e, true, depth)?);
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
