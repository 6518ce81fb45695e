//! Turns one version's XSD trees into the project's [`SchemaData`]: groups
//! are resolved into the particles that use them, identical leaf types,
//! content models and element declarations are stored once, and every table
//! is filled in a fixed order (request types by name, each followed by its
//! response) so the same inputs always give the same output.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::{anyhow, bail, Context, Result};
use qbwcd::qbxml::schema::{
    Attribute, BaseType, ComplexType, ComplexTypeId, Element, ElementId, ElementKind, Occurs, Particle, RequestType,
    SchemaData, SimpleType, SimpleTypeId,
};
use qbwcd::qbxml::Version;

use crate::xsd::Node;

/// Corrections to Intuit's schemas (the reference README's "known
/// defects"), taken from quickbooks-sync's `qbxml160_modified.xsd` and
/// applied to a version whose files do not carry them.
#[derive(Debug, Default)]
pub struct Defects {
    /// Enumeration values QuickBooks uses that the schema omits, by the
    /// global element declaring the enumeration.
    pub extra_enums: BTreeMap<String, Vec<String>>,
    /// Elements QuickBooks answers with a warning, as (enclosing named
    /// declaration, element name).
    pub deprecated: BTreeSet<(String, String)>,
}

/// The global declarations of one version.
pub struct Xsd<'a> {
    elements: HashMap<&'a str, &'a Node>,
    complex_types: HashMap<&'a str, &'a Node>,
    groups: HashMap<&'a str, &'a Node>,
}

impl<'a> Xsd<'a> {
    /// Indexes the top-level declarations of the given schema roots.
    pub fn new(roots: &[&'a Node]) -> Self {
        let mut x = Xsd { elements: HashMap::new(), complex_types: HashMap::new(), groups: HashMap::new() };
        for root in roots {
            for n in &root.children {
                let Some(name) = n.attr("name") else { continue };
                match n.name.as_str() {
                    "element" => x.elements.insert(name, n),
                    "complexType" => x.complex_types.insert(name, n),
                    "group" => x.groups.insert(name, n),
                    _ => None,
                };
            }
        }
        x
    }

    /// The global element declaration `name`.
    pub fn element(&self, name: &str) -> Result<&'a Node> {
        self.elements.get(name).copied().ok_or_else(|| anyhow!("no global element {name}"))
    }
}

/// Reads the defects by comparing Intuit's file with quickbooks-sync's
/// corrected one.
pub fn defects(original: &Node, modified: &Node) -> Defects {
    let mut d = Defects::default();
    let enums = |root: &Node| -> BTreeMap<String, Vec<String>> {
        root.kids("element")
            .filter_map(|e| {
                let r = e.kid("simpleType")?.kid("restriction")?;
                let values: Vec<String> =
                    r.kids("enumeration").filter_map(|v| v.attr("value").map(str::to_owned)).collect();
                Some((e.attr("name")?.to_owned(), values))
            })
            .collect()
    };
    let before = enums(original);
    for (name, values) in enums(modified) {
        let old = before.get(&name).cloned().unwrap_or_default();
        let added: Vec<String> = values.into_iter().filter(|v| !old.contains(v)).collect();
        if !added.is_empty() {
            d.extra_enums.insert(name, added);
        }
    }
    for top in &modified.children {
        if let Some(container) = top.attr("name") {
            collect_deprecated(top, container, &mut d.deprecated);
        }
    }
    d
}

fn collect_deprecated(node: &Node, container: &str, out: &mut BTreeSet<(String, String)>) {
    for c in &node.children {
        if c.name == "element" && c.deprecated() {
            if let Some(n) = c.attr("ref").or(c.attr("name")) {
                out.insert((container.to_owned(), n.to_owned()));
            }
        }
        collect_deprecated(c, container, out);
    }
}

/// Builds the tables of one version.
pub struct Builder<'a> {
    xsd: &'a Xsd<'a>,
    defects: Option<&'a Defects>,
    version: Version,
    data: SchemaData,
    simple_ix: HashMap<SimpleType, SimpleTypeId>,
    complex_ix: HashMap<ComplexType, ComplexTypeId>,
    element_ix: HashMap<Element, ElementId>,
    globals: HashMap<String, ElementId>,
    named_complex: HashMap<String, ComplexTypeId>,
    in_progress: HashSet<String>,
}

impl<'a> Builder<'a> {
    /// A builder for `version`; `defects` are applied when given.
    pub fn new(xsd: &'a Xsd<'a>, version: Version, defects: Option<&'a Defects>) -> Self {
        Builder {
            xsd,
            defects,
            version,
            data: SchemaData {
                version,
                simple_types: Vec::new(),
                complex_types: Vec::new(),
                elements: Vec::new(),
                requests: Vec::new(),
            },
            simple_ix: HashMap::new(),
            complex_ix: HashMap::new(),
            element_ix: HashMap::new(),
            globals: HashMap::new(),
            named_complex: HashMap::new(),
            in_progress: HashSet::new(),
        }
    }

    /// Compiles every request type listed in `QBXMLMsgsRq` with its
    /// response from `QBXMLMsgsRs`; `since` gives the first version of each
    /// request type.
    pub fn build(mut self, since: impl Fn(&str) -> Version) -> Result<SchemaData> {
        let list = |name: &str| -> Result<BTreeMap<String, &'a Node>> {
            let msgs = self.xsd.element(name)?;
            let choice = msgs
                .kid("complexType")
                .and_then(|c| c.kid("choice"))
                .with_context(|| format!("{name} has no choice of messages"))?;
            Ok(choice.kids("element").filter_map(|e| Some((e.attr("name")?.to_owned(), e))).collect())
        };
        let requests = list("QBXMLMsgsRq")?;
        let responses = list("QBXMLMsgsRs")?;
        for (name, node) in requests {
            let request = self.element_decl(node, "QBXMLMsgsRq").with_context(|| format!("in {name}"))?;
            let rs_name = format!("{}Rs", name.strip_suffix("Rq").unwrap_or(&name));
            let response = match responses.get(&rs_name) {
                Some(n) => Some(self.element_decl(n, "QBXMLMsgsRs").with_context(|| format!("in {rs_name}"))?),
                None => None,
            };
            let since = since(&name);
            self.data.requests.push(RequestType { name, request, response, since });
        }
        debug_assert_eq!(self.data.version, self.version);
        Ok(self.data)
    }

    fn simple(&mut self, t: SimpleType) -> SimpleTypeId {
        if let Some(&id) = self.simple_ix.get(&t) {
            return id;
        }
        let id = SimpleTypeId(self.data.simple_types.len() as u32);
        self.data.simple_types.push(t.clone());
        self.simple_ix.insert(t, id);
        id
    }

    fn complex(&mut self, t: ComplexType) -> ComplexTypeId {
        if let Some(&id) = self.complex_ix.get(&t) {
            return id;
        }
        let id = ComplexTypeId(self.data.complex_types.len() as u32);
        self.data.complex_types.push(t.clone());
        self.complex_ix.insert(t, id);
        id
    }

    fn element(&mut self, e: Element) -> ElementId {
        if let Some(&id) = self.element_ix.get(&e) {
            return id;
        }
        let id = ElementId(self.data.elements.len() as u32);
        self.data.elements.push(e.clone());
        self.element_ix.insert(e, id);
        id
    }

    fn base(name: &str) -> Result<BaseType> {
        BaseType::from_xsd_name(name).ok_or_else(|| anyhow!("unknown base type {name}"))
    }

    /// A named base type, narrowed as `IDTYPE` is (36 characters).
    fn base_type(&mut self, name: &str) -> Result<SimpleTypeId> {
        let base = Self::base(name)?;
        let mut t = SimpleType::of(base);
        if base == BaseType::Id {
            t.max_length = Some(36);
        }
        Ok(self.simple(t))
    }

    /// An inline `simpleType` (a restriction of a base type). `owner` is the
    /// declaring element's name, for the enumeration corrections.
    fn simple_type(&mut self, st: &Node, owner: Option<&str>) -> Result<SimpleTypeId> {
        let r = st.kid("restriction").context("simpleType without restriction")?;
        let base = Self::base(r.attr("base").context("restriction without base")?)?;
        let mut t = SimpleType::of(base);
        if base == BaseType::Id {
            t.max_length = Some(36);
        }
        for f in &r.children {
            let v = f.attr("value").unwrap_or_default();
            let int = || -> Result<i64> { v.parse().with_context(|| format!("bad {} {v:?}", f.name)) };
            match f.name.as_str() {
                "maxLength" => t.max_length = Some(v.parse().context("bad maxLength")?),
                "enumeration" => t.enumeration.push(v.to_owned()),
                "minInclusive" => t.min_inclusive = Some(int()?),
                "maxInclusive" => t.max_inclusive = Some(int()?),
                "annotation" => {}
                other => bail!("unsupported facet {other}"),
            }
        }
        if let (Some(d), Some(owner)) = (self.defects, owner) {
            if let Some(extra) = d.extra_enums.get(owner) {
                if !t.enumeration.is_empty() {
                    for v in extra {
                        if !t.enumeration.contains(v) {
                            t.enumeration.push(v.clone());
                        }
                    }
                }
            }
        }
        Ok(self.simple(t))
    }

    fn attributes(&mut self, holder: &Node) -> Result<Vec<Attribute>> {
        let mut out = Vec::new();
        for a in holder.kids("attribute") {
            let name = a.attr("name").context("attribute without name")?.to_owned();
            let ty = match (a.attr("type"), a.kid("simpleType")) {
                (Some(t), _) => self.base_type(t)?,
                (None, Some(st)) => self.simple_type(st, None)?,
                (None, None) => self.base_type("STRTYPE")?,
            };
            out.push(Attribute {
                name,
                ty,
                required: a.attr("use") == Some("required"),
                default: a.attr("default").map(str::to_owned),
            });
        }
        Ok(out)
    }

    /// An element declaration node (global or local, not a `ref`).
    fn element_decl(&mut self, node: &Node, container: &str) -> Result<ElementId> {
        let name = node.attr("name").context("element without name")?;
        let kind = if let Some(t) = node.attr("type") {
            if BaseType::from_xsd_name(t).is_some() {
                ElementKind::Simple { ty: self.base_type(t)?, attributes: Vec::new() }
            } else {
                ElementKind::Complex(self.named_complex(t)?)
            }
        } else if let Some(st) = node.kid("simpleType") {
            ElementKind::Simple { ty: self.simple_type(st, Some(name))?, attributes: Vec::new() }
        } else if let Some(ct) = node.kid("complexType") {
            self.complex_kind(ct, container)?
        } else {
            bail!("element {name} has neither a type nor content");
        };
        Ok(self.element(Element { name: name.to_owned(), kind, default: node.attr("default").map(str::to_owned) }))
    }

    fn named_complex(&mut self, name: &str) -> Result<ComplexTypeId> {
        if let Some(&id) = self.named_complex.get(name) {
            return Ok(id);
        }
        let node = *self.xsd.complex_types.get(name).ok_or_else(|| anyhow!("no complexType {name}"))?;
        let ElementKind::Complex(id) = self.complex_kind(node, name)? else {
            bail!("complexType {name} has simple content where an aggregate is expected");
        };
        self.named_complex.insert(name.to_owned(), id);
        Ok(id)
    }

    /// A `complexType` node: simple content with attributes, or children.
    fn complex_kind(&mut self, ct: &Node, container: &str) -> Result<ElementKind> {
        if let Some(sc) = ct.kid("simpleContent") {
            let ext = sc.kid("extension").context("simpleContent without extension")?;
            let ty = self.base_type(ext.attr("base").context("extension without base")?)?;
            let attributes = self.attributes(ext)?;
            return Ok(ElementKind::Simple { ty, attributes });
        }
        let mut content = None;
        for c in &ct.children {
            if matches!(c.name.as_str(), "sequence" | "choice" | "group") {
                if content.is_some() {
                    bail!("complexType with two content models");
                }
                content = Some(self.particle(c, container)?);
            }
        }
        let attributes = self.attributes(ct)?;
        Ok(ElementKind::Complex(self.complex(ComplexType { content, attributes })))
    }

    fn occurs(node: &Node) -> Result<Occurs> {
        let min = match node.attr("minOccurs") {
            Some(v) => v.parse().context("bad minOccurs")?,
            None => 1,
        };
        let max = match node.attr("maxOccurs") {
            Some("unbounded") => None,
            Some(v) => Some(v.parse().context("bad maxOccurs")?),
            None => Some(1),
        };
        Ok(Occurs { min, max })
    }

    /// A global element, compiled once.
    fn global(&mut self, name: &str) -> Result<ElementId> {
        if let Some(&id) = self.globals.get(name) {
            return Ok(id);
        }
        if !self.in_progress.insert(name.to_owned()) {
            bail!("element {name} contains itself");
        }
        let node = self.xsd.element(name)?;
        let id = self.element_decl(node, name).with_context(|| format!("in element {name}"))?;
        self.in_progress.remove(name);
        self.globals.insert(name.to_owned(), id);
        Ok(id)
    }

    /// A particle node; `container` names the enclosing named declaration
    /// (for the deprecation corrections).
    fn particle(&mut self, node: &Node, container: &str) -> Result<Particle> {
        let occurs = Self::occurs(node)?;
        match node.name.as_str() {
            "element" => {
                let (element, name) = match node.attr("ref") {
                    Some(r) => (self.global(r)?, r),
                    None => {
                        let name = node.attr("name").context("element without name")?;
                        (self.element_decl(node, container).with_context(|| format!("in {container}/{name}"))?, name)
                    }
                };
                let deprecated = node.deprecated()
                    || self.defects.is_some_and(|d| d.deprecated.contains(&(container.to_owned(), name.to_owned())));
                Ok(Particle::Element { element, occurs, deprecated })
            }
            "sequence" | "choice" => {
                let is_seq = node.name == "sequence";
                let mut items = Vec::new();
                for c in &node.children {
                    if c.name == "annotation" {
                        continue;
                    }
                    let p = self.particle(c, container)?;
                    // A group's sequence inside a sequence (or a choice in a
                    // choice), once: the same content without the nesting.
                    match p {
                        Particle::Sequence { items: inner, occurs } if is_seq && occurs == Occurs::ONCE => {
                            items.extend(inner)
                        }
                        Particle::Choice { items: inner, occurs } if !is_seq && occurs == Occurs::ONCE => {
                            items.extend(inner)
                        }
                        p => items.push(p),
                    }
                }
                Ok(if is_seq { Particle::Sequence { items, occurs } } else { Particle::Choice { items, occurs } })
            }
            "group" => {
                let name = node.attr("ref").context("group without ref")?;
                let g = *self.xsd.groups.get(name).ok_or_else(|| anyhow!("no group {name}"))?;
                let inner = g
                    .children
                    .iter()
                    .find(|c| matches!(c.name.as_str(), "sequence" | "choice" | "group"))
                    .with_context(|| format!("group {name} is empty"))?;
                let p = self.particle(inner, name).with_context(|| format!("in group {name}"))?;
                if occurs == Occurs::ONCE {
                    Ok(p)
                } else {
                    Ok(Particle::Sequence { items: vec![p], occurs })
                }
            }
            other => bail!("unsupported particle {other}"),
        }
    }
}
