//! qbXML into JSON: requests (for `qbxml to-json`) and answers (a job's
//! `result`). An answer is never held as a tree: each `…Rs` element is
//! read record by record and written straight to the output, so a large
//! answer costs its text, the JSON and one record (see BENCHMARKS.md).

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::index::{index, Content, SchemaIndex};
use super::tree::{attributes, local_name, read_messages, read_node, Attr, Node, Tree};
use crate::qbxml::schema::{BaseType, ElementId, ElementKind, Schema, ORDERED};
use crate::qbxml::{xml_error, QbxmlError};

/// The `…Rq` elements of a qbXML text as the JSON a job takes as `requests`.
/// Members of an interleaved group whose order keys cannot keep (an
/// invoice's lines and line groups, mixed) are listed in `"#ordered"`, so
/// the JSON gives back the same qbXML.
///
/// # Errors
/// When the text is not well-formed XML.
pub fn requests_to_json(schema: &Schema, text: &str) -> Result<String, QbxmlError> {
    let w = Writer { schema, idx: index(schema), ordered: true };
    let mut out = String::from("[");
    let tree = read_messages(text, "Rq")?;
    for (i, rq) in tree.roots().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        string(rq.name(), &mut out);
        out.push(':');
        w.node(schema.request(rq.name()).map(|r| r.request), rq, &mut out);
        out.push('}');
    }
    out.push(']');
    Ok(out)
}

/// One `…Rs` element of an answer: where its content is.
struct Response<'a> {
    name: &'a str,
    attrs: Vec<Attr<'a>>,
    /// The text between its tags (empty for `<XRs …/>`).
    body: &'a str,
}

/// An answer (or an iterator's pages, in order) as the JSON of a job's
/// `result`: an array with one object per `…Rs`, `{"CustomerAddRs": {…}}`.
/// Pages are merged: the n-th response of every page is one entry, its
/// records in page order, its attributes the last page's with `retCount`
/// summed.
///
/// # Errors
/// When an answer is not well-formed XML.
pub fn answer_to_json(schema: &Schema, pages: &[&str]) -> Result<String, QbxmlError> {
    let w = Writer { schema, idx: index(schema), ordered: false };
    let mut entries: Vec<Vec<Response<'_>>> = Vec::new();
    for page in pages {
        super::tree::fits_a_tree(page)?;
        for (i, rs) in responses(page)?.into_iter().enumerate() {
            match entries.get_mut(i) {
                Some(e) => e.push(rs),
                None => entries.push(vec![rs]),
            }
        }
    }
    let mut out = String::with_capacity(pages.iter().map(|p| p.len()).sum::<usize>() / 2 + 2);
    out.push('[');
    for (i, parts) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        w.response(parts, &mut out)?;
    }
    out.push(']');
    Ok(out)
}

/// The `…Rs` elements of one answer, without reading their content.
fn responses(text: &str) -> Result<Vec<Response<'_>>, QbxmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) => {
                let name = local_name(text, &e)?;
                if name.ends_with("Rs") && !name.starts_with("QBXMLMsgs") {
                    let attrs = attributes(text, &e)?;
                    let span = reader.read_to_end(e.name()).map_err(xml_error)?;
                    let body = text.get(span.start as usize..span.end as usize).unwrap_or_default();
                    out.push(Response { name, attrs, body });
                }
            }
            Event::Empty(e) => {
                let name = local_name(text, &e)?;
                if name.ends_with("Rs") && !name.starts_with("QBXMLMsgs") {
                    out.push(Response { name, attrs: attributes(text, &e)?, body: "" });
                }
            }
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The names of the elements directly inside `body`, in order of first
/// appearance.
fn child_names(body: &str) -> Result<Vec<(&str, usize)>, QbxmlError> {
    let mut reader = Reader::from_str(body);
    let mut names: Vec<(&str, usize)> = Vec::new();
    loop {
        let name = match reader.read_event().map_err(xml_error)? {
            Event::Start(e) => {
                reader.read_to_end(e.name()).map_err(xml_error)?;
                local_name(body, &e)?
            }
            Event::Empty(e) => local_name(body, &e)?,
            Event::Eof => break,
            _ => continue,
        };
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => names.push((name, 1)),
        }
    }
    Ok(names)
}

struct Writer<'s> {
    schema: &'s Schema,
    idx: &'static SchemaIndex,
    /// Whether interleaved groups are written in `#ordered` when keys would
    /// lose their order: for requests, which go back to qbXML. A result
    /// keeps one array per record type, as documented for clients.
    ordered: bool,
}

impl Writer<'_> {
    fn response(&self, parts: &[Response<'_>], out: &mut String) -> Result<(), QbxmlError> {
        let Some(last) = parts.last() else { return Ok(()) };
        let decl = self.idx.response(last.name);
        out.push('{');
        string(last.name, out);
        out.push_str(":{");
        let mut first = true;
        for (k, v) in &last.attrs {
            let v = if k == "retCount" && parts.len() > 1 {
                let total: i64 = parts
                    .iter()
                    .filter_map(|p| p.attrs.iter().find(|(a, _)| a == k)?.1.trim().parse::<i64>().ok())
                    .sum();
                Cow::Owned(total.to_string())
            } else {
                v.clone()
            };
            sep(&mut first, out);
            string(&format!("@{k}"), out);
            out.push(':');
            self.attr_value(decl, k, &v, out);
        }
        // Records of one name together, in order of first appearance: a
        // response mixing record types (ItemQueryRs) is read once per type.
        let mut names: Vec<(&str, usize)> = Vec::new();
        for p in parts {
            for (n, c) in child_names(p.body)? {
                match names.iter_mut().find(|(m, _)| *m == n) {
                    Some((_, count)) => *count += c,
                    None => names.push((n, c)),
                }
            }
        }
        let content = decl.and_then(|d| self.idx.content(self.schema, d));
        for (name, count) in &names {
            let slot = content.and_then(|c| c.slot(name));
            let array = slot.map_or(*count > 1, |s| s.repeatable || *count > 1);
            sep(&mut first, out);
            string(name, out);
            out.push(':');
            if array {
                out.push('[');
            }
            let mut first_item = true;
            for p in parts {
                let mut reader = Reader::from_str(p.body);
                // One record at a time, in a table reused from record to record.
                let mut record = Tree::new();
                loop {
                    let (e, empty) = match reader.read_event().map_err(xml_error)? {
                        Event::Start(e) => (e, false),
                        Event::Empty(e) => (e, true),
                        Event::Eof => break,
                        _ => continue,
                    };
                    if e.local_name().as_ref() != name.as_bytes() {
                        if !empty {
                            reader.read_to_end(e.name()).map_err(xml_error)?;
                        }
                        continue;
                    }
                    record.clear();
                    read_node(&mut record, p.body, &mut reader, &e, empty, 3)?;
                    if array {
                        sep(&mut first_item, out);
                    }
                    if let Some(node) = record.roots().next() {
                        self.node(slot.map(|s| s.element), node, out);
                    }
                    if !array {
                        break;
                    }
                }
            }
            if array {
                out.push(']');
            }
        }
        out.push_str("}}");
        Ok(())
    }

    fn attr_value(&self, decl: Option<ElementId>, name: &str, value: &str, out: &mut String) {
        let base = decl
            .and_then(|d| self.schema.attributes(d).iter().find(|a| a.name == name))
            .map(|a| self.schema.simple_type(a.ty).base)
            .or_else(|| {
                // A response type the schema lacks still has numeric statuses.
                matches!(name, "statusCode" | "retCount" | "iteratorRemainingCount").then_some(BaseType::Integer)
            });
        scalar(base, value, out);
    }

    /// An element as JSON, typed by its declaration when known.
    fn node(&self, decl: Option<ElementId>, node: Node<'_>, out: &mut String) {
        let kind = decl.map(|d| &self.schema.element(d).kind);
        let simple = match kind {
            Some(ElementKind::Simple { ty, .. }) => Some(self.schema.simple_type(*ty).base),
            _ => None,
        };
        let leaf = !node.has_children() && !matches!(kind, Some(ElementKind::Complex(_)));
        if leaf && node.attrs().is_empty() {
            scalar(simple, node.text(), out);
            return;
        }
        out.push('{');
        let mut first = true;
        for (k, v) in node.attrs() {
            sep(&mut first, out);
            string(&format!("@{k}"), out);
            out.push(':');
            self.attr_value(decl, k, v, out);
        }
        if leaf || !node.text().trim().is_empty() {
            sep(&mut first, out);
            out.push_str("\"#text\":");
            scalar(simple, node.text(), out);
        }
        let content = decl.and_then(|d| self.idx.content(self.schema, d));
        let ordered = if self.ordered { content.filter(|c| interleaved(c, node)) } else { None };
        let mut groups: Vec<(&str, Vec<Node<'_>>)> = Vec::new();
        for c in node.children() {
            match groups.iter_mut().find(|(n, _)| *n == c.name()) {
                Some((_, v)) => v.push(c),
                None => groups.push((c.name(), vec![c])),
            }
        }
        let mut ordered_written = false;
        for (name, items) in groups {
            let slot = content.and_then(|c| c.slot(name));
            if let Some(content) = ordered.filter(|_| slot.is_some_and(|s| s.group.is_some())) {
                if !ordered_written {
                    ordered_written = true;
                    sep(&mut first, out);
                    self.ordered_list(content, node, out);
                }
                continue;
            }
            let array = slot.map_or(items.len() > 1, |s| s.repeatable || items.len() > 1);
            sep(&mut first, out);
            string(name, out);
            out.push(':');
            let child_decl = slot.map(|s| s.element);
            if array {
                out.push('[');
                for (i, item) in items.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.node(child_decl, item, out);
                }
                out.push(']');
            } else {
                self.node(child_decl, items[0], out);
            }
        }
        out.push('}');
    }
}

impl Writer<'_> {
    /// `"#ordered":[{"InvoiceLineAdd":{…}},{"InvoiceLineGroupAdd":{…}},…]`:
    /// every member of an interleaved group, in document order.
    fn ordered_list(&self, content: &Content, parent: Node<'_>, out: &mut String) {
        string(ORDERED, out);
        out.push_str(":[");
        let mut first = true;
        for c in parent.children() {
            let Some(slot) = content.slot(c.name()).filter(|s| s.group.is_some()) else { continue };
            sep(&mut first, out);
            out.push('{');
            string(c.name(), out);
            out.push(':');
            self.node(Some(slot.element), c, out);
            out.push('}');
        }
        out.push(']');
    }
}

/// Whether keys would reorder the members of an interleaved group: one
/// comes after a member that schema order puts later.
fn interleaved(content: &Content, parent: Node<'_>) -> bool {
    let mut last = 0;
    for slot in parent.children().filter_map(|c| content.slot(c.name())).filter(|s| s.group.is_some()) {
        if slot.order < last {
            return true;
        }
        last = slot.order;
    }
    false
}

fn sep(first: &mut bool, out: &mut String) {
    if !*first {
        out.push(',');
    }
    *first = false;
}

/// A leaf value: booleans and integers as JSON literals when they parse,
/// everything else (amounts included, to stay exact) as the text sent.
fn scalar(base: Option<BaseType>, text: &str, out: &mut String) {
    let t = text.trim();
    match base {
        Some(BaseType::Boolean) if t == "true" || t == "false" => out.push_str(t),
        Some(BaseType::Integer) if t.parse::<i64>().is_ok() => {
            out.push_str(&t.parse::<i64>().map(|i| i.to_string()).unwrap_or_default())
        }
        _ => string(text, out),
    }
}

/// A JSON string literal.
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
