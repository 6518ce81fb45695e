//! A small element tree: what validation walks and what JSON requests are
//! built into before they are written as qbXML. Requests are bounded by
//! `job_max_bytes`, and answers are read into a tree one record at a time
//! (see `to_json`), so no whole answer is ever held as a tree.
//!
//! A 1 MB request has ~40,000 elements, so what each costs decides what
//! validating it costs: names and texts are borrowed from what the tree was
//! read from (the qbXML text, or the JSON values) and copied only when they
//! had to change (an entity unescaped, an amount given two decimals), and
//! elements sit in one table rather than in a vector of children each.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::Reader;

use super::index::Slot;
use crate::qbxml::{xml_error, QbxmlError, MAX_DEPTH};

/// An attribute: its local name and its value, unescaped.
pub type Attr<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Elements in document order in one table, each knowing where its
/// descendants end, with their attributes in a second table: reading a
/// large request costs two vectors rather than a vector of children per
/// element, and no element is copied into its parent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree<'a> {
    items: Vec<Item<'a>>,
    attrs: Vec<Attr<'a>>,
    /// The top-level elements (the requests or responses), in order.
    roots: Vec<u32>,
}

#[derive(Clone, Debug)]
struct Item<'a> {
    /// Names are always borrowed: element names hold no entities.
    name: &'a str,
    /// Unescaped, concatenated when split by children, comments or CDATA.
    text: Cow<'a, str>,
    /// Its attributes: a range of [`Tree::attrs`].
    attrs: (u32, u32),
    /// One past its last descendant.
    end: u32,
    /// Its place in its parent's content model, when whoever built the tree
    /// already looked it up (JSON requests are built from the schema), so
    /// validation need not look it up again.
    slot: Option<&'static Slot>,
}

impl PartialEq for Item<'_> {
    /// The slot is a cache of the name's lookup, not part of the element.
    fn eq(&self, other: &Self) -> bool {
        (self.name, &self.text, self.attrs, self.end) == (other.name, &other.text, other.attrs, other.end)
    }
}

impl Eq for Item<'_> {}

/// One element of a [`Tree`].
#[derive(Clone, Copy, Debug)]
pub struct Node<'t> {
    tree: &'t Tree<'t>,
    id: u32,
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.tree, other.tree) && self.id == other.id
    }
}

impl<'a> Tree<'a> {
    /// An empty tree.
    pub fn new() -> Self {
        Tree::default()
    }

    /// An empty tree with room for about `elements` elements.
    pub fn with_capacity(elements: usize) -> Self {
        Tree { items: Vec::with_capacity(elements), ..Tree::default() }
    }

    /// An empty tree to read `text` into, sized once from its tags.
    ///
    /// # Errors
    /// [`QbxmlError::TooLarge`] for a text whose elements could outnumber
    /// the tree's 32-bit indexes.
    pub(crate) fn for_text(text: &str) -> Result<Self, QbxmlError> {
        fits_a_tree(text)?;
        Ok(Tree::with_capacity(estimate(text)))
    }

    /// The top-level elements, in order.
    pub fn roots(&self) -> impl ExactSizeIterator<Item = Node<'_>> + Clone + '_ {
        self.roots.iter().map(move |&id| Node { tree: self, id })
    }

    /// How many elements the tree has.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the tree has no elements.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends every top-level element as qbXML text.
    pub fn write_xml(&self, out: &mut String) {
        self.roots().for_each(|n| n.write_xml(out));
    }

    /// Opens an element (its children and text follow, then
    /// [`close`](Self::close)); `root` when it is a top-level element.
    pub(crate) fn open(&mut self, name: &'a str, root: bool) -> u32 {
        self.push_item(name, root, None)
    }

    /// [`open`](Self::open) for a child element whose slot in its parent's
    /// content model is known.
    pub(crate) fn open_in(&mut self, name: &'a str, slot: &'static Slot) -> u32 {
        self.push_item(name, false, Some(slot))
    }

    fn push_item(&mut self, name: &'a str, root: bool, slot: Option<&'static Slot>) -> u32 {
        let id = self.items.len() as u32;
        let at = self.attrs.len() as u32;
        self.items.push(Item { name, text: Cow::Borrowed(""), attrs: (at, at), end: id + 1, slot });
        if root {
            self.roots.push(id);
        }
        id
    }

    /// Adds an attribute to element `id`, which must be the last opened
    /// and have no children yet (its attributes end the table).
    pub(crate) fn push_attr(&mut self, id: u32, attr: Attr<'a>) {
        debug_assert_eq!(self.items.len(), id as usize + 1, "attributes go to the last element opened");
        self.attrs.push(attr);
        self.items[id as usize].attrs.1 = self.attrs.len() as u32;
    }

    /// Puts an attribute first on element `id` (as [`push_attr`](Self::push_attr)).
    pub(crate) fn insert_attr_first(&mut self, id: u32, attr: Attr<'a>) {
        debug_assert_eq!(self.items.len(), id as usize + 1, "attributes go to the last element opened");
        let start = self.items[id as usize].attrs.0 as usize;
        self.attrs.insert(start, attr);
        self.items[id as usize].attrs.1 = self.attrs.len() as u32;
    }

    /// Sets element `id`'s text.
    pub(crate) fn set_text(&mut self, id: u32, text: Cow<'a, str>) {
        self.items[id as usize].text = text;
    }

    /// Appends text read after what element `id` already has (text split
    /// by a child, a comment or CDATA); the first piece stays borrowed.
    pub(crate) fn push_text(&mut self, id: u32, piece: Cow<'a, str>) {
        let has_children = self.items.len() > id as usize + 1;
        let item = &mut self.items[id as usize];
        // Layout between children would only be joined to be thrown away
        // by `close`.
        if has_children && piece.trim().is_empty() && item.text.trim().is_empty() {
            return;
        }
        if item.text.is_empty() {
            item.text = piece;
        } else {
            item.text.to_mut().push_str(&piece);
        }
    }

    /// Closes element `id`: everything added since it opened is inside it.
    /// Whitespace between child elements is layout, not text.
    pub(crate) fn close(&mut self, id: u32) {
        let end = self.items.len() as u32;
        let item = &mut self.items[id as usize];
        item.end = end;
        if end > id + 1 && !item.text.is_empty() && item.text.trim().is_empty() {
            item.text = Cow::Borrowed("");
        }
    }

    /// Empties the tree, keeping its tables' room.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.attrs.clear();
        self.roots.clear();
    }
}

impl<'t> Node<'t> {
    fn item(self) -> &'t Item<'t> {
        &self.tree.items[self.id as usize]
    }

    /// Local name as written (`CustomerAdd`).
    pub fn name(self) -> &'t str {
        self.item().name
    }

    /// Its slot in its parent's content model, if the tree's builder
    /// looked it up.
    pub(crate) fn slot(self) -> Option<&'static Slot> {
        self.item().slot
    }

    /// The element's text, unescaped.
    pub fn text(self) -> &'t str {
        &self.item().text
    }

    /// Attributes as written, unescaped, in document order.
    pub fn attrs(self) -> &'t [Attr<'t>] {
        let (a, b) = self.item().attrs;
        &self.tree.attrs[a as usize..b as usize]
    }

    /// The value of attribute `name`, if present.
    pub fn attr(self, name: &str) -> Option<&'t str> {
        self.attrs().iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Whether it has child elements.
    pub fn has_children(self) -> bool {
        self.item().end > self.id + 1
    }

    /// Its child elements, in document order.
    pub fn children(self) -> Children<'t> {
        Children { tree: self.tree, next: self.id + 1, end: self.item().end }
    }

    /// The top-level elements of its tree (its siblings when it is one).
    pub fn roots(self) -> impl Iterator<Item = Node<'t>> + Clone {
        let tree = self.tree;
        tree.roots.iter().map(move |&id| Node { tree, id })
    }

    /// Appends this element as qbXML text (no whitespace between elements).
    pub fn write_xml(self, out: &mut String) {
        self.tree.write_open(self.id, out);
        for c in self.children() {
            c.write_xml(out);
        }
        self.tree.write_close(self.id, out);
    }
}

impl Tree<'_> {
    /// Appends element `id`'s start tag and text: what comes before its
    /// children. An empty element is written open and closed (`<X></X>`),
    /// as QuickBooks' own samples write a Mod clearing a field.
    ///
    /// True when its text or an attribute holds a byte that may start a
    /// character submitted qbXML may not hold (see
    /// `crate::qbxml::lex::disallowed_char`): noticed while escaping, so
    /// texts from JSON are checked without a pass of their own.
    pub(crate) fn write_open(&self, id: u32, out: &mut String) -> bool {
        let node = self.node(id);
        out.push('<');
        out.push_str(node.name());
        let mut suspect = false;
        for (k, v) in node.attrs() {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            suspect |= escape_into(v, true, out);
            out.push('"');
        }
        out.push('>');
        suspect | escape_into(node.text(), false, out)
    }

    /// Element `id`.
    pub(crate) fn node(&self, id: u32) -> Node<'_> {
        Node { tree: self, id }
    }

    /// Appends element `id`'s end tag.
    pub(crate) fn write_close(&self, id: u32, out: &mut String) {
        out.push_str("</");
        out.push_str(self.items[id as usize].name);
        out.push('>');
    }
}

/// The child elements of a [`Node`].
#[derive(Clone, Debug)]
pub struct Children<'t> {
    tree: &'t Tree<'t>,
    next: u32,
    end: u32,
}

impl<'t> Iterator for Children<'t> {
    type Item = Node<'t>;

    fn next(&mut self) -> Option<Node<'t>> {
        if self.next >= self.end {
            return None;
        }
        let node = Node { tree: self.tree, id: self.next };
        self.next = node.item().end;
        Some(node)
    }
}

/// Escapes XML text (and, in attributes, quotes): runs without a special
/// character are copied whole. True when `s` holds a byte that may lead a
/// character submitted qbXML may not hold
/// ([`crate::qbxml::lex::may_lead_refused`]).
fn escape_into(s: &str, attr: bool, out: &mut String) -> bool {
    // Texts are short and most have nothing to escape: one table lookup per
    // byte costs less than starting a vectorised search per run.
    const SUSPECT: u8 = 4;
    const SPECIAL: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            if crate::qbxml::lex::may_lead_refused(b as u8) {
                t[b] = SUSPECT;
            }
            b += 1;
        }
        t[b'<' as usize] = 1;
        t[b'>' as usize] = 1;
        t[b'&' as usize] = 1;
        t[b'"' as usize] = 2;
        t
    };
    let stop = if attr { 3 } else { 1 };
    let bytes = s.as_bytes();
    let mut from = 0;
    let mut suspect = false;
    for (i, &b) in bytes.iter().enumerate() {
        let class = SPECIAL[b as usize];
        // Most bytes: one test, as when only escaping.
        if class == 0 {
            continue;
        }
        if class & stop == 0 {
            suspect |= class == SUSPECT;
            continue;
        }
        // Each special character is one ASCII byte, so both cuts fall on
        // character boundaries.
        out.push_str(&s[from..i]);
        out.push_str(match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            _ => "&quot;",
        });
        from = i + 1;
    }
    out.push_str(&s[from..]);
    suspect
}

/// `part` borrowed from `text` when it lies within it (the reader lends its
/// events from the text it reads), else copied. Only addresses are
/// compared: a range inside `text` is those very bytes.
fn lend<'a>(text: &'a str, part: &[u8]) -> Cow<'a, str> {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    match start.checked_add(part.len()).and_then(|end| text.get(start..end)) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(String::from_utf8_lossy(part).into_owned()),
    }
}

/// The local name of a start tag read from `text`.
///
/// # Errors
/// When the name does not lie within `text`: a reader of a `&str` lends
/// every name from it, so this would be a reader used wrongly.
pub(crate) fn local_name<'a>(text: &'a str, e: &BytesStart<'_>) -> Result<&'a str, QbxmlError> {
    match lend(text, e.name().into_inner()) {
        Cow::Borrowed(name) => Ok(crate::qbxml::lex::local(name)),
        Cow::Owned(_) => Err(QbxmlError::Malformed("an element name was not read from the text".into())),
    }
}

/// The attributes of a start tag read from `text`, unescaped (a value with
/// an unknown entity is kept as written rather than refused: answers are
/// never refused).
pub(crate) fn attributes<'a>(text: &'a str, e: &BytesStart<'_>) -> Result<Vec<Attr<'a>>, QbxmlError> {
    let mut out = Vec::new();
    each_attribute(text, e, |a| out.push(a))?;
    Ok(out)
}

/// Whether a start tag has anything after its name but whitespace: most
/// elements of a request have no attributes, and this is cheaper than
/// starting to read them.
fn has_attributes(e: &BytesStart<'_>) -> bool {
    !e.attributes_raw().iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// [`attributes`], each given to `f`.
fn each_attribute<'a>(text: &'a str, e: &BytesStart<'_>, mut f: impl FnMut(Attr<'a>)) -> Result<(), QbxmlError> {
    if !has_attributes(e) {
        return Ok(());
    }
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
        f((key, value));
    }
    Ok(())
}

/// An element's text read from `text`, unescaped; borrowed from the input
/// unless an entity had to be replaced (one that cannot be is kept as
/// written).
pub(crate) fn text_of<'a>(text: &'a str, t: BytesText<'a>) -> Cow<'a, str> {
    unescape_text(text, &t).unwrap_or_else(|_| match t.into_inner() {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    })
}

/// A text event read from `text`, unescaped: borrowed when it has no
/// reference, and the references the submission reader accepts replaced
/// by it (the common case: `&amp;` in a name); anything else is left to
/// quick-xml.
///
/// # Errors
/// An unknown or unterminated entity, or a bad character reference.
fn unescape_text<'a>(text: &'a str, t: &BytesText<'a>) -> Result<Cow<'a, str>, quick_xml::Error> {
    let replaced = match lend(text, t) {
        Cow::Borrowed(raw) => crate::qbxml::lex::unescape_checked(raw),
        Cow::Owned(raw) => crate::qbxml::lex::unescape_checked(&raw).map(|s| Cow::Owned(s.into_owned())),
    };
    match replaced {
        Some(s) => Ok(s),
        None => t.unescape(),
    }
}

/// Opens the element of start tag `e`, read from `text`.
pub(crate) fn open_start<'a>(
    tree: &mut Tree<'a>,
    text: &'a str,
    e: &BytesStart<'_>,
    root: bool,
) -> Result<u32, QbxmlError> {
    open_named(tree, text, local_name(text, e)?, e, root)
}

/// [`open_start`] with the name already read.
fn open_named<'a>(
    tree: &mut Tree<'a>,
    text: &'a str,
    name: &'a str,
    e: &BytesStart<'_>,
    root: bool,
) -> Result<u32, QbxmlError> {
    let id = tree.open(name, root);
    each_attribute(text, e, |a| tree.push_attr(id, a))?;
    Ok(id)
}

/// Reads the rest of the element whose start tag `start` was just read
/// (`empty` when it was `<X/>`) from `reader`, which reads `text`, into
/// `tree` as a top-level element; `depth` is its depth.
///
/// # Errors
/// When the XML is not well-formed or nests deeper than [`MAX_DEPTH`].
pub(crate) fn read_node<'a>(
    tree: &mut Tree<'a>,
    text: &'a str,
    reader: &mut Reader<&'a [u8]>,
    start: &BytesStart<'_>,
    empty: bool,
    depth: usize,
) -> Result<(), QbxmlError> {
    let root = open_start(tree, text, start, true)?;
    if empty {
        tree.close(root);
        return Ok(());
    }
    let mut open = vec![root];
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) => {
                if depth + open.len() > MAX_DEPTH {
                    return Err(QbxmlError::TooDeep(MAX_DEPTH));
                }
                open.push(open_start(tree, text, &e, false)?);
            }
            Event::Empty(e) => {
                let id = open_start(tree, text, &e, false)?;
                tree.close(id);
            }
            Event::Text(t) => {
                if let Some(&top) = open.last() {
                    tree.push_text(top, text_of(text, t));
                }
            }
            Event::CData(c) => {
                if let Some(&top) = open.last() {
                    tree.push_text(top, lend(text, &c));
                }
            }
            Event::End(_) => {
                if let Some(done) = open.pop() {
                    tree.close(done);
                }
                if open.is_empty() {
                    return Ok(());
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

/// The `…Rq` (or `…Rs`) elements of a qbXML text: a whole document or bare
/// elements. Anything at request level that is not an element ending in
/// `suffix` is skipped here (the submission checks refuse it).
///
/// # Errors
/// When the XML is not well-formed, has a DOCTYPE or nests too deep.
pub fn read_messages<'a>(text: &'a str, suffix: &str) -> Result<Tree<'a>, QbxmlError> {
    let mut out = Tree::for_text(text)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            Event::Start(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if name.ends_with(suffix.as_bytes()) && !name.starts_with(b"QBXMLMsgs") {
                    read_node(&mut out, text, &mut reader, &e, false, depth)?;
                } else {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(QbxmlError::TooDeep(MAX_DEPTH));
                    }
                }
            }
            Event::Empty(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if name.ends_with(suffix.as_bytes()) && !name.starts_with(b"QBXMLMsgs") {
                    read_node(&mut out, text, &mut reader, &e, true, depth)?;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Refuses a text whose elements or attributes could outnumber the tree's
/// 32-bit indexes (each takes at least four bytes, so under 4 GiB is safe).
pub(crate) fn fits_a_tree(text: &str) -> Result<(), QbxmlError> {
    if text.len() > u32::MAX as usize {
        return Err(QbxmlError::TooLarge(text.len()));
    }
    Ok(())
}

/// The most elements a tree (or a JSON request's text) reserves room for
/// before it is built: past it, it grows as it fills, so input that only
/// looks large (`<` in comments or CDATA, JSON values that become no
/// element) cannot reserve far more than it holds.
pub(crate) const MAX_RESERVED: usize = 1 << 16;

/// About how many elements `text` has: one per two tags, so the table is
/// sized once for a large request.
fn estimate(text: &str) -> usize {
    (memchr::memchr_iter(b'<', text.as_bytes()).count() / 2 + 1).min(MAX_RESERVED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_entities_are_read_as_quick_xml_reads_them() {
        let cases = [
            "A &amp; B",
            "&lt;x&gt;",
            "&quot;q&quot; &apos;a&apos;",
            "&amp;amp;",
            "x&amp;",
            "&amp;",
            "plain",
            "&#38; &#x26;",
            "&nbsp;",
            "&amp",
            "a & b",
            "&lt;&#60;",
        ];
        for raw in cases {
            let ours = crate::qbxml::lex::unescape_checked(raw).map(Cow::into_owned);
            let theirs = quick_xml::escape::unescape(raw).ok().map(Cow::into_owned);
            if ours.is_some() {
                assert_eq!(ours, theirs, "{raw:?}");
            } else {
                assert!(theirs.is_none(), "{raw:?} is left to quick-xml, which refuses it too");
            }
        }
        let doc = "<R><N>A &amp; B &#233;</N><M>&bogus;</M></R>";
        let tree = read_messages(doc, "R").expect("a bad entity in an answer is kept, not refused");
        let texts: Vec<&str> = tree.roots().next().unwrap().children().map(|c| c.text()).collect();
        assert_eq!(texts, ["A & B é", "&bogus;"]);
    }

    #[test]
    fn texts_and_attributes_escape_their_markup_characters() {
        let esc = |s: &str, attr| {
            let mut out = String::new();
            escape_into(s, attr, &mut out);
            out
        };
        assert_eq!(esc("Müller & Söhne <Nord> \"x\"", false), "Müller &amp; Söhne &lt;Nord&gt; \"x\"");
        assert_eq!(esc("Müller & Söhne <Nord> \"x\"", true), "Müller &amp; Söhne &lt;Nord&gt; &quot;x&quot;");
        assert_eq!(esc("&&", false), "&amp;&amp;");
        assert_eq!(esc("plain – ü", true), "plain – ü");
        assert_eq!(esc("", false), "");
    }

    #[test]
    fn a_document_reads_into_requests_and_writes_back() {
        let text = "<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\">\n\
                    <CustomerAddRq requestID=\"1\"><CustomerAdd><Name>A &amp; B</Name><Notes/></CustomerAdd></CustomerAddRq>\n\
                    </QBXMLMsgsRq></QBXML>";
        let rq = read_messages(text, "Rq").expect("parses");
        assert_eq!(rq.roots().len(), 1);
        let first = rq.roots().next().unwrap();
        assert_eq!(first.attr("requestID"), Some("1"));
        assert_eq!(first.children().next().unwrap().children().next().unwrap().text(), "A & B");
        let mut out = String::new();
        rq.write_xml(&mut out);
        assert_eq!(
            out,
            "<CustomerAddRq requestID=\"1\"><CustomerAdd><Name>A &amp; B</Name><Notes></Notes></CustomerAdd></CustomerAddRq>"
        );
    }
}
