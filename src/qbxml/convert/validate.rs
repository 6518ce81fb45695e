//! Validation of requests against a compiled schema: every problem found,
//! each with the path of the element it is about.

use super::index::{index, Content, SchemaIndex};
use super::tree::Node;
use super::values;
use super::Issue;
use crate::qbxml::schema::{ElementId, ElementKind, Particle, Schema};
use crate::qbxml::Version;

/// The most issues reported for one submission: enough to fix a generated
/// request at once, bounded so a hostile one cannot make the answer huge.
pub const MAX_ISSUES: usize = 1000;

/// Checks `requests` (the `…Rq` elements of one job) against `schema`, the
/// schema for a company whose QuickBooks reported `reported`. With
/// `check_values` false only the structure is checked (used for JSON built
/// with `"validate": false`, whose values were not checked on purpose).
pub fn validate_requests(
    schema: &Schema,
    reported: Option<Version>,
    requests: &[Node],
    check_values: bool,
) -> Vec<Issue> {
    let mut v = Validator { schema, idx: index(schema), issues: Vec::new(), check_values };
    for (i, rq) in requests.iter().enumerate() {
        let at = At { parent: None, siblings: requests, index: i };
        match schema.request(&rq.name) {
            Some(rt) => v.element(rt.request, rq, &at),
            None => v.unknown_request(rq, &at, reported),
        }
        if v.issues.len() >= MAX_ISSUES {
            break;
        }
    }
    v.issues.truncate(MAX_ISSUES);
    v.issues
}

/// Characters QuickBooks cannot store, with their paths: warnings, not
/// errors (QuickBooks takes the request and stores a substitute).
pub fn storage_warnings(requests: &[Node]) -> Vec<Issue> {
    fn walk(at: &At<'_>, out: &mut Vec<Issue>) {
        let node = at.node();
        for (k, v) in &node.attrs {
            if let Some(c) = values::unstorable(v) {
                out.push(warning(&format!("{}/@{k}", at.path()), c));
            }
        }
        if let Some(c) = values::unstorable(&node.text) {
            out.push(warning(&at.path(), c));
        }
        for i in 0..node.children.len() {
            if out.len() >= MAX_ISSUES {
                return;
            }
            walk(&At { parent: Some(at), siblings: &node.children, index: i }, out);
        }
    }
    let mut out = Vec::new();
    for i in 0..requests.len() {
        walk(&At { parent: None, siblings: requests, index: i }, &mut out);
    }
    out
}

fn warning(path: &str, c: char) -> Issue {
    Issue::new(
        path,
        "unstorable_character",
        format!(
            "U+{:04X} {c:?} is not in QuickBooks' character set (Windows-1252); QuickBooks stores a substitute",
            c as u32
        ),
    )
}

/// Where a node sits: its parent's place, its siblings and its index among
/// them. Most nodes have no problem, so the path string is built only when
/// an issue is reported (building one per node was most of the cost of
/// validating a large request).
struct At<'n> {
    parent: Option<&'n At<'n>>,
    siblings: &'n [Node],
    index: usize,
}

impl At<'_> {
    fn node(&self) -> &Node {
        &self.siblings[self.index]
    }

    /// Element names from the request element, `/`-separated; `[n]` is the
    /// 1-based position among same-named siblings when there is more than one.
    fn path(&self) -> String {
        let mut out = self.parent.map_or_else(String::new, |p| p.path() + "/");
        let name = self.node().name.as_str();
        out.push_str(name);
        let same = |n: &&Node| n.name == name;
        if self.siblings.iter().filter(same).count() > 1 {
            let nth = self.siblings[..=self.index].iter().filter(same).count();
            out.push_str(&format!("[{nth}]"));
        }
        out
    }
}

struct Validator<'s> {
    schema: &'s Schema,
    idx: &'static SchemaIndex,
    issues: Vec<Issue>,
    check_values: bool,
}

impl Validator<'_> {
    fn push(&mut self, path: String, code: &str, message: String) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(Issue { path, code: code.to_owned(), message });
        }
    }

    fn unknown_request(&mut self, rq: &Node, at: &At<'_>, reported: Option<Version>) {
        let version = self.schema.version();
        if let Some(newer) = Schema::all().iter().find(|s| s.version() > version && s.request(&rq.name).is_some()) {
            let since = newer.request(&rq.name).map_or(newer.version(), |r| r.since);
            let had = reported.map_or_else(|| version.to_string(), |r| r.to_string());
            self.push(
                at.path(),
                "request_needs_version",
                format!(
                    "{} needs qbXML {since}; this company's QuickBooks reported qbXML {had} (validated against {version})",
                    rq.name
                ),
            );
            return;
        }
        let hint = self
            .schema
            .requests()
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(&rq.name))
            .map(|r| format!(" (did you mean {}?)", r.name))
            .unwrap_or_default();
        let what = if rq.name.ends_with("Rq") { "request type" } else { "request (request names end in Rq)" };
        self.push(at.path(), "unknown_request", format!("{} is not a qbXML {version} {what}{hint}", rq.name));
    }

    fn element(&mut self, decl: ElementId, node: &Node, at: &At<'_>) {
        let schema = self.schema;
        let attrs = schema.attributes(decl);
        for (k, v) in &node.attrs {
            match attrs.iter().find(|a| &a.name == k) {
                None => {
                    let known: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
                    let allowed = if known.is_empty() {
                        "it has none".to_owned()
                    } else {
                        format!("it has {}", known.join(", "))
                    };
                    self.push(
                        format!("{}/@{k}", at.path()),
                        "unknown_attribute",
                        format!("<{}> has no attribute {k}; {allowed}", node.name),
                    );
                }
                Some(a) if self.check_values => {
                    if let Err((code, msg)) = values::check(schema.simple_type(a.ty), v) {
                        self.push(format!("{}/@{k}", at.path()), code, msg);
                    }
                }
                Some(_) => {}
            }
        }
        for a in attrs.iter().filter(|a| a.required) {
            if node.attr(&a.name).is_none() {
                self.push(
                    format!("{}/@{}", at.path(), a.name),
                    "missing_attribute",
                    format!("attribute {} is required", a.name),
                );
            }
        }
        match &schema.element(decl).kind {
            ElementKind::Simple { ty, .. } => {
                if !node.children.is_empty() {
                    let first = &node.children[0].name;
                    self.push(
                        at.path(),
                        "wrong_content",
                        format!("{} holds a value, not elements (found <{first}>)", node.name),
                    );
                } else if self.check_values {
                    if let Err((code, msg)) = values::check(schema.simple_type(*ty), &node.text) {
                        self.push(at.path(), code, msg);
                    }
                }
            }
            ElementKind::Complex(_) => {
                if !node.text.trim().is_empty() {
                    self.push(at.path(), "wrong_content", format!("{} holds elements, not a value", node.name));
                }
                self.children(decl, node, at);
            }
        }
    }

    fn children(&mut self, decl: ElementId, node: &Node, at: &At<'_>) {
        let Some(content) = self.idx.content(self.schema, decl) else { return };
        let mut known: Vec<(usize, &Node)> = Vec::new();
        // Each known child's index among the children and its declaration.
        let mut decls = Vec::new();
        for (i, child) in node.children.iter().enumerate() {
            match content.slot(&child.name) {
                Some(slot) => {
                    known.push((slot.order, child));
                    decls.push((i, slot.element));
                }
                None => {
                    let hint = content
                        .names
                        .iter()
                        .find(|n| n.eq_ignore_ascii_case(&child.name))
                        .map(|n| format!(" (did you mean {n}?)"))
                        .unwrap_or_default();
                    let allowed = if content.names.is_empty() {
                        "it has no child elements".to_owned()
                    } else {
                        format!("it allows {}", super::allowed_names(&content.names))
                    };
                    self.push(
                        At { parent: Some(at), siblings: &node.children, index: i }.path(),
                        "unknown_element",
                        format!("<{}> has no element {}{hint}; {allowed}", node.name, child.name),
                    );
                }
            }
        }
        if let Some(model) = self.schema.content(decl) {
            self.structure(model, node, at, &known, content);
        } else if let Some((_, first)) = known.first() {
            self.push(
                at.path(),
                "wrong_content",
                format!("{} has no child elements (found <{}>)", node.name, first.name),
            );
        }
        for ((i, element), (_, child)) in decls.into_iter().zip(known.iter()) {
            if self.issues.len() >= MAX_ISSUES {
                return;
            }
            self.element(element, child, &At { parent: Some(at), siblings: &node.children, index: i });
        }
    }

    /// Order, cardinality and choices of the known children.
    fn structure(&mut self, model: &Particle, node: &Node, at: &At<'_>, known: &[(usize, &Node)], content: &Content) {
        let order = &content.names;
        let schema = self.schema;
        let mut names: Vec<(usize, &str)> = known.iter().map(|(o, n)| (*o, n.name.as_str())).collect();
        // Two alternatives of one choice (outside any repetition).
        let mut dropped: Vec<&str> = Vec::new();
        for (a, b) in conflicts(content, &names) {
            self.push(
                format!("{}/{b}", at.path()),
                "choice_conflict",
                format!("{a} and {b} are alternatives in <{}>: give only one of them", node.name),
            );
            dropped.push(b);
        }
        names.retain(|(_, n)| !dropped.contains(n));
        let mut m = Matcher::new(schema, names.iter().map(|(_, n)| *n).collect());
        m.particle(model);
        if m.at < m.kids.len() {
            // The same names in schema order: if they fit, the order was the
            // only problem, and the message says which order it must be.
            let mut sorted = names.clone();
            sorted.sort_by_key(|(o, _)| *o);
            let mut s = Matcher::new(schema, sorted.iter().map(|(_, n)| *n).collect());
            s.particle(model);
            let wrong_order = names != sorted;
            if wrong_order {
                let mut expected: Vec<&str> = sorted.iter().map(|(_, n)| *n).collect();
                expected.dedup();
                let mut got: Vec<&str> = names.iter().map(|(_, n)| *n).collect();
                got.dedup();
                self.push(
                    at.path(),
                    "wrong_order",
                    format!(
                        "the elements of <{}> are out of order: expected {}; got {}",
                        node.name,
                        expected.join(", "),
                        got.join(", ")
                    ),
                );
            }
            if s.at < s.kids.len() {
                let extra = s.kids[s.at];
                let count = s.kids.iter().filter(|k| **k == extra).count();
                let (code, msg) = if count > 1 && s.kids[..s.at].contains(&extra) {
                    ("too_many", format!("{extra} may not occur {count} times in <{}>", node.name))
                } else {
                    (
                        "unexpected_element",
                        format!(
                            "{extra} is not allowed here in <{}> (schema order: {})",
                            node.name,
                            super::allowed_names(order)
                        ),
                    )
                };
                self.push(format!("{}/{extra}", at.path()), code, msg);
            }
            m = s;
        }
        for missing in m.missing {
            match missing {
                Missing::Element(name) => self.push(
                    format!("{}/{name}", at.path()),
                    "missing_element",
                    format!("<{}> requires {name}", node.name),
                ),
                Missing::OneOf(names) => self.push(
                    at.path(),
                    "missing_element",
                    format!("<{}> requires one of {}", node.name, names.join(", ")),
                ),
            }
        }
    }
}

/// Pairs of names present in `names` that sit in different alternatives of
/// one choice that may be made only once (and is inside no repetition).
fn conflicts<'a>(content: &Content, names: &[(usize, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    if names.len() < 2 {
        return out;
    }
    for choice in &content.choices {
        let mut first: Option<&'a str> = None;
        for exclusive in choice {
            if let Some(present) = names.iter().map(|(_, n)| *n).find(|n| exclusive.iter().any(|e| e == n)) {
                match first {
                    None => first = Some(present),
                    Some(f) => out.push((f, present)),
                }
            }
        }
    }
    out
}

enum Missing {
    Element(String),
    OneOf(Vec<String>),
}

/// A greedy match of child names against a content model. qbXML's models
/// are deterministic (each name decides the branch), so no backtracking.
struct Matcher<'s, 'k> {
    schema: &'s Schema,
    kids: Vec<&'k str>,
    at: usize,
    missing: Vec<Missing>,
}

impl<'s, 'k> Matcher<'s, 'k> {
    fn new(schema: &'s Schema, kids: Vec<&'k str>) -> Self {
        Matcher { schema, kids, at: 0, missing: Vec::new() }
    }

    fn next(&self) -> Option<&'k str> {
        self.kids.get(self.at).copied()
    }

    fn particle(&mut self, p: &Particle) {
        let occurs = p.occurs();
        let mut reps = 0u32;
        loop {
            if occurs.max.is_some_and(|m| reps >= m) {
                break;
            }
            let starts = self.next().is_some_and(|n| can_start(self.schema, p, n));
            if reps >= occurs.min && !starts {
                break;
            }
            let before = self.at;
            self.once(p);
            reps += 1;
            if self.at == before {
                break;
            }
        }
    }

    /// One occurrence of `p`.
    fn once(&mut self, p: &Particle) {
        match p {
            Particle::Element { element, .. } => {
                let name = self.schema.element(*element).name.as_str();
                if self.next() == Some(name) {
                    self.at += 1;
                } else {
                    self.missing.push(Missing::Element(name.to_owned()));
                }
            }
            Particle::Sequence { items, .. } => {
                for item in items {
                    self.item(item);
                }
            }
            Particle::Choice { items, .. } => {
                let next = self.next();
                match next.and_then(|n| items.iter().find(|a| can_start(self.schema, a, n))) {
                    Some(alt) => self.item(alt),
                    None if items.iter().any(nullable) => {}
                    None => {
                        let mut names = Vec::new();
                        items.iter().for_each(|a| first_names(self.schema, a, &mut names));
                        names.dedup();
                        self.missing.push(Missing::OneOf(names.into_iter().map(str::to_owned).collect()));
                    }
                }
            }
        }
    }

    /// A particle inside a sequence or choice: left out when optional and
    /// the next name does not start it.
    fn item(&mut self, p: &Particle) {
        let starts = self.next().is_some_and(|n| can_start(self.schema, p, n));
        if !starts && nullable(p) {
            return;
        }
        self.particle(p);
    }
}

/// Whether `name` can be the first element of `p`.
fn can_start(schema: &Schema, p: &Particle, name: &str) -> bool {
    match p {
        Particle::Element { element, .. } => schema.element(*element).name == name,
        Particle::Choice { items, .. } => items.iter().any(|i| can_start(schema, i, name)),
        Particle::Sequence { items, .. } => {
            for i in items {
                if can_start(schema, i, name) {
                    return true;
                }
                if !nullable(i) {
                    return false;
                }
            }
            false
        }
    }
}

/// Whether `p` may match nothing.
fn nullable(p: &Particle) -> bool {
    if p.occurs().min == 0 {
        return true;
    }
    match p {
        Particle::Element { .. } => false,
        Particle::Sequence { items, .. } => items.iter().all(nullable),
        Particle::Choice { items, .. } => items.iter().any(nullable),
    }
}

/// The names that can start `p` (for "requires one of …").
fn first_names<'s>(schema: &'s Schema, p: &Particle, out: &mut Vec<&'s str>) {
    match p {
        Particle::Element { element, .. } => out.push(schema.element(*element).name.as_str()),
        Particle::Choice { items, .. } => items.iter().for_each(|i| first_names(schema, i, out)),
        Particle::Sequence { items, .. } => {
            for i in items {
                first_names(schema, i, out);
                if !nullable(i) {
                    break;
                }
            }
        }
    }
}
