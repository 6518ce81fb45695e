//! A small element tree of an XSD file: names without the `xsd:` prefix,
//! attributes, children and text. Comments are dropped as they are read, so
//! nothing of Intuit's notices or documentation reaches the output.

use anyhow::{bail, Context, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One XSD element.
#[derive(Debug, Clone)]
pub struct Node {
    /// Local name (`element`, `sequence`, …).
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Node>,
    /// Text directly inside (used for `appinfo`).
    pub text: String,
}

impl Node {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Child elements named `name`.
    pub fn kids<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child named `name`.
    pub fn kid(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Whether an `annotation/appinfo` says `DEPRECATED`.
    pub fn deprecated(&self) -> bool {
        self.kids("annotation").flat_map(|a| a.kids("appinfo")).any(|i| i.text.trim() == "DEPRECATED")
    }
}

fn start(e: &BytesStart<'_>) -> Result<Node> {
    let qname = e.name();
    let full = std::str::from_utf8(qname.as_ref())?;
    let name = full.rsplit(':').next().unwrap_or(full).to_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a?;
        let key = std::str::from_utf8(a.key.as_ref())?.to_owned();
        attrs.push((key, a.unescape_value()?.into_owned()));
    }
    Ok(Node { name, attrs, children: Vec::new(), text: String::new() })
}

/// Parses a whole XSD document and returns its root (`schema`).
pub fn parse(text: &str) -> Result<Node> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        let ev = reader.read_event().with_context(|| format!("XML error at byte {}", reader.buffer_position()))?;
        match ev {
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let node = start(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let node = stack.pop().context("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape()?);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        bail!("unclosed elements at end of file");
    }
    root.context("empty document")
}
