//! JSON Schema (2020-12) of a request type's JSON form and of its response's,
//! following the mapping qbwcd uses for JSON requests and results
//! (docs/architecture.md, "qbXML validation and JSON"): element names as qbXML spells
//! them, attributes as `"@name"`, a leaf with attributes as an object with
//! `"#text"`, repeatable elements as arrays (a request may give one item
//! bare), scalars typed per the leaf type.
//!
//! The schemas describe shape and values; element order does not exist in
//! JSON objects (qbwcd writes children in schema order), except where it
//! means something: the members of an interleaved group (an invoice's
//! lines and line groups) may instead be listed in `"#ordered"`, an array
//! of one-key objects written in the order given. A choice becomes a `oneOf`
//! over which alternative's keys are present. The request schema is never
//! looser than qbwcd: every instance it accepts, qbwcd accepts. qbwcd also
//! takes spellings the schema leaves out so that generated clients get
//! plain types: numbers for strings, `"true"` for `true`, `""` to clear a
//! field in a Mod request, `null` for absent, a one-item array for a single
//! element. `@iterator` is only ever `Start` and `@iteratorID` is absent:
//! qbwcd continues and stops iterators itself.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::{Attribute, BaseType, ElementId, ElementKind, Occurs, Particle, RequestType, Schema, SimpleType, ORDERED};

/// The JSON Schema dialect.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Which side of the exchange a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// What a client sends: one item may stand for an array of one; unknown
    /// keys are refused.
    Request,
    /// What qbwcd returns in `result`: repeatable elements always arrays;
    /// elements a newer QuickBooks adds are kept, so other keys may appear.
    Response,
}

/// The schema of one entry of a job's `requests` (`{"CustomerAddRq": {…}}`).
pub fn request_schema(schema: &Schema, rt: &RequestType) -> Value {
    document(schema, rt.request, Side::Request, format!("{} (qbXML {})", rt.name, schema.version()))
}

/// The schema of one entry of a job's `result` (`{"CustomerAddRs": {…}}`),
/// when the schema has a response for the type.
pub fn response_schema(schema: &Schema, rt: &RequestType) -> Option<Value> {
    let rs = rt.response?;
    Some(document(schema, rs, Side::Response, format!("{} (qbXML {})", schema.element(rs).name, schema.version())))
}

fn document(schema: &Schema, root: ElementId, side: Side, title: String) -> Value {
    let mut b = Builder::new(schema, side);
    let name = schema.element(root).name.clone();
    let body = b.element_value(root);
    let mut doc = Map::new();
    doc.insert("$schema".into(), json!(DIALECT));
    doc.insert("title".into(), json!(title));
    doc.insert("type".into(), json!("object"));
    doc.insert("properties".into(), json!({ name.clone(): body }));
    doc.insert("required".into(), json!([name]));
    doc.insert("additionalProperties".into(), json!(false));
    if !b.defs.is_empty() {
        doc.insert("$defs".into(), Value::Object(b.defs));
    }
    Value::Object(doc)
}

/// Every aggregate of `schema` as seen from `side`, under the `$defs` names
/// the per-type documents use: each document's `$defs` is a subset of
/// these, entry for entry. (A client can generate all types at once; the
/// tests check these once instead of in every document.)
pub fn all_definitions(schema: &Schema, side: Side) -> Value {
    let mut b = Builder::new(schema, side);
    for (i, e) in schema.data().elements.iter().enumerate() {
        if matches!(e.kind, ElementKind::Complex(_)) {
            b.element_value(ElementId(i as u32));
        }
    }
    json!({
        "$schema": DIALECT,
        "title": format!("qbXML {} {} types", schema.version(), if side == Side::Request { "request" } else { "response" }),
        "$defs": Value::Object(b.defs),
    })
}

/// The `$defs` name of each aggregate: its element name, and for a name
/// declared with different content more than once, `Name_2`, `Name_3`, … in
/// declaration order. The same in every document of one version, so
/// generated client types keep their names from one request type to the
/// next.
fn definition_names(schema: &Schema) -> HashMap<ElementId, String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut names = HashMap::new();
    for (i, e) in schema.data().elements.iter().enumerate() {
        if matches!(e.kind, ElementKind::Complex(_)) {
            let n = seen.entry(e.name.as_str()).or_insert(0);
            *n += 1;
            let name = if *n == 1 { e.name.clone() } else { format!("{}_{n}", e.name) };
            names.insert(ElementId(i as u32), name);
        }
    }
    names
}

struct Builder<'s> {
    schema: &'s Schema,
    side: Side,
    defs: Map<String, Value>,
    /// The `$defs` name of every aggregate of the schema.
    names: HashMap<ElementId, String>,
    /// Element names that occur more than once in the content model being
    /// built (the enclosing aggregate's set is put back when a nested one
    /// is done).
    repeated_names: HashSet<String>,
}

/// The element names that occur more than once in a content model.
fn repeated_names(schema: &Schema, p: &Particle) -> HashSet<String> {
    fn walk<'s>(schema: &'s Schema, p: &Particle, seen: &mut HashSet<&'s str>, out: &mut HashSet<String>) {
        match p {
            Particle::Element { element, .. } => {
                let name = schema.element(*element).name.as_str();
                if !seen.insert(name) {
                    out.insert(name.to_owned());
                }
            }
            Particle::Sequence { items, .. } | Particle::Choice { items, .. } => {
                items.iter().for_each(|i| walk(schema, i, seen, out))
            }
        }
    }
    let mut out = HashSet::new();
    walk(schema, p, &mut HashSet::new(), &mut out);
    out
}

impl<'s> Builder<'s> {
    fn new(schema: &'s Schema, side: Side) -> Self {
        Builder { schema, side, defs: Map::new(), names: definition_names(schema), repeated_names: HashSet::new() }
    }

    /// The schema of one occurrence of an element: a scalar, an object
    /// with `#text`, or a `$ref` to its aggregate.
    fn element_value(&mut self, id: ElementId) -> Value {
        let schema = self.schema;
        let attributes = schema.attributes(id);
        if let Some(t) = schema.leaf_type(id) {
            let scalar = self.scalar(t);
            if attributes.is_empty() {
                return scalar;
            }
            let mut props = Map::new();
            props.insert("#text".into(), scalar.clone());
            let required = self.attributes(attributes, &mut props);
            let mut obj = object(props, vec!["#text".into()].into_iter().chain(required).collect(), self.side);
            if self.side == Side::Request {
                // The bare value stands for the element without attributes.
                obj = json!({ "oneOf": [scalar, obj] });
            }
            return obj;
        }
        let name = self.names[&id].clone();
        if !self.defs.contains_key(&name) {
            // Reserved before descending, so each aggregate is built once.
            self.defs.insert(name.clone(), Value::Null);
            let body = self.aggregate(id);
            self.defs.insert(name.clone(), body);
        }
        json!({ "$ref": format!("#/$defs/{name}") })
    }

    fn attributes(&mut self, attributes: &[Attribute], props: &mut Map<String, Value>) -> Vec<String> {
        let mut required = Vec::new();
        for a in attributes {
            let request = self.side == Side::Request;
            // Iterators are continued and stopped by qbwcd, which sets the
            // iterator's id: a client only starts one.
            if request && a.name == "iteratorID" {
                continue;
            }
            let mut v = self.scalar(self.schema.simple_type(a.ty));
            if request && a.name == "iterator" {
                v["enum"] = json!(["Start"]);
            }
            if request && a.name == "requestID" {
                // qbwcd keeps a given requestID as text, number or not.
                v = json!({ "type": ["string", "integer"] });
            }
            if let Some(d) = &a.default {
                v["default"] = json!(d);
            }
            props.insert(format!("@{}", a.name), v);
            if a.required {
                required.push(format!("@{}", a.name));
            }
        }
        required
    }

    fn aggregate(&mut self, id: ElementId) -> Value {
        let schema = self.schema;
        let mut props = Map::new();
        let mut required = self.attributes(schema.attributes(id), &mut props);
        let mut constraints = Vec::new();
        let mut ordered_keys = Vec::new();
        if let Some(p) = schema.content(id) {
            let outer = std::mem::replace(&mut self.repeated_names, repeated_names(schema, p));
            self.particle(p, Occurs::ONCE, true, &mut props, &mut required, &mut constraints);
            self.repeated_names = outer;
            if self.side == Side::Request {
                ordered_keys = self.ordered(p, &mut props);
            }
        }
        let mut obj = object(props, required, self.side);
        let o = obj.as_object_mut().expect("an object");
        if !constraints.is_empty() {
            o.insert("allOf".into(), Value::Array(constraints));
        }
        if !ordered_keys.is_empty() {
            // An element says its members' order one way: keys or the list.
            let keys: Vec<Value> = ordered_keys.iter().map(|k| json!({ "required": [k] })).collect();
            o.insert("dependentSchemas".into(), json!({ ORDERED: { "not": { "anyOf": keys } } }));
        }
        obj
    }

    /// The `#ordered` property of an aggregate with interleaved groups:
    /// an array of one-key objects, each one member. Returns the members'
    /// names.
    fn ordered(&mut self, model: &Particle, props: &mut Map<String, Value>) -> Vec<String> {
        let schema = self.schema;
        let members: Vec<(String, ElementId)> =
            schema.interleaved_groups(model).into_iter().flatten().map(|(name, id)| (name.to_owned(), id)).collect();
        if members.is_empty() {
            return Vec::new();
        }
        let items: Vec<Value> = members
            .iter()
            .map(|(name, id)| {
                let mut one = Map::new();
                one.insert(name.clone(), self.element_value(*id));
                object(one, vec![name.clone()], Side::Request)
            })
            .collect();
        let names: Vec<String> = members.into_iter().map(|(n, _)| n).collect();
        props.insert(
            ORDERED.into(),
            json!({
                "type": "array",
                "items": { "oneOf": items },
                "description": format!(
                    "{} in the order wanted, each as its own one-key object (instead of giving them as keys)",
                    names.join(", ")
                ),
            }),
        );
        names
    }

    /// Adds a particle's elements as properties. `outer` is the product of
    /// the enclosing occurrences (repeatable if any is); `must` says every
    /// enclosing particle is a required part of a sequence.
    fn particle(
        &mut self,
        p: &Particle,
        outer: Occurs,
        must: bool,
        props: &mut Map<String, Value>,
        required: &mut Vec<String>,
        constraints: &mut Vec<Value>,
    ) {
        match p {
            Particle::Element { element, occurs, .. } => {
                let name = self.schema.element(*element).name.clone();
                let repeatable = occurs.repeatable() || outer.repeatable();
                let item = self.element_value(*element);
                let v = match (repeatable, self.side) {
                    (false, _) => item,
                    (true, Side::Response) => array(item, *occurs, outer),
                    (true, Side::Request) => json!({ "oneOf": [item.clone(), array(item, *occurs, outer)] }),
                };
                // A name declared twice in one content model (rare) keeps
                // its first declaration.
                props.entry(name.clone()).or_insert(v);
                if must && !occurs.optional() && !required.contains(&name) {
                    required.push(name);
                }
            }
            Particle::Sequence { items, occurs } => {
                let inner = combine(outer, *occurs);
                let must = must && !occurs.optional();
                for i in items {
                    self.particle(i, inner, must, props, required, constraints);
                }
            }
            Particle::Choice { items, occurs } => {
                let inner = combine(outer, *occurs);
                let mut alternatives = Vec::new();
                for i in items {
                    let mut keys = Vec::new();
                    let mut alt_required = Vec::new();
                    let mut alt_props = Map::new();
                    // Nothing in an alternative is required unless it is
                    // taken, which presence below expresses.
                    self.particle(i, inner, false, &mut alt_props, &mut alt_required, constraints);
                    keys.extend(alt_props.keys().cloned());
                    for (k, v) in alt_props {
                        props.entry(k).or_insert(v);
                    }
                    alternatives.push(keys);
                }
                // "Exactly one alternative (or none when optional)" is
                // expressible over key presence when no key of an
                // alternative occurs anywhere else in the content model and
                // a choice is made at most once.
                // A required choice that may repeat needs one of its
                // elements at least: as a key or, for an interleaved group,
                // in `#ordered`.
                if self.side == Side::Request && must && !occurs.optional() && inner.max != Some(1) {
                    let keys: Vec<Value> = alternatives.iter().flatten().map(|k| json!({ "required": [k] })).collect();
                    if !keys.is_empty() {
                        let listed = json!({ "required": [ORDERED],
                            "properties": { ORDERED: { "contains": { "anyOf": keys.clone() } } } });
                        let mut any = keys;
                        any.push(listed);
                        constraints.push(json!({ "anyOf": any }));
                    }
                }
                let disjoint = alternatives.iter().flatten().all(|k| !self.repeated_names.contains(k));
                if inner.max == Some(1) && disjoint && alternatives.iter().all(|a| !a.is_empty()) {
                    let present = |keys: &[String]| -> Value {
                        if keys.len() == 1 {
                            json!({ "required": [keys[0]] })
                        } else {
                            json!({ "anyOf": keys.iter().map(|k| json!({ "required": [k] })).collect::<Vec<_>>() })
                        }
                    };
                    let mut one_of: Vec<Value> = alternatives.iter().map(|a| present(a)).collect();
                    if !must || occurs.optional() {
                        let all: Vec<String> = alternatives.concat();
                        one_of.push(json!({ "not": present(&all) }));
                    }
                    constraints.push(json!({ "oneOf": one_of }));
                }
            }
        }
    }

    /// A leaf value's schema.
    fn scalar(&self, t: &SimpleType) -> Value {
        let request = self.side == Side::Request;
        let mut v = match t.base {
            BaseType::String | BaseType::Id | BaseType::Uuid | BaseType::Macro => json!({ "type": "string" }),
            BaseType::Enum => json!({ "type": "string" }),
            BaseType::Boolean => json!({ "type": "boolean" }),
            BaseType::Integer => json!({ "type": "integer" }),
            BaseType::Amount if request => decimal(13, 2),
            BaseType::Price | BaseType::Quantity | BaseType::Percent if request => decimal(10, 5),
            BaseType::Float if request => {
                json!({ "type": ["string", "number"], "pattern": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$" })
            }
            BaseType::Amount | BaseType::Price | BaseType::Quantity | BaseType::Percent | BaseType::Float => {
                json!({ "type": "string" })
            }
            BaseType::Date => json!({ "type": "string", "format": "date" }),
            BaseType::DateTime if request => json!({
                "type": "string",
                "pattern": r"^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{1,2}(:[0-9]{1,2}(:[0-9]{1,2}([+-][0-9]{1,2}:[0-9]{1,2})?)?)?)?)?$"
            }),
            BaseType::TimeInterval if request => {
                json!({ "type": "string", "pattern": r"^[+-]?PT([0-9]+H)?([0-9]+M)?([0-9]+S)?$" })
            }
            BaseType::Guid if request => json!({
                "type": "string",
                "pattern": r"^(0|\{[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\})$"
            }),
            BaseType::DateTime | BaseType::TimeInterval | BaseType::Guid => json!({ "type": "string" }),
        };
        if let Some(l) = t.max_length {
            v["maxLength"] = json!(l);
        }
        if !t.enumeration.is_empty() {
            // Requests must use a listed value; answers may carry values a
            // newer QuickBooks added, kept as sent.
            v[if request { "enum" } else { "examples" }] = json!(t.enumeration);
        }
        if let Some(m) = t.min_inclusive {
            v["minimum"] = json!(m);
        }
        if let Some(m) = t.max_inclusive {
            v["maximum"] = json!(m);
        }
        v["x-qbxml-type"] = json!(t.base.xsd_name());
        v
    }
}

/// A decimal with at most `int` digits before the point and `frac` after,
/// as a string (exact) or a JSON number.
fn decimal(int: u32, frac: u32) -> Value {
    json!({ "type": ["string", "number"], "pattern": format!(r"^[+-]?[0-9]{{1,{int}}}(\.[0-9]{{1,{frac}}})?$") })
}

fn object(props: Map<String, Value>, required: Vec<String>, side: Side) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!("object"));
    o.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        o.insert("required".into(), json!(required));
    }
    o.insert("additionalProperties".into(), json!(side == Side::Response));
    Value::Object(o)
}

fn array(item: Value, own: Occurs, outer: Occurs) -> Value {
    let mut a = json!({ "type": "array", "items": item });
    if !outer.repeatable() {
        if let Some(m) = own.max {
            a["maxItems"] = json!(m);
        }
    }
    a
}

/// The occurrence of a particle inside another: repeatable if either is.
fn combine(outer: Occurs, inner: Occurs) -> Occurs {
    Occurs {
        min: outer.min.saturating_mul(inner.min),
        max: match (outer.max, inner.max) {
            (Some(a), Some(b)) => Some(a.saturating_mul(b)),
            _ => None,
        },
    }
}
