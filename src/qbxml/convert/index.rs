//! Lookups the schema model does not carry, built once per compiled schema:
//! for each content model, its element names in schema order (what JSON
//! keys are sorted by and what an unknown name is told against), whether
//! each may repeat and the interleaved group it belongs to; and the
//! response types by name.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::qbxml::schema::{ElementId, ElementKind, Particle, Schema};

/// One element name a content model allows.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Its first declaration in the model.
    pub element: ElementId,
    /// Its position in schema order (first appearance).
    pub order: usize,
    /// Whether it may occur more than once in its parent: its own
    /// `maxOccurs`, or that of a sequence or choice around it.
    pub repeatable: bool,
    /// The interleaved group it belongs to (an index into
    /// [`Content::groups`]), if any.
    pub group: Option<usize>,
}

/// Elements whose relative order matters and may interleave (see
/// [`Schema::interleaved_groups`]).
#[derive(Debug)]
pub struct Group {
    /// Their names in schema order.
    pub names: Vec<String>,
    /// Where the group sits among its parent's children: the schema order
    /// of its first name.
    pub order: usize,
}

/// The names of one content model.
#[derive(Debug, Default)]
pub struct Content {
    /// Names in schema order.
    pub names: Vec<String>,
    by_name: HashMap<String, Slot>,
    /// Each choice made at most once (and inside no repetition): for each
    /// alternative, the names found in it and in no other alternative.
    pub choices: Vec<Vec<Vec<String>>>,
    /// The groups whose elements a JSON request lists in `"#ordered"`.
    pub groups: Vec<Group>,
}

impl Content {
    /// The slot of child `name`, if the model has one.
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.by_name.get(name)
    }
}

/// Everything built for one schema.
pub struct SchemaIndex {
    content: Vec<Content>,
    responses: HashMap<String, ElementId>,
}

static INDEXES: LazyLock<Vec<SchemaIndex>> = LazyLock::new(|| Schema::all().iter().map(build).collect());

/// The index of `schema` (one of [`Schema::all`]).
pub fn index(schema: &Schema) -> &'static SchemaIndex {
    let pos = Schema::all().iter().position(|s| s.version() == schema.version()).unwrap_or(0);
    &INDEXES[pos]
}

impl SchemaIndex {
    /// The names allowed inside `element`; `None` for a leaf.
    pub fn content(&self, schema: &Schema, element: ElementId) -> Option<&Content> {
        match &schema.element(element).kind {
            ElementKind::Complex(c) => self.content.get(c.0 as usize),
            ElementKind::Simple { .. } => None,
        }
    }

    /// The declaration of response type `name` (`CustomerAddRs`).
    pub fn response(&self, name: &str) -> Option<ElementId> {
        self.responses.get(name).copied()
    }
}

fn build(schema: &Schema) -> SchemaIndex {
    let content = schema
        .data()
        .complex_types
        .iter()
        .map(|ct| {
            let mut c = Content::default();
            if let Some(p) = &ct.content {
                walk(schema, p, false, &mut c);
                choices(schema, p, &mut c.choices);
                for (g, members) in schema.interleaved_groups(p).into_iter().enumerate() {
                    let mut names = Vec::new();
                    for (name, _) in members {
                        if let Some(slot) = c.by_name.get_mut(name) {
                            slot.group = Some(g);
                        }
                        names.push(name.to_owned());
                    }
                    let order = names.iter().filter_map(|n| c.by_name.get(n)).map(|s| s.order).min().unwrap_or(0);
                    c.groups.push(Group { names, order });
                }
            }
            c
        })
        .collect();
    let responses =
        schema.requests().iter().filter_map(|r| r.response.map(|id| (schema.element(id).name.clone(), id))).collect();
    SchemaIndex { content, responses }
}

fn walk(schema: &Schema, p: &Particle, repeated: bool, out: &mut Content) {
    let repeated = repeated || p.occurs().repeatable();
    match p {
        Particle::Element { element, .. } => {
            let name = &schema.element(*element).name;
            // A name in two alternatives of a choice keeps its first place.
            if !out.by_name.contains_key(name) {
                let slot = Slot { element: *element, order: out.names.len(), repeatable: repeated, group: None };
                out.by_name.insert(name.clone(), slot);
                out.names.push(name.clone());
            }
        }
        Particle::Sequence { items, .. } | Particle::Choice { items, .. } => {
            items.iter().for_each(|i| walk(schema, i, repeated, out));
        }
    }
}

fn choices(schema: &Schema, p: &Particle, out: &mut Vec<Vec<Vec<String>>>) {
    if p.occurs().repeatable() {
        return;
    }
    match p {
        Particle::Element { .. } => {}
        Particle::Sequence { items, .. } => items.iter().for_each(|i| choices(schema, i, out)),
        Particle::Choice { items, .. } => {
            let names: Vec<Vec<String>> = items
                .iter()
                .map(|alt| {
                    let mut n = Vec::new();
                    element_names(schema, alt, &mut n);
                    n
                })
                .collect();
            let exclusive = names
                .iter()
                .enumerate()
                .map(|(i, mine)| {
                    mine.iter()
                        .filter(|n| names.iter().enumerate().all(|(j, other)| i == j || !other.contains(n)))
                        .cloned()
                        .collect()
                })
                .collect();
            out.push(exclusive);
            items.iter().for_each(|i| choices(schema, i, out));
        }
    }
}

fn element_names(schema: &Schema, p: &Particle, out: &mut Vec<String>) {
    match p {
        Particle::Element { element, .. } => out.push(schema.element(*element).name.clone()),
        Particle::Sequence { items, .. } | Particle::Choice { items, .. } => {
            items.iter().for_each(|i| element_names(schema, i, out))
        }
    }
}
