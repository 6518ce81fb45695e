//! The schema model: what the generator writes and the server reads. Items
//! refer to each other by index into the [`Schema`](super::Schema)'s tables,
//! so an aggregate such as `CustomerRet` or `ListRef` is stored once however
//! many places use it. The serde shapes use short keys because the compiled
//! files are embedded in the binary.

use serde::{Deserialize, Serialize};

use crate::qbxml::Version;

/// Index of a [`SimpleType`] in its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SimpleTypeId(pub u32);

/// Index of an [`Element`] declaration in its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ElementId(pub u32);

/// Index of a [`ComplexType`] in its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComplexTypeId(pub u32);

/// The qbXML base types (`qbxmltypes*.xsd`) every leaf value is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BaseType {
    /// `STRTYPE`: free text.
    #[serde(rename = "str")]
    String,
    /// `IDTYPE`: a QuickBooks ListID/TxnID (at most 36 characters).
    #[serde(rename = "id")]
    Id,
    /// `ENUMTYPE`: one of the listed values.
    #[serde(rename = "enum")]
    Enum,
    /// `AMTTYPE`: money, up to 13 digits and 2 decimals.
    #[serde(rename = "amt")]
    Amount,
    /// `PRICETYPE`: up to 10 digits and 5 decimals.
    #[serde(rename = "price")]
    Price,
    /// `QUANTYPE`: up to 10 digits and 5 decimals.
    #[serde(rename = "quan")]
    Quantity,
    /// `PERCENTTYPE`: up to 10 digits and 5 decimals.
    #[serde(rename = "pct")]
    Percent,
    /// `INTTYPE`: an integer.
    #[serde(rename = "int")]
    Integer,
    /// `FLOATTYPE`: a decimal number.
    #[serde(rename = "float")]
    Float,
    /// `BOOLTYPE`: `true` or `false`.
    #[serde(rename = "bool")]
    Boolean,
    /// `DATETYPE`: `YYYY-MM-DD`.
    #[serde(rename = "date")]
    Date,
    /// `DATETIMETYPE`: `YYYY-MM-DDThh:mm:ss` with an optional offset (parts
    /// from the right may be left off).
    #[serde(rename = "datetime")]
    DateTime,
    /// `TIMEINTERVALTYPE`: `PTnHnMnS`, optionally signed.
    #[serde(rename = "interval")]
    TimeInterval,
    /// `GUIDTYPE`: `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` or `0`.
    #[serde(rename = "guid")]
    Guid,
    /// `UUIDTYPE`: free text naming a UUID.
    #[serde(rename = "uuid")]
    Uuid,
    /// `MACROTYPE`: a `defMacro`/`useMacro` name.
    #[serde(rename = "macro")]
    Macro,
}

impl BaseType {
    /// The name Intuit's schema gives the type (`STRTYPE`, `AMTTYPE`, …).
    pub fn xsd_name(self) -> &'static str {
        match self {
            BaseType::String => "STRTYPE",
            BaseType::Id => "IDTYPE",
            BaseType::Enum => "ENUMTYPE",
            BaseType::Amount => "AMTTYPE",
            BaseType::Price => "PRICETYPE",
            BaseType::Quantity => "QUANTYPE",
            BaseType::Percent => "PERCENTTYPE",
            BaseType::Integer => "INTTYPE",
            BaseType::Float => "FLOATTYPE",
            BaseType::Boolean => "BOOLTYPE",
            BaseType::Date => "DATETYPE",
            BaseType::DateTime => "DATETIMETYPE",
            BaseType::TimeInterval => "TIMEINTERVALTYPE",
            BaseType::Guid => "GUIDTYPE",
            BaseType::Uuid => "UUIDTYPE",
            BaseType::Macro => "MACROTYPE",
        }
    }

    /// Parses an [`xsd_name`](Self::xsd_name).
    pub fn from_xsd_name(name: &str) -> Option<Self> {
        ALL_BASE_TYPES.iter().copied().find(|t| t.xsd_name() == name)
    }

    /// A short lower-case word for people (`string`, `amount`, …).
    pub fn label(self) -> &'static str {
        match self {
            BaseType::String => "string",
            BaseType::Id => "id",
            BaseType::Enum => "enum",
            BaseType::Amount => "amount",
            BaseType::Price => "price",
            BaseType::Quantity => "quantity",
            BaseType::Percent => "percent",
            BaseType::Integer => "integer",
            BaseType::Float => "decimal",
            BaseType::Boolean => "boolean",
            BaseType::Date => "date",
            BaseType::DateTime => "date-time",
            BaseType::TimeInterval => "time-interval",
            BaseType::Guid => "guid",
            BaseType::Uuid => "uuid",
            BaseType::Macro => "macro",
        }
    }
}

/// Every [`BaseType`], in declaration order.
pub const ALL_BASE_TYPES: [BaseType; 16] = [
    BaseType::String,
    BaseType::Id,
    BaseType::Enum,
    BaseType::Amount,
    BaseType::Price,
    BaseType::Quantity,
    BaseType::Percent,
    BaseType::Integer,
    BaseType::Float,
    BaseType::Boolean,
    BaseType::Date,
    BaseType::DateTime,
    BaseType::TimeInterval,
    BaseType::Guid,
    BaseType::Uuid,
    BaseType::Macro,
];

/// A leaf value's type: a base type narrowed by the facets the schema gives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SimpleType {
    /// The base type.
    #[serde(rename = "b")]
    pub base: BaseType,
    /// The most characters allowed (`maxLength`); `IDTYPE` carries its 36 here.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// The allowed values, in schema order; empty when any value of the base
    /// type is allowed.
    #[serde(rename = "e", default, skip_serializing_if = "Vec::is_empty")]
    pub enumeration: Vec<String>,
    /// The smallest allowed integer (`minInclusive`).
    #[serde(rename = "min", default, skip_serializing_if = "Option::is_none")]
    pub min_inclusive: Option<i64>,
    /// The largest allowed integer (`maxInclusive`).
    #[serde(rename = "max", default, skip_serializing_if = "Option::is_none")]
    pub max_inclusive: Option<i64>,
}

impl SimpleType {
    /// The unrestricted base type.
    pub fn of(base: BaseType) -> Self {
        SimpleType { base, max_length: None, enumeration: Vec::new(), min_inclusive: None, max_inclusive: None }
    }
}

/// An attribute an element may carry (`requestID`, `iterator`, `useMacro`, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attribute {
    /// Its name as qbXML spells it.
    #[serde(rename = "n")]
    pub name: String,
    /// Its value type.
    #[serde(rename = "t")]
    pub ty: SimpleTypeId,
    /// Whether the schema requires it (`use="required"`).
    #[serde(rename = "r", default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// The value QuickBooks assumes when it is absent.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// How many times a particle may occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Occurs {
    /// At least this many (0: optional).
    pub min: u32,
    /// At most this many; `None` is unbounded.
    pub max: Option<u32>,
}

impl Occurs {
    /// Exactly once: the XSD default.
    pub const ONCE: Occurs = Occurs { min: 1, max: Some(1) };

    /// Whether it may be left out.
    pub fn optional(self) -> bool {
        self.min == 0
    }

    /// Whether it may occur more than once.
    pub fn repeatable(self) -> bool {
        self.max.is_none_or(|m| m > 1)
    }
}

impl Default for Occurs {
    fn default() -> Self {
        Occurs::ONCE
    }
}

/// One step of a content model: an element, or an ordered sequence or a
/// choice (an "OR" group in Intuit's reference) of further particles.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Particle {
    /// An element in this position.
    #[serde(rename = "E")]
    Element {
        /// Its declaration.
        #[serde(rename = "i")]
        element: ElementId,
        /// How often it may occur here.
        #[serde(rename = "o", default, skip_serializing_if = "is_once")]
        occurs: Occurs,
        /// Marked deprecated: QuickBooks answers a warning when it is sent
        /// (see the generator's known defects).
        #[serde(rename = "dep", default, skip_serializing_if = "is_false")]
        deprecated: bool,
    },
    /// The particles in this order.
    #[serde(rename = "S")]
    Sequence {
        /// The parts, in order.
        #[serde(rename = "p")]
        items: Vec<Particle>,
        /// How often the whole sequence may occur.
        #[serde(rename = "o", default, skip_serializing_if = "is_once")]
        occurs: Occurs,
    },
    /// Exactly one of the particles (per occurrence).
    #[serde(rename = "C")]
    Choice {
        /// The alternatives.
        #[serde(rename = "p")]
        items: Vec<Particle>,
        /// How often a choice is made.
        #[serde(rename = "o", default, skip_serializing_if = "is_once")]
        occurs: Occurs,
    },
}

impl Particle {
    /// How often this particle may occur.
    pub fn occurs(&self) -> Occurs {
        match self {
            Particle::Element { occurs, .. } | Particle::Sequence { occurs, .. } | Particle::Choice { occurs, .. } => {
                *occurs
            }
        }
    }
}

/// The content of an element with children: its content model and attributes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ComplexType {
    /// The children, as one particle (a sequence for almost every type);
    /// `None` for an element that has only attributes.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Particle>,
    /// Its attributes, in schema order.
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
}

/// What an element holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ElementKind {
    /// Text of a simple type, possibly with attributes (e.g. `TxnID
    /// useMacro="…"`).
    #[serde(rename = "s")]
    Simple {
        /// The text's type.
        #[serde(rename = "t")]
        ty: SimpleTypeId,
        /// Its attributes, in schema order.
        #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
        attributes: Vec<Attribute>,
    },
    /// Child elements.
    #[serde(rename = "c")]
    Complex(ComplexTypeId),
}

/// An element declaration: a name and what it holds. Two uses of a name with
/// different content (Intuit's local declarations, e.g. `Name` of 41
/// characters in `CustomerAdd` and 31 in `ClassAdd`) are two declarations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Element {
    /// Its name as qbXML spells it.
    #[serde(rename = "n")]
    pub name: String,
    /// Its content.
    #[serde(rename = "k")]
    pub kind: ElementKind,
    /// The value QuickBooks assumes when it is absent.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A request type (`CustomerAddRq`) with its response and the first qbXML
/// version (among the compiled ones) that has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestType {
    /// Its name, e.g. `CustomerAddRq`.
    #[serde(rename = "n")]
    pub name: String,
    /// The request element's declaration (complex, with `requestID` and,
    /// for queries, `iterator`, `iteratorID`, `metaData`).
    #[serde(rename = "rq")]
    pub request: ElementId,
    /// The response element's declaration (`CustomerAddRs`), when the
    /// schema has one.
    #[serde(rename = "rs", default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ElementId>,
    /// The first compiled version that has this request type.
    #[serde(rename = "since")]
    pub since: Version,
}

/// The serialized form of a [`Schema`](super::Schema): what the generator
/// writes to `compiled/qbxml-<version>.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaData {
    /// The qbXML version this schema describes.
    pub version: Version,
    /// Leaf types, indexed by [`SimpleTypeId`].
    pub simple_types: Vec<SimpleType>,
    /// Content models, indexed by [`ComplexTypeId`].
    pub complex_types: Vec<ComplexType>,
    /// Element declarations, indexed by [`ElementId`].
    pub elements: Vec<Element>,
    /// Request types, sorted by name.
    pub requests: Vec<RequestType>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_once(o: &Occurs) -> bool {
    *o == Occurs::ONCE
}
