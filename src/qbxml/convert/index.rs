//! Lookups the schema model does not carry, built once per compiled schema:
//! for each content model, its element names in schema order (what JSON
//! keys are sorted by and what an unknown name is told against), whether
//! each may repeat and the interleaved group it belongs to, and the model
//! compiled for matching (names as their schema-order numbers, each
//! particle with the names that can start it); and the response types by
//! name.
//!
//! Validation looks up every child's name here and matches every parent's
//! children against its model, so both are built to cost no string
//! comparisons and no allocation per element.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::qbxml::schema::{ElementId, ElementKind, Occurs, Particle, Schema};

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
    /// Their slots, in the same order.
    slots: Vec<Slot>,
    /// Each name's place in [`names`](Self::names) and `slots`.
    by_name: foldhash::HashMap<String, usize>,
    /// Each choice made at most once (and inside no repetition): for each
    /// alternative, the names (as schema order numbers) found in it and in
    /// no other alternative.
    pub choices: Vec<Vec<Vec<usize>>>,
    /// The groups whose elements a JSON request lists in `"#ordered"`.
    pub groups: Vec<Group>,
    /// The content model compiled for matching; `None` for an element with
    /// attributes only.
    pub model: Option<Model>,
}

/// A content model as a tree of [`Part`]s in one table (the root first),
/// its element names replaced by their schema-order numbers.
#[derive(Debug)]
pub struct Model {
    parts: Vec<Part>,
    /// Words of one part's start set.
    words: usize,
}

/// One particle of a [`Model`].
#[derive(Debug)]
pub struct Part {
    /// What it is.
    pub kind: PartKind,
    /// How often it may occur.
    pub occurs: Occurs,
    /// Whether it may match nothing.
    pub nullable: bool,
    /// The names that can start it: bit `order` set.
    first: Vec<u64>,
}

/// The kinds of [`Part`]; children are indexes into the model's table.
#[derive(Debug)]
pub enum PartKind {
    /// The element with this schema-order number.
    Element(usize),
    /// These parts in order.
    Sequence(Vec<usize>),
    /// One of these parts per occurrence.
    Choice(Vec<usize>),
}

impl Model {
    /// The root part.
    pub const ROOT: usize = 0;

    /// Part `i`.
    pub fn part(&self, i: usize) -> &Part {
        &self.parts[i]
    }

    /// Whether the name numbered `order` can start part `i`.
    pub fn can_start(&self, i: usize, order: usize) -> bool {
        self.parts[i].first.get(order / 64).is_some_and(|w| w & (1 << (order % 64)) != 0)
    }

    /// The names that can start part `i`, in schema order.
    pub fn first_names(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.words * 64).filter(move |o| self.can_start(i, *o))
    }

    fn compile(p: &Particle, schema: &Schema, by_name: &foldhash::HashMap<String, usize>, words: usize) -> Model {
        let mut m = Model { parts: Vec::new(), words };
        m.add(p, schema, by_name);
        m
    }

    /// The names that can start any of `items`.
    fn starts_of(&self, items: &[usize]) -> Vec<u64> {
        let mut first = vec![0; self.words];
        for &i in items {
            first.iter_mut().zip(&self.parts[i].first).for_each(|(a, b)| *a |= b);
        }
        first
    }

    /// Adds `p` and its parts; returns its index (parents before children,
    /// so the first call's part is the root).
    fn add(&mut self, p: &Particle, schema: &Schema, by_name: &foldhash::HashMap<String, usize>) -> usize {
        // The parent's place is taken before its children's, so the first
        // call's part is the root; it is filled in once they are added.
        let at = self.parts.len();
        self.parts.push(Part {
            kind: PartKind::Element(0),
            occurs: p.occurs(),
            nullable: false,
            first: vec![0; self.words],
        });
        let (kind, nullable, first) = match p {
            Particle::Element { element, .. } => {
                let order = by_name.get(&schema.element(*element).name).copied().unwrap_or(0);
                let mut first = vec![0; self.words];
                first[order / 64] |= 1 << (order % 64);
                (PartKind::Element(order), false, first)
            }
            Particle::Sequence { items, .. } => {
                let items: Vec<usize> = items.iter().map(|i| self.add(i, schema, by_name)).collect();
                // A sequence starts with its first item, or a later one
                // when every item before it may be left out.
                let upto = items.iter().position(|&i| !self.parts[i].nullable).map_or(items.len(), |p| p + 1);
                let first = self.starts_of(&items[..upto]);
                let nullable = items.iter().all(|&i| self.parts[i].nullable);
                (PartKind::Sequence(items), nullable, first)
            }
            Particle::Choice { items, .. } => {
                let items: Vec<usize> = items.iter().map(|i| self.add(i, schema, by_name)).collect();
                let first = self.starts_of(&items);
                let nullable = items.iter().any(|&i| self.parts[i].nullable);
                (PartKind::Choice(items), nullable, first)
            }
        };
        let part = &mut self.parts[at];
        part.nullable = nullable || part.occurs.min == 0;
        part.kind = kind;
        part.first = first;
        at
    }
}

impl Content {
    /// The slot of child `name`, if the model has one.
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.by_name.get(name).map(|&i| &self.slots[i])
    }

    /// Whether `slot` is one of this model's own (a slot found earlier,
    /// perhaps for another parent, is trusted only then).
    pub fn owns(&self, slot: &Slot) -> bool {
        self.slots.get(slot.order).is_some_and(|s| std::ptr::eq(s, slot))
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
                let mut named = Vec::new();
                choices(schema, p, &mut named);
                let order = |n: &String| c.by_name.get(n).copied().unwrap_or(0);
                c.choices =
                    named.iter().map(|alts| alts.iter().map(|alt| alt.iter().map(order).collect()).collect()).collect();
                for (g, members) in schema.interleaved_groups(p).into_iter().enumerate() {
                    let mut names = Vec::new();
                    for (name, _) in members {
                        if let Some(&i) = c.by_name.get(name) {
                            c.slots[i].group = Some(g);
                        }
                        names.push(name.to_owned());
                    }
                    let order = names.iter().filter_map(|n| c.by_name.get(n)).copied().min().unwrap_or(0);
                    c.groups.push(Group { names, order });
                }
                c.model = Some(Model::compile(p, schema, &c.by_name, c.names.len().div_ceil(64).max(1)));
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
                let order = out.names.len();
                out.slots.push(Slot { element: *element, order, repeatable: repeated, group: None });
                out.by_name.insert(name.clone(), order);
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
                .map(|alt| schema.elements_in(alt).into_iter().map(|(n, _)| n.to_owned()).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_owned_only_by_the_model_it_came_from() {
        let schema = Schema::for_version(None);
        let idx = index(schema);
        let rq = schema.request("CustomerAddRq").expect("a request type");
        let outer = idx.content(schema, rq.request).expect("a model");
        let add = outer.slot("CustomerAdd").expect("a child");
        let inner = idx.content(schema, add.element).expect("a model");
        let name = inner.slot("Name").expect("a child");
        assert!(outer.owns(add) && inner.owns(name));
        // Same positions in other models are other slots.
        assert!(!inner.owns(add) && !outer.owns(name));
        let other = idx.content(schema, schema.request("VendorAddRq").expect("a request type").request).unwrap();
        assert!(!other.owns(add), "CustomerAdd's slot is not VendorAddRq's first");
    }
}
