//! qbXML checked against the compiled schema and converted to and from
//! JSON, per docs/architecture.md ("qbXML validation and JSON"): requests
//! are validated at enqueue (every problem, with its path), JSON requests
//! become qbXML in schema order, and answers become JSON on read.

mod from_json;
mod index;
mod to_json;
pub(crate) mod tree;
mod validate;
mod values;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use from_json::requests_from_json;
pub use to_json::{answer_to_json, requests_to_json};
pub use tree::{read_messages, Node, Tree};
pub use validate::{storage_warnings, unknown_request_types, validate_requests, MAX_ISSUES};

use super::schema::Schema;
use super::{OnError, Version};

/// One problem with a request: where, what kind, and what to change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Issue {
    /// Element names from the request element, `/`-separated; `[n]` is the
    /// 1-based position among same-named siblings, `@name` an attribute:
    /// `InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[2]/Amount`.
    pub path: String,
    /// Stable code: `unknown_request`, `request_needs_version`,
    /// `unknown_element`, `unknown_attribute`, `wrong_order`,
    /// `missing_element`, `missing_attribute`, `too_many`,
    /// `unexpected_element`, `choice_conflict`, `too_long`, `bad_enum`,
    /// `bad_boolean`, `bad_integer`, `bad_decimal`, `bad_date`,
    /// `bad_datetime`, `bad_time_interval`, `bad_guid`, `wrong_content`,
    /// `wrong_json_type`, `bad_request_shape`, `bad_ordered`,
    /// `bad_character`; warnings:
    /// `unstorable_character`.
    pub code: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl Issue {
    /// An issue at `path`.
    pub fn new(path: &str, code: &str, message: String) -> Self {
        Issue { path: path.to_owned(), code: code.to_owned(), message }
    }
}

/// Requests that the schema refuses: every issue found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{} against qbXML {version}: {}", count(.issues.len()), first(.issues))]
pub struct SchemaInvalid {
    /// The schema version checked against.
    pub version: Version,
    /// Every issue, in document order.
    pub issues: Vec<Issue>,
}

/// ` (did you mean X?)` when `name` matches one of `names` but for case,
/// else nothing: the hint every "unknown" message gives.
pub(crate) fn did_you_mean<'n>(mut names: impl Iterator<Item = &'n str>, name: &str) -> String {
    names.find(|n| n.eq_ignore_ascii_case(name)).map(|n| format!(" (did you mean {n}?)")).unwrap_or_default()
}

/// The element names a parent allows, for a message: all when few, else
/// the first 12 and where to read the rest.
pub(crate) fn allowed_names(names: &[String]) -> String {
    if names.len() <= 15 {
        return names.join(", ");
    }
    format!("{}, … ({} in all; see `qbwcd qbxml describe`)", names[..12].join(", "), names.len())
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 problem".to_owned()
    } else {
        format!("{n} problems")
    }
}

fn first(issues: &[Issue]) -> String {
    issues.first().map(|i| format!("{}: {} ({})", i.path, i.message, i.code)).unwrap_or_default()
}

/// Checks the `…Rq` elements of a qbXML text (already accepted by
/// [`crate::qbxml::parse_submission`]) against the schema for a company
/// whose QuickBooks reported `reported`.
///
/// # Errors
/// [`SchemaInvalid`] with every issue; a text that is not well-formed is
/// reported as one `malformed` issue (the submission checks come first, so
/// this happens only to callers that skip them).
pub fn check_qbxml(schema: &Schema, reported: Option<Version>, text: &str) -> Result<(), SchemaInvalid> {
    let invalid = |issues| SchemaInvalid { version: schema.version(), issues };
    let requests = read_messages(text, "Rq").map_err(|e| invalid(vec![Issue::new("", "malformed", e.to_string())]))?;
    check_requests(schema, reported, &requests)
}

/// [`check_qbxml`] for requests already read into trees (by
/// [`crate::qbxml::parse_submission_tree`]).
///
/// # Errors
/// [`SchemaInvalid`] with every issue.
pub fn check_requests(schema: &Schema, reported: Option<Version>, requests: &Tree<'_>) -> Result<(), SchemaInvalid> {
    let issues = validate_requests(schema, reported, requests);
    if issues.is_empty() {
        Ok(())
    } else {
        Err(SchemaInvalid { version: schema.version(), issues })
    }
}

/// The characters QuickBooks cannot store in a qbXML text's requests, with
/// their paths (the job view's `warnings`).
pub fn qbxml_warnings(text: &str) -> Vec<Issue> {
    read_messages(text, "Rq").map(|r| storage_warnings(&r)).unwrap_or_default()
}

/// JSON requests as qbXML: bare `…Rq` elements in a `<QBXML>` document
/// carrying `onError` (no version: the send path writes the session's).
/// With `validate`, the built elements are checked as raw qbXML would be.
///
/// # Errors
/// [`SchemaInvalid`] with every issue: those of the JSON itself (unknown
/// keys, wrong JSON types) always, the schema's when `validate`.
pub fn json_to_qbxml(
    schema: &Schema,
    reported: Option<Version>,
    requests: &[Value],
    on_error: OnError,
    validate: bool,
) -> Result<String, SchemaInvalid> {
    let mut out = format!("<QBXML><QBXMLMsgsRq onError=\"{}\">", on_error.as_str());
    let head = out.len();
    let (tree, mut issues) = requests_from_json(schema, requests, &mut out);
    // Unknown request types are refused even unvalidated: without the
    // schema there is no order to write their elements in, and their names
    // (any JSON key) were not checked to be names. Each is checked on its
    // own: the validator stops at MAX_ISSUES, which other requests' problems
    // could reach first.
    issues.extend(if validate {
        validate_requests(schema, reported, &tree)
    } else {
        unknown_request_types(schema, reported, &tree)
    });
    if tree.is_empty() && issues.is_empty() {
        issues.push(Issue::new("requests", "bad_request_shape", "no requests given".into()));
    }
    if !issues.is_empty() {
        issues.truncate(MAX_ISSUES);
        return Err(SchemaInvalid { version: schema.version(), issues });
    }
    if cfg!(debug_assertions) {
        let mut written = String::new();
        tree.write_xml(&mut written);
        debug_assert_eq!(out[head..], written, "the builder wrote what its tree holds");
    }
    out.push_str("</QBXMLMsgsRq></QBXML>");
    Ok(out)
}

/// The requests of a JSON body in any of the forms accepted: `{"request":
/// {…}}`, `{"requests": […]}`, a bare array of requests, or one request
/// `{"CustomerAddRq": {…}}`.
pub fn requests_of(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Object(o) if o.contains_key("requests") => match &o["requests"] {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        },
        Value::Object(o) if o.contains_key("request") => vec![o["request"].clone()],
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests;
