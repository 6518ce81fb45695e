//! The schema as clients read it: the list of request types and one type's
//! JSON Schemas, the bodies of `GET /api/v1/qbxml/types[/{name}]` and of
//! `qbwcd qbxml types|describe --json`.

use serde::Serialize;
use serde_json::Value;

use super::json_schema::{request_schema, response_schema};
use super::{RequestType, Schema};
use crate::qbxml::Version;

/// One request type in the list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TypeSummary {
    /// The request type, e.g. `CustomerAddRq`.
    pub name: String,
    /// The first qbXML version that has it (among 13.0 and 16.0).
    #[schema(value_type = String, example = "13.0")]
    pub since: Version,
    /// Its response type, e.g. `CustomerAddRs`.
    pub response: Option<String>,
}

/// The request types of one schema.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TypeList {
    /// The compiled schema listed (the newest not above the version asked for).
    #[schema(value_type = String, example = "16.0")]
    pub version: Version,
    /// Sorted by name.
    pub types: Vec<TypeSummary>,
}

/// One request type with the JSON Schemas of its request and response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TypeSchema {
    /// The request type.
    pub name: String,
    /// The compiled schema the JSON Schemas come from.
    #[schema(value_type = String)]
    pub version: Version,
    /// The first qbXML version that has the type.
    #[schema(value_type = String)]
    pub since: Version,
    /// The response type.
    pub response: Option<String>,
    /// JSON Schema 2020-12 of one entry of a job's `requests`
    /// (`{"CustomerAddRq": {…}}`).
    #[schema(value_type = Object)]
    pub request_schema: Value,
    /// JSON Schema 2020-12 of one entry of a job's `result`
    /// (`{"CustomerAddRs": {…}}`).
    #[schema(value_type = Object)]
    pub response_schema: Option<Value>,
}

/// Why a request type name was not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No compiled schema has it.
    #[error("{0} is not a qbXML request type (see `qbwcd qbxml types`)")]
    Unknown(String),
    /// A newer schema has it.
    #[error("{name} needs qbXML {needs}; the qbXML {schema} schema does not have it")]
    NeedsVersion {
        /// The request type.
        name: String,
        /// The first version that has it.
        needs: Version,
        /// The schema asked.
        schema: Version,
    },
}

/// The list of `schema`'s request types.
pub fn types(schema: &Schema) -> TypeList {
    TypeList {
        version: schema.version(),
        types: schema
            .requests()
            .iter()
            .map(|r| TypeSummary {
                name: r.name.clone(),
                since: r.since,
                response: r.response.map(|id| schema.element(id).name.clone()),
            })
            .collect(),
    }
}

/// The request type `name` (`CustomerAddRq`, or `CustomerAdd` without the
/// `Rq`) in `schema`.
///
/// # Errors
/// [`LookupError::NeedsVersion`] when only a newer compiled schema has it,
/// [`LookupError::Unknown`] otherwise.
pub fn find<'s>(schema: &'s Schema, name: &str) -> Result<&'s RequestType, LookupError> {
    let full = if name.ends_with("Rq") { name.to_owned() } else { format!("{name}Rq") };
    if let Some(rt) = schema.request(&full) {
        return Ok(rt);
    }
    match Schema::all().iter().find_map(|s| s.request(&full)) {
        Some(rt) => Err(LookupError::NeedsVersion { name: full, needs: rt.since, schema: schema.version() }),
        None => Err(LookupError::Unknown(name.to_owned())),
    }
}

/// The JSON Schemas of one request type.
pub fn type_schema(schema: &Schema, rt: &RequestType) -> TypeSchema {
    TypeSchema {
        name: rt.name.clone(),
        version: schema.version(),
        since: rt.since,
        response: rt.response.map(|id| schema.element(id).name.clone()),
        request_schema: request_schema(schema, rt),
        response_schema: response_schema(schema, rt),
    }
}
