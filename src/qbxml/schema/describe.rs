//! The field tree of an element, row by row, in the manner of Intuit's
//! On-Screen Reference: schema order, required or optional, repeatable,
//! choices ("one of" … "or" …), maximum lengths, enumeration values and
//! types. `qbwcd qbxml describe` prints it as a table.

use super::{BaseType, ElementId, Occurs, Particle, Schema, SimpleType, ORDERED};

/// One line of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Nesting level (0: the element described).
    pub depth: usize,
    /// An element name, `@attribute`, `one of`, `or`, or `all of`.
    pub field: String,
    /// `required`, `optional`, with `, repeatable` or a count range.
    pub usage: String,
    /// The leaf type with its limits (`string, at most 41`), or empty for
    /// aggregates and choice markers.
    pub ty: String,
}

/// The rows for element `id` and everything under it.
pub fn describe(schema: &Schema, id: ElementId) -> Vec<Row> {
    let mut rows = Vec::new();
    element(schema, id, Occurs::ONCE, false, 0, &mut rows);
    // The element described has no context to be required in.
    rows[0].usage.clear();
    if schema.element(id).name.ends_with("Rs") {
        // Results keep one array per element name; only requests take
        // `#ordered`.
        for r in rows.iter_mut().filter(|r| r.ty.contains(ORDERED)) {
            r.ty = "in any order; a JSON result has one array per element".to_owned();
        }
    }
    rows
}

/// `required`, `optional`, `repeatable` and explicit bounds.
pub fn usage(o: Occurs) -> String {
    let base = if o.optional() { "optional" } else { "required" };
    match o.max {
        None => format!("{base}, repeatable"),
        Some(1) => base.to_owned(),
        Some(0) => "not allowed".to_owned(),
        Some(m) => format!("{base}, at most {m}"),
    }
}

/// A leaf type for people: `string, at most 41`, `enum: A | B`,
/// `integer 1..12`, `amount`, `id, at most 36`.
pub fn type_label(t: &SimpleType) -> String {
    let mut s = t.base.label().to_owned();
    if !t.enumeration.is_empty() {
        s = format!("enum: {}", t.enumeration.join(" | "));
    }
    if let Some(l) = t.max_length {
        s.push_str(&format!(", at most {l}"));
    }
    match (t.min_inclusive, t.max_inclusive) {
        (Some(a), Some(b)) => s.push_str(&format!(" {a}..{b}")),
        (Some(a), None) => s.push_str(&format!(" ≥ {a}")),
        (None, Some(b)) => s.push_str(&format!(" ≤ {b}")),
        (None, None) => {}
    }
    if t.base == BaseType::Amount || t.base == BaseType::Price {
        // The decimals are part of what QuickBooks accepts.
        s.push_str(if t.base == BaseType::Amount { " (2 decimals)" } else { " (5 decimals)" });
    }
    s
}

fn element(schema: &Schema, id: ElementId, occurs: Occurs, deprecated: bool, depth: usize, rows: &mut Vec<Row>) {
    let el = schema.element(id);
    let mut ty = schema.leaf_type(id).map(type_label).unwrap_or_default();
    if let Some(d) = &el.default {
        ty.push_str(&format!(" (default {d})"));
    }
    let mut use_ = usage(occurs);
    if deprecated {
        use_.push_str(", deprecated");
    }
    rows.push(Row { depth, field: el.name.clone(), usage: use_, ty: ty.trim().to_owned() });
    for a in schema.attributes(id) {
        let mut ty = type_label(schema.simple_type(a.ty));
        if let Some(d) = &a.default {
            ty.push_str(&format!(" (default {d})"));
        }
        rows.push(Row {
            depth: depth + 1,
            field: format!("@{}", a.name),
            usage: if a.required { "required" } else { "optional" }.to_owned(),
            ty,
        });
    }
    if let Some(p) = schema.content(id) {
        match p {
            // The usual top-level sequence is the element's own children.
            Particle::Sequence { items, occurs } if *occurs == Occurs::ONCE => {
                for i in items {
                    particle(schema, i, depth + 1, false, rows);
                }
            }
            p => particle(schema, p, depth + 1, false, rows),
        }
    }
}

/// `repeated`: inside a repeatable sequence or choice of the same parent.
fn particle(schema: &Schema, p: &Particle, depth: usize, repeated: bool, rows: &mut Vec<Row>) {
    // An interleaved group (see `Schema::interleaved_groups`) says how JSON
    // keeps its members' order.
    let group = |occurs: Occurs| {
        if !repeated && occurs.repeatable() && schema.interleaved_groups(p).len() == 1 {
            format!("in any order; in JSON, list them in {ORDERED} to keep it")
        } else {
            String::new()
        }
    };
    let repeated = repeated || p.occurs().repeatable();
    match p {
        Particle::Element { element: id, occurs, deprecated } => {
            element(schema, *id, *occurs, *deprecated, depth, rows)
        }
        Particle::Sequence { items, occurs } => {
            rows.push(Row { depth, field: "all of".to_owned(), usage: usage(*occurs), ty: group(*occurs) });
            for i in items {
                particle(schema, i, depth + 1, repeated, rows);
            }
        }
        Particle::Choice { items, occurs } => {
            rows.push(Row { depth, field: "one of".to_owned(), usage: usage(*occurs), ty: group(*occurs) });
            for (n, i) in items.iter().enumerate() {
                if n > 0 {
                    rows.push(Row { depth, field: "or".to_owned(), usage: String::new(), ty: String::new() });
                }
                match i {
                    // A sequence alternative's parts sit directly under the
                    // choice, between its "or" markers.
                    Particle::Sequence { items, occurs } if *occurs == Occurs::ONCE => {
                        for j in items {
                            particle(schema, j, depth + 1, repeated, rows);
                        }
                    }
                    other => particle(schema, other, depth + 1, repeated, rows),
                }
            }
        }
    }
}
