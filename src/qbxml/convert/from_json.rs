//! JSON requests into qbXML element trees, children in schema order.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use super::index::{index, Content, SchemaIndex, Slot};
use super::tree::Tree;
use super::values::normalize;
use super::Issue;
use crate::qbxml::lex::{disallowed_char, refusal};
use crate::qbxml::schema::{BaseType, ElementId, ElementKind, Schema, ORDERED};

/// Builds the `…Rq` elements of `requests` (each an object with one key,
/// the request type). Problems the JSON itself has (an unknown key, an
/// object where a value belongs, a request that is not one key) are
/// returned as issues; schema checks of the values are the validator's.
/// A request without `@requestID` gets its 1-based position in the job.
///
/// Each element is also appended to `xml` as qbXML as it is built (children
/// in schema order, as [`Tree::write_xml`] would write the tree), so a
/// large request is not walked a second time to be written; the text is
/// the caller's to drop when the tree turns out invalid.
pub fn requests_from_json<'a>(schema: &Schema, requests: &'a [Value], xml: &mut String) -> (Tree<'a>, Vec<Issue>) {
    let elements: usize = requests.iter().map(values).sum();
    if elements > u32::MAX as usize / 2 {
        // The tree's indexes are 32-bit (elements and attributes both).
        let issue = Issue::new("requests", "bad_request_shape", format!("{elements} values are too many for one job"));
        return (Tree::new(), vec![issue]);
    }
    // Room for the values counted, capped as for a qbXML text.
    let room = elements.min(super::tree::MAX_RESERVED);
    // About the size of a tree's qbXML: the names twice and a short text.
    xml.reserve(room * 48);
    let mut b = Builder {
        schema,
        idx: index(schema),
        issues: Vec::new(),
        tree: Tree::with_capacity(room),
        pending_pool: Vec::new(),
        xml,
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in requests {
        if let Some((k, _)) = r.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) {
            *counts.entry(k.as_str()).or_insert(0) += 1;
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        let position = i + 1;
        let Some((name, body)) = r.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
            b.push(
                format!("requests[{position}]"),
                "bad_request_shape",
                "a request is an object with exactly one key, the request type: {\"CustomerAddRq\": {…}}".into(),
            );
            continue;
        };
        let item = (counts.get(name.as_str()).copied().unwrap_or(0) > 1).then(|| {
            let n = seen.entry(name.as_str()).or_insert(0);
            *n += 1;
            *n
        });
        let path = JsonAt { parent: None, key: name, item };
        let Some(rt) = schema.request(name) else {
            // The validator names the version that has it, if any.
            let id = b.tree.open(name, true);
            b.tree.close(id);
            b.write_empty(id, &path);
            continue;
        };
        let has_request_id = schema.attributes(rt.request).iter().any(|a| a.name == "requestID");
        let request_id = has_request_id.then_some(position);
        let built = !body.is_null() && b.element(name, body, &path, Place::Request { decl: rt.request, request_id });
        if !built {
            let id = b.tree.open(name, true);
            if let Some(p) = request_id {
                b.tree.push_attr(id, (Cow::Borrowed("requestID"), Cow::Owned(p.to_string())));
            }
            b.tree.close(id);
            b.write_empty(id, &path);
        }
    }
    (b.tree, b.issues)
}

/// Where an element built from JSON goes, and so what it is.
#[derive(Clone, Copy)]
enum Place {
    /// A top-level request of type `decl`, with the `@requestID` to give it
    /// when the JSON has none (`None` when its type has no such attribute).
    Request { decl: ElementId, request_id: Option<usize> },
    /// A child of another element, at this place in its parent's model.
    Child(&'static Slot),
}

impl Place {
    /// The element's declaration.
    fn decl(self) -> ElementId {
        match self {
            Place::Request { decl, .. } => decl,
            Place::Child(slot) => slot.element,
        }
    }
}

/// How many values `v` holds, itself included: about how many elements it
/// becomes, so the tree and its text are sized once (up to the cap in
/// [`requests_from_json`]).
fn values(v: &Value) -> usize {
    match v {
        Value::Object(o) => 1 + o.values().map(values).sum::<usize>(),
        Value::Array(a) => a.iter().map(values).sum(),
        _ => 1,
    }
}

/// A child element found in a JSON object, built once its siblings are
/// sorted into schema order.
struct Pending<'a> {
    /// Where it goes among its siblings: its schema order, or its group's
    /// for an item of `#ordered`.
    order: usize,
    key: &'a str,
    /// Its place in the parent's content model.
    slot: &'static Slot,
    value: &'a Value,
    /// Its position in an array of more than one, or in `#ordered`.
    item: Option<usize>,
    /// Listed in `#ordered` (its path goes through the list).
    listed: bool,
}

/// Where a JSON value sits: its parent's place, its key and, for an item of
/// an array of more than one, its 1-based position. Most values have no
/// problem, so the path string is built only when an issue is reported.
struct JsonAt<'a> {
    parent: Option<&'a JsonAt<'a>>,
    key: &'a str,
    item: Option<usize>,
}

impl JsonAt<'_> {
    fn child<'b>(&'b self, key: &'b str, item: Option<usize>) -> JsonAt<'b> {
        JsonAt { parent: Some(self), key, item }
    }

    fn path(&self) -> String {
        let mut out = self.parent.map_or_else(String::new, |p| p.path() + "/");
        out.push_str(self.key);
        if let Some(i) = self.item {
            out.push_str(&format!("[{i}]"));
        }
        out
    }
}

struct Builder<'s, 'a, 'x> {
    schema: &'s Schema,
    idx: &'static SchemaIndex,
    issues: Vec<Issue>,
    tree: Tree<'a>,
    /// Spare vectors for [`Builder::element`]'s children, one per level in
    /// use.
    pending_pool: Vec<Vec<Pending<'a>>>,
    /// The qbXML written so far.
    xml: &'x mut String,
}

impl<'a> Builder<'_, 'a, '_> {
    /// Writes element `id`, already closed and without children.
    fn write_empty(&mut self, id: u32, path: &JsonAt<'_>) {
        self.write_open(id, path);
        self.tree.write_close(id, self.xml);
    }

    /// Writes element `id`'s start tag and text, refusing a character its
    /// text or attributes may not hold: written as it is, it would make
    /// the whole message set unreadable to QuickBooks (and to qbwcd).
    #[inline]
    fn write_open(&mut self, id: u32, path: &JsonAt<'_>) {
        if self.tree.write_open(id, self.xml) {
            self.refuse_characters(id, path);
        }
    }

    /// The characters of element `id` that XML or QuickBooks refuse, each
    /// an issue.
    #[cold]
    fn refuse_characters(&mut self, id: u32, path: &JsonAt<'_>) {
        let node = self.tree.node(id);
        let mut found: Vec<(String, char)> = Vec::new();
        for (k, v) in node.attrs() {
            if let Some(c) = disallowed_char(v) {
                found.push((format!("{}/@{k}", path.path()), c));
            }
        }
        if let Some(c) = disallowed_char(node.text()) {
            found.push((path.path(), c));
        }
        for (at, c) in found {
            self.push(at, "bad_character", format!("{}; remove it", refusal(c)));
        }
    }

    fn push(&mut self, path: String, code: &str, message: String) {
        if self.issues.len() < super::validate::MAX_ISSUES {
            self.issues.push(Issue { path, code: code.to_owned(), message });
        }
    }

    /// Opens element `name` at `place` in the tree.
    fn open(&mut self, name: &'a str, place: Place) -> u32 {
        match place {
            Place::Request { .. } => self.tree.open(name, true),
            Place::Child(slot) => self.tree.open_in(name, slot),
        }
    }

    /// One element from its JSON value (never an array: the caller spreads
    /// those), added to the tree; false when it has no value to add.
    fn element(&mut self, name: &'a str, value: &'a Value, path: &JsonAt<'_>, place: Place) -> bool {
        let (schema, decl) = (self.schema, place.decl());
        let (base, fields) = match (&schema.element(decl).kind, value) {
            (ElementKind::Simple { ty, .. }, Value::Object(o)) => (Some(schema.simple_type(*ty).base), o),
            (ElementKind::Simple { ty, .. }, v) => {
                let Some(text) = self.scalar(schema.simple_type(*ty).base, v, path) else { return false };
                let id = self.open(name, place);
                self.tree.set_text(id, text);
                self.tree.close(id);
                self.write_empty(id, path);
                return true;
            }
            (ElementKind::Complex(_), Value::Object(o)) => (None, o),
            (ElementKind::Complex(_), other) => {
                self.push(
                    path.path(),
                    "wrong_json_type",
                    format!("{name} holds elements: give an object, not {}", kind_of(other)),
                );
                return false;
            }
        };
        let id = self.open(name, place);
        let content = self.idx.content(schema, decl);
        let mut children = self.pending_pool.pop().unwrap_or_default();
        // Keys naming members of interleaved groups, and whether `#ordered`
        // lists some too: an element says its order one way only.
        let mut grouped_keys: Vec<&str> = Vec::new();
        let mut ordered = false;
        let mut has_request_id = false;
        for (key, v) in fields {
            if v.is_null() {
                continue;
            }
            if key == ORDERED {
                ordered = true;
                self.ordered(name, content, v, path, &mut children);
                continue;
            }
            if let Some(attr) = key.strip_prefix('@') {
                // Only attributes the schema declares, validated or not: a
                // name is written into the qbXML as given, so an unknown one
                // could carry markup of its own.
                let Some(declared) = schema.attributes(decl).iter().find(|a| a.name == attr) else {
                    self.push(
                        path.child(key, None).path(),
                        "unknown_attribute",
                        format!("{name} has no attribute {attr:?}"),
                    );
                    continue;
                };
                let ty = schema.simple_type(declared.ty).base;
                if let Some(text) = self.scalar(ty, v, &path.child(key, None)) {
                    has_request_id |= attr == "requestID";
                    self.tree.push_attr(id, (Cow::Borrowed(attr), text));
                }
                continue;
            }
            if key == "#text" {
                match base {
                    Some(base) => {
                        let text = self.scalar(base, v, path).unwrap_or_default();
                        self.tree.set_text(id, text);
                    }
                    None => {
                        self.push(path.path(), "wrong_content", format!("{name} holds elements, not a value (#text)"))
                    }
                }
                continue;
            }
            let Some(slot) = content.and_then(|c| c.slot(key)) else {
                self.unknown_element(&path.child(key, None), name, key, content);
                continue;
            };
            if slot.group.is_some() {
                grouped_keys.push(key);
            }
            let order = slot.order;
            match v {
                Value::Array(items) => {
                    let many = items.len() > 1;
                    for (i, value) in items.iter().enumerate() {
                        let item = many.then_some(i + 1);
                        if value.is_array() {
                            self.push(
                                path.child(key, item).path(),
                                "wrong_json_type",
                                "an array inside an array: give each item once".into(),
                            );
                        } else if !value.is_null() {
                            children.push(Pending { order, key, slot, value, item, listed: false });
                        }
                    }
                }
                value => children.push(Pending { order, key, slot, value, item: None, listed: false }),
            }
        }
        if let (Place::Request { request_id: Some(position), .. }, false) = (place, has_request_id) {
            self.tree.insert_attr_first(id, (Cow::Borrowed("requestID"), Cow::Owned(position.to_string())));
        }
        if ordered {
            for key in grouped_keys {
                self.push(
                    path.child(key, None).path(),
                    "bad_ordered",
                    format!(
                        "{key} is given as a key and {name} also has {ORDERED}: list every {} of {name} in {ORDERED}, \
                         in the order wanted",
                        group_names(content, key)
                    ),
                );
            }
        }
        // Its attributes and text are all known: its children follow.
        self.write_open(id, path);
        // Schema order whatever the key order; items of one array, and the
        // members of a group listed in `#ordered`, keep theirs.
        children.sort_by_key(|c| c.order);
        for c in children.drain(..) {
            if c.listed {
                let list = path.child(ORDERED, c.item);
                self.element(c.key, c.value, &list.child(c.key, None), Place::Child(c.slot));
            } else {
                self.element(c.key, c.value, &path.child(c.key, c.item), Place::Child(c.slot));
            }
        }
        self.pending_pool.push(children);
        self.tree.close(id);
        self.tree.write_close(id, self.xml);
        true
    }

    /// The items of an element's `#ordered` list: members of its
    /// interleaved groups, each at its group's place, in the order given.
    fn ordered(
        &mut self,
        name: &str,
        content: Option<&'static Content>,
        value: &'a Value,
        path: &JsonAt<'_>,
        children: &mut Vec<Pending<'a>>,
    ) {
        let groups = content.map_or(&[][..], |c| &c.groups[..]);
        let Some(first) = groups.first() else {
            self.push(
                path.child(ORDERED, None).path(),
                "bad_ordered",
                format!("{name} has no elements that interleave; give its elements as keys"),
            );
            return;
        };
        let example = || {
            let (a, b) = (&first.names[0], &first.names[1]);
            format!("[{{\"{a}\": {{…}}}}, {{\"{b}\": {{…}}}}, {{\"{a}\": {{…}}}}]")
        };
        let Value::Array(items) = value else {
            self.push(
                path.child(ORDERED, None).path(),
                "bad_ordered",
                format!("{ORDERED} is a list of one-key objects, {}; not {}", example(), kind_of(value)),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let at = path.child(ORDERED, Some(i + 1));
            let Some((key, v)) = item.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
                if !item.is_null() {
                    self.push(
                        at.path(),
                        "bad_ordered",
                        format!("each item of {ORDERED} is an object with one key, the element: {}", example()),
                    );
                }
                continue;
            };
            let Some(slot) = content.and_then(|c| c.slot(key)) else {
                self.unknown_element(&at.child(key, None), name, key, content);
                continue;
            };
            let Some(group) = slot.group.and_then(|g| groups.get(g)) else {
                let listed: Vec<String> = groups.iter().flat_map(|g| g.names.iter().cloned()).collect();
                self.push(
                    at.child(key, None).path(),
                    "bad_ordered",
                    format!(
                        "{key} has one place in {name}: give it as a key; {ORDERED} lists {}",
                        super::allowed_names(&listed)
                    ),
                );
                continue;
            };
            match v {
                Value::Null => {}
                Value::Array(_) => self.push(
                    at.child(key, None).path(),
                    "wrong_json_type",
                    format!("one element per item of {ORDERED}: give each {key} as an item of its own"),
                ),
                value => {
                    children.push(Pending { order: group.order, key, slot, value, item: Some(i + 1), listed: true })
                }
            }
        }
    }

    fn unknown_element(&mut self, at: &JsonAt<'_>, name: &str, key: &str, content: Option<&Content>) {
        let allowed = content.map_or_else(
            || "it holds a value; give it as a string, number or boolean".to_owned(),
            |c| format!("it allows {}", super::allowed_names(&c.names)),
        );
        let hint = content.map(|c| super::did_you_mean(c.names.iter().map(String::as_str), key)).unwrap_or_default();
        self.push(at.path(), "unknown_element", format!("{name} has no element {key}{hint}; {allowed}"));
    }

    /// A leaf value as qbXML text, converted per its type.
    fn scalar<'v>(&mut self, base: BaseType, v: &'v Value, path: &JsonAt<'_>) -> Option<Cow<'v, str>> {
        let text = match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Bool(b) if matches!(base, BaseType::Boolean | BaseType::String | BaseType::Enum) => {
                Cow::Borrowed(if *b { "true" } else { "false" })
            }
            Value::Number(n) if base == BaseType::Integer => match n.as_i64() {
                Some(i) => whole(i),
                None => {
                    self.push(path.path(), "bad_integer", format!("must be a whole number; got {n}"));
                    return None;
                }
            },
            Value::Number(n) if !matches!(base, BaseType::Boolean | BaseType::Date | BaseType::DateTime) => {
                match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => whole(i),
                    (_, Some(u)) => whole(u),
                    // A fraction or an exponent: serde_json's own form.
                    _ => Cow::Owned(n.to_string()),
                }
            }
            other => {
                self.push(
                    path.path(),
                    "wrong_json_type",
                    format!("a {} value: give a {}, not {}", base.label(), json_kind_for(base), kind_of(other)),
                );
                return None;
            }
        };
        Some(normalize(base, text))
    }
}

/// A whole number as qbXML text.
fn whole(n: impl itoa::Integer) -> Cow<'static, str> {
    Cow::Owned(itoa::Buffer::new().format(n).to_owned())
}

/// The members of the group `key` belongs to, for a message.
fn group_names(content: Option<&Content>, key: &str) -> String {
    let group = content.and_then(|c| c.slot(key)?.group.and_then(|g| c.groups.get(g)));
    match group.map(|g| g.names.as_slice()) {
        Some([init @ .., last]) if !init.is_empty() => format!("{} and {last}", init.join(", ")),
        _ => key.to_owned(),
    }
}

fn json_kind_for(base: BaseType) -> &'static str {
    match base {
        BaseType::Boolean => "boolean (or \"true\"/\"false\")",
        BaseType::Integer => "whole number",
        BaseType::Amount | BaseType::Price | BaseType::Quantity | BaseType::Percent | BaseType::Float => {
            "decimal string (or number)"
        }
        _ => "string",
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
