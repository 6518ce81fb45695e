//! Validation of requests against a compiled schema: every problem found,
//! each with the path of the element it is about.

use super::index::{index, Content, Model, PartKind, SchemaIndex};
use super::tree::{Node, Tree};
use super::values;
use super::Issue;
use crate::qbxml::schema::{ElementId, ElementKind, Schema};
use crate::qbxml::Version;

/// The most issues reported for one submission: enough to fix a generated
/// request at once, bounded so a hostile one cannot make the answer huge.
pub const MAX_ISSUES: usize = 1000;

/// Checks `requests` (the `…Rq` elements of one job) against `schema`, the
/// schema for a company whose QuickBooks reported `reported`.
pub fn validate_requests(schema: &Schema, reported: Option<Version>, requests: &Tree<'_>) -> Vec<Issue> {
    let mut v = Validator::new(schema);
    for rq in requests.roots() {
        let at = At { parent: None, node: rq };
        match schema.request(rq.name()) {
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

/// The requests of `requests` whose type `schema` lacks, each an issue
/// (`unknown_request`, or `request_needs_version` naming the version that
/// has it): what a JSON job is refused for even with `"validate": false`,
/// checked for every request whatever else is wrong with the others.
pub fn unknown_request_types(schema: &Schema, reported: Option<Version>, requests: &Tree<'_>) -> Vec<Issue> {
    let mut v = Validator::new(schema);
    for rq in requests.roots().filter(|rq| schema.request(rq.name()).is_none()) {
        v.unknown_request(rq, &At { parent: None, node: rq }, reported);
    }
    v.issues
}

/// Characters QuickBooks cannot store, with their paths: warnings, not
/// errors (QuickBooks takes the request and stores a substitute).
pub fn storage_warnings(requests: &Tree<'_>) -> Vec<Issue> {
    fn walk(at: &At<'_>, out: &mut Vec<Issue>) {
        let node = at.node;
        for (k, v) in node.attrs() {
            if let Some(c) = values::unstorable(v) {
                out.push(warning(&format!("{}/@{k}", at.path()), c));
            }
        }
        if let Some(c) = values::unstorable(node.text()) {
            out.push(warning(&at.path(), c));
        }
        for child in node.children() {
            if out.len() >= MAX_ISSUES {
                return;
            }
            walk(&At { parent: Some(at), node: child }, out);
        }
    }
    let mut out = Vec::new();
    for rq in requests.roots() {
        walk(&At { parent: None, node: rq }, &mut out);
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

/// Where a node sits: its parent's place and the node. Most nodes have no
/// problem, so the path string is built only when an issue is reported
/// (building one per node was most of the cost of validating a large
/// request).
struct At<'n> {
    parent: Option<&'n At<'n>>,
    node: Node<'n>,
}

impl At<'_> {
    /// Element names from the request element, `/`-separated; `[n]` is the
    /// 1-based position among same-named siblings when there is more than one.
    fn path(&self) -> String {
        let mut out = self.parent.map_or_else(String::new, |p| p.path() + "/");
        let name = self.node.name();
        out.push_str(name);
        let siblings: Vec<Node<'_>> = match self.parent {
            Some(p) => p.node.children().collect(),
            None => self.node.roots().collect(),
        };
        let same: Vec<&Node<'_>> = siblings.iter().filter(|n| n.name() == name).collect();
        if same.len() > 1 {
            let nth = same.iter().position(|n| **n == self.node).map_or(0, |i| i + 1);
            out.push_str(&format!("[{nth}]"));
        }
        out
    }
}

struct Validator<'s, 't> {
    schema: &'s Schema,
    idx: &'static SchemaIndex,
    issues: Vec<Issue>,
    /// Spare vectors for [`Validator::children`] and
    /// [`Validator::structure`], one per level in use.
    known_pool: Vec<Vec<Known<'t>>>,
    order_pool: Vec<Vec<usize>>,
    valid: ValidSequences,
}

impl<'s, 't> Validator<'s, 't> {
    fn new(schema: &'s Schema) -> Self {
        Validator {
            schema,
            idx: index(schema),
            issues: Vec::new(),
            known_pool: Vec::new(),
            order_pool: Vec::new(),
            valid: ValidSequences::default(),
        }
    }

    fn push(&mut self, path: String, code: &str, message: String) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(Issue { path, code: code.to_owned(), message });
        }
    }

    fn unknown_request(&mut self, rq: Node<'_>, at: &At<'_>, reported: Option<Version>) {
        let version = self.schema.version();
        if let Some(newer) = Schema::all().iter().find(|s| s.version() > version && s.request(rq.name()).is_some()) {
            let since = newer.request(rq.name()).map_or(newer.version(), |r| r.since);
            let had = reported.map_or_else(|| version.to_string(), |r| r.to_string());
            self.push(
                at.path(),
                "request_needs_version",
                format!(
                    "{} needs qbXML {since}; this company's QuickBooks reported qbXML {had} (validated against {version})",
                    rq.name()
                ),
            );
            return;
        }
        let hint = super::did_you_mean(self.schema.requests().iter().map(|r| r.name.as_str()), rq.name());
        let what = if rq.name().ends_with("Rq") { "request type" } else { "request (request names end in Rq)" };
        self.push(at.path(), "unknown_request", format!("{} is not a qbXML {version} {what}{hint}", rq.name()));
    }

    fn element(&mut self, decl: ElementId, node: Node<'t>, at: &At<'_>) {
        let schema = self.schema;
        let attrs = schema.attributes(decl);
        for (k, v) in node.attrs() {
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
                        format!("<{}> has no attribute {k}; {allowed}", node.name()),
                    );
                }
                Some(a) => {
                    if let Err((code, msg)) = values::check(schema.simple_type(a.ty), v) {
                        self.push(format!("{}/@{k}", at.path()), code, msg);
                    }
                }
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
                if let Some(first) = node.children().next() {
                    self.push(
                        at.path(),
                        "wrong_content",
                        format!("{} holds a value, not elements (found <{}>)", node.name(), first.name()),
                    );
                } else if let Err((code, msg)) = values::check(schema.simple_type(*ty), node.text()) {
                    self.push(at.path(), code, msg);
                }
            }
            ElementKind::Complex(_) => {
                if !node.text().trim().is_empty() {
                    self.push(at.path(), "wrong_content", format!("{} holds elements, not a value", node.name()));
                }
                self.children(decl, node, at);
            }
        }
    }

    fn children(&mut self, decl: ElementId, node: Node<'t>, at: &At<'_>) {
        let Some(content) = self.idx.content(self.schema, decl) else { return };
        // Each known child's schema order, node and declaration; the
        // vectors are reused from parent to parent.
        let mut known = self.known_pool.pop().unwrap_or_default();
        for child in node.children() {
            // A tree built from JSON carries each child's slot: it is used
            // when it is this model's own, as a lookup of the name would give.
            let hint = child.slot().filter(|s| content.owns(s));
            debug_assert!(hint.is_none_or(|s| content.names[s.order] == child.name()), "a slot is its name's");
            match hint.or_else(|| content.slot(child.name())) {
                Some(slot) => known.push(Known { order: slot.order, node: child, element: slot.element }),
                None => {
                    let hint = super::did_you_mean(content.names.iter().map(String::as_str), child.name());
                    let allowed = if content.names.is_empty() {
                        "it has no child elements".to_owned()
                    } else {
                        format!("it allows {}", super::allowed_names(&content.names))
                    };
                    self.push(
                        At { parent: Some(at), node: child }.path(),
                        "unknown_element",
                        format!("<{}> has no element {}{hint}; {allowed}", node.name(), child.name()),
                    );
                }
            }
        }
        if let Some(model) = &content.model {
            self.structure(model, node, at, &known, content);
        } else if let Some(first) = known.first() {
            self.push(
                at.path(),
                "wrong_content",
                format!("{} has no child elements (found <{}>)", node.name(), first.node.name()),
            );
        }
        for k in &known {
            if self.issues.len() >= MAX_ISSUES {
                break;
            }
            self.element(k.element, k.node, &At { parent: Some(at), node: k.node });
        }
        known.clear();
        self.known_pool.push(known);
    }

    /// Order, cardinality and choices of the known children.
    fn structure(&mut self, model: &Model, node: Node<'_>, at: &At<'_>, known: &[Known<'_>], content: &Content) {
        let names = &content.names;
        let mut kids = self.order_pool.pop().unwrap_or_default();
        kids.extend(known.iter().map(|k| k.order));
        // The lines of a large request mostly have the same children: a
        // sequence this model already found valid is valid again.
        let model_id = std::ptr::from_ref(model) as usize;
        if self.valid.contains(model_id, &kids) {
            kids.clear();
            self.order_pool.push(kids);
            return;
        }
        let issues_before = self.issues.len();
        // Two alternatives of one choice (outside any repetition).
        if kids.len() > 1 && !content.choices.is_empty() {
            let mut dropped: Vec<usize> = Vec::new();
            for (a, b) in conflicts(content, &kids) {
                self.push(
                    format!("{}/{}", at.path(), names[b]),
                    "choice_conflict",
                    format!(
                        "{} and {} are alternatives in <{}>: give only one of them",
                        names[a],
                        names[b],
                        node.name()
                    ),
                );
                dropped.push(b);
            }
            kids.retain(|o| !dropped.contains(o));
        }
        let mut m = Matcher::new(model, &kids);
        m.part(Model::ROOT);
        let mut missing = std::mem::take(&mut m.missing);
        if m.at < kids.len() {
            // The same names in schema order: if they fit, the order was the
            // only problem, and the message says which order it must be.
            let mut sorted = kids.clone();
            sorted.sort_unstable();
            let mut s = Matcher::new(model, &sorted);
            s.part(Model::ROOT);
            if kids != sorted {
                let list = |orders: &[usize]| {
                    let mut n: Vec<&str> = orders.iter().map(|o| names[*o].as_str()).collect();
                    n.dedup();
                    n.join(", ")
                };
                self.push(
                    at.path(),
                    "wrong_order",
                    format!(
                        "the elements of <{}> are out of order: expected {}; got {}",
                        node.name(),
                        list(&sorted),
                        list(&kids)
                    ),
                );
            }
            if s.at < s.kids.len() {
                let extra = s.kids[s.at];
                let count = s.kids.iter().filter(|k| **k == extra).count();
                let name = &names[extra];
                let (code, msg) = if count > 1 && s.kids[..s.at].contains(&extra) {
                    ("too_many", format!("{name} may not occur {count} times in <{}>", node.name()))
                } else {
                    (
                        "unexpected_element",
                        format!(
                            "{name} is not allowed here in <{}> (schema order: {})",
                            node.name(),
                            super::allowed_names(names)
                        ),
                    )
                };
                self.push(format!("{}/{name}", at.path()), code, msg);
            }
            missing = s.missing;
        }
        for miss in missing {
            match miss {
                Missing::Element(o) => self.push(
                    format!("{}/{}", at.path(), names[o]),
                    "missing_element",
                    format!("<{}> requires {}", node.name(), names[o]),
                ),
                Missing::OneOf(part) => {
                    let one_of: Vec<&str> = model.first_names(part).map(|o| names[o].as_str()).collect();
                    self.push(
                        at.path(),
                        "missing_element",
                        format!("<{}> requires one of {}", node.name(), one_of.join(", ")),
                    )
                }
            }
        }
        if self.issues.len() == issues_before {
            self.valid.insert(model_id, &kids);
        }
        kids.clear();
        self.order_pool.push(kids);
    }
}

/// Child sequences (as schema orders) found valid, per content model (by
/// address): the lines of a large request mostly have the same children,
/// and a sequence a model accepted is valid again.
#[derive(Default)]
struct ValidSequences {
    by_model: foldhash::HashMap<usize, foldhash::HashSet<Vec<usize>>>,
    /// How many are remembered, at most [`MAX_REMEMBERED`].
    remembered: usize,
    /// The last few found valid (model, sequence), compared before the
    /// memo is hashed: a large request's lines alternate between a few
    /// models (a line, its item reference), so these mostly answer.
    recent: [(usize, Vec<usize>); 4],
    recent_next: usize,
}

impl ValidSequences {
    /// Whether model `model_id` already accepted `kids`.
    fn contains(&mut self, model_id: usize, kids: &[usize]) -> bool {
        if self.recent.iter().any(|(m, seq)| *m == model_id && seq == kids) {
            return true;
        }
        let known = self.by_model.get(&model_id).is_some_and(|seen| seen.contains(kids));
        if known {
            self.remember_recent(model_id, kids);
        }
        known
    }

    /// Remembers that model `model_id` accepted `kids`, while there is room.
    fn insert(&mut self, model_id: usize, kids: &[usize]) {
        if self.remembered < MAX_REMEMBERED {
            self.remembered += 1;
            self.by_model.entry(model_id).or_default().insert(kids.to_vec());
            self.remember_recent(model_id, kids);
        }
    }

    /// Puts a valid sequence among the recent ones, in place of the oldest
    /// (its vector is reused).
    fn remember_recent(&mut self, model_id: usize, kids: &[usize]) {
        let (m, seq) = &mut self.recent[self.recent_next];
        *m = model_id;
        seq.clear();
        seq.extend_from_slice(kids);
        self.recent_next = (self.recent_next + 1) % self.recent.len();
    }
}

/// The most valid child sequences remembered in one validation, so a
/// hostile request of ever-different sequences cannot grow the memo.
const MAX_REMEMBERED: usize = 4096;

/// A child the content model names: its schema order, the child and its
/// declaration.
struct Known<'t> {
    order: usize,
    node: Node<'t>,
    element: ElementId,
}

/// Pairs of names present in `kids` that sit in different alternatives of
/// one choice that may be made only once (and is inside no repetition).
fn conflicts(content: &Content, kids: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for choice in &content.choices {
        let mut first: Option<usize> = None;
        for exclusive in choice {
            if let Some(present) = kids.iter().copied().find(|n| exclusive.contains(n)) {
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
    /// The element with this schema order.
    Element(usize),
    /// One of the names that start this part.
    OneOf(usize),
}

/// A greedy match of child names (schema-order numbers) against a compiled
/// content model. qbXML's models are deterministic (each name decides the
/// branch), so no backtracking.
struct Matcher<'m> {
    model: &'m Model,
    kids: &'m [usize],
    at: usize,
    missing: Vec<Missing>,
}

impl<'m> Matcher<'m> {
    fn new(model: &'m Model, kids: &'m [usize]) -> Self {
        Matcher { model, kids, at: 0, missing: Vec::new() }
    }

    fn starts(&self, part: usize) -> bool {
        self.kids.get(self.at).is_some_and(|n| self.model.can_start(part, *n))
    }

    fn part(&mut self, i: usize) {
        let occurs = self.model.part(i).occurs;
        let mut reps = 0u32;
        loop {
            if occurs.max.is_some_and(|m| reps >= m) {
                break;
            }
            if reps >= occurs.min && !self.starts(i) {
                break;
            }
            let before = self.at;
            self.once(i);
            reps += 1;
            if self.at == before {
                break;
            }
        }
    }

    /// One occurrence of part `i`.
    fn once(&mut self, i: usize) {
        let model = self.model;
        match &model.part(i).kind {
            PartKind::Element(order) => {
                if self.kids.get(self.at) == Some(order) {
                    self.at += 1;
                } else {
                    self.missing.push(Missing::Element(*order));
                }
            }
            PartKind::Sequence(items) => {
                for &item in items {
                    self.item(item);
                }
            }
            PartKind::Choice(items) => match items.iter().copied().find(|&a| self.starts(a)) {
                Some(alt) => self.item(alt),
                None if items.iter().any(|&a| model.part(a).nullable) => {}
                None => self.missing.push(Missing::OneOf(i)),
            },
        }
    }

    /// A part inside a sequence or choice: left out when optional and the
    /// next name does not start it.
    fn item(&mut self, i: usize) {
        if !self.starts(i) && self.model.part(i).nullable {
            return;
        }
        self.part(i);
    }
}
