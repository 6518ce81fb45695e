//! `GET /api/v1/qbxml/types[/{name}]`: the compiled qbXML schemas for
//! clients: which request types a QuickBooks version takes, and each type's
//! JSON Schema (for SDK generators). Read-only over embedded data: any
//! token role may read it.

use axum::extract::{Path, Query};
use axum::Json;
use serde::Deserialize;

use super::{ApiError, ErrorBody};
use crate::qbxml::schema::catalog::{self, LookupError, TypeList, TypeSchema};
use crate::qbxml::{Schema, Version};

/// `?version=`: the qbXML version a company's QuickBooks reported.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A qbXML version such as `13.0`: the newest compiled schema not above it is read (14.0 and
    /// 15.0 read 13.0; below 13.0, 13.0). Default: the newest, 16.0.
    pub version: Option<String>,
}

fn schema_for(q: &VersionQuery) -> Result<&'static Schema, ApiError> {
    let reported = match q.version.as_deref() {
        None => None,
        Some(v) => Some(Version::parse(v).map_err(|e| ApiError::bad_request("invalid_version", e.to_string()))?),
    };
    Ok(Schema::for_version(reported))
}

/// The request types of the schema for `version`, each with the first
/// qbXML version that has it and its response type.
#[utoipa::path(
    get, path = "/api/v1/qbxml/types", operation_id = "listQbxmlTypes", tag = "qbxml",
    params(VersionQuery),
    responses(
        (status = 200, description = "The request types, sorted by name", body = TypeList),
        (status = 400, description = "An unreadable version", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn list(
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TypeList>, ApiError> {
    let Query(q) = query?;
    Ok(Json(catalog::types(schema_for(&q)?)))
}

/// One request type (`CustomerAddRq`; the `Rq` may be left off) with the
/// JSON Schema 2020-12 of its JSON request and of its JSON result.
#[utoipa::path(
    get, path = "/api/v1/qbxml/types/{name}", operation_id = "getQbxmlType", tag = "qbxml",
    params(("name" = String, Path, description = "Request type, e.g. CustomerAddRq"), VersionQuery),
    responses(
        (status = 200, description = "The type and its JSON Schemas", body = TypeSchema),
        (status = 400, description = "An unreadable version", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such request type in that version's schema (the message names the version that has it)", body = ErrorBody),
    )
)]
pub async fn show(
    Path(name): Path<String>,
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TypeSchema>, ApiError> {
    let Query(q) = query?;
    let schema = schema_for(&q)?;
    let rt = catalog::find(schema, &name).map_err(|e| match e {
        LookupError::Unknown(_) => ApiError::not_found(e.to_string()),
        LookupError::NeedsVersion { .. } => {
            ApiError::new(axum::http::StatusCode::NOT_FOUND, "request_needs_version", e.to_string())
        }
    })?;
    Ok(Json(catalog::type_schema(schema, rt)))
}
