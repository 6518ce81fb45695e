//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the types' `ToSchema` derives, served at
//! `GET /api/v1/openapi.json`.

use std::borrow::Cow;

use axum::Json;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::{admins, companies, diagnostics, events, health, jobs, qbxml, qwc, tokens, users, webhooks, ErrorBody};
use crate::queue::JobState;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "qbwcd",
        description = "Queue qbXML for QuickBooks Desktop companies and read the answers. \
                       Authenticate with `Authorization: Bearer <token>` (`qbwcd token create NAME`). \
                       Jobs settle as done, failed, cancelled or unknown; `?wait=SECONDS` long-polls \
                       for that, and webhooks (`job.finished`, signed with `X-Qbwcd-Signature`) report it."
    ),
    paths(
        companies::create,
        companies::list,
        companies::show,
        companies::update,
        companies::create_user,
        companies::disable,
        companies::enable,
        companies::remove,
        users::list_for_company,
        jobs::enqueue,
        jobs::list,
        jobs::show,
        jobs::retry,
        jobs::cancel,
        jobs::resolve,
        health::show,
        events::list,
        events::list_for_company,
        events::show,
        qwc::download,
        qwc::create_link,
        qwc::list_links,
        qwc::revoke_link,
        qwc::patch_user,
        users::show,
        users::unlock,
        users::remove,
        users::disable,
        users::enable,
        users::reset_password,
        tokens::list,
        tokens::create,
        tokens::revoke,
        qbxml::list,
        qbxml::show,
        admins::list,
        admins::create,
        admins::remove,
        admins::passwd,
        diagnostics::show,
        document,
    ),
    components(schemas(ErrorBody, webhooks::WebhookEvent)),
    modifiers(&BearerAuth),
    tags(
        (name = "companies", description = "QuickBooks company files and their Web Connector users"),
        (name = "jobs", description = "The qbXML queue"),
        (name = "users", description = "Web Connector users: .qwc files and onboarding links"),
        (name = "events", description = "What happened, newest first: the references (E14) health and errors quote"),
        (name = "tokens", description = "API tokens: roles, company limits, expiry (admin only)"),
        (name = "qbxml", description = "The qbXML schemas (13.0, 16.0): request types and their JSON Schemas"),
        (name = "admins", description = "Console accounts: the people who log in at /admin (admin only; tokens never log in there)"),
        (name = "diagnostics", description = "The catalog of problems and their fixes"),
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`: this document. Public, like the diagnostics catalog.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApiDocument", tag = "diagnostics",
    responses((status = 200, description = "The OpenAPI 3 document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("qbt_<64 hex digits>".into());
        http.description = Some("A token from `qbwcd token create NAME`.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

impl PartialSchema for JobState {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(JobState::ALL.iter().map(|s| s.as_str())))
            .description(Some(
                "queued → sent → done | failed | unknown, plus cancelled and held (waiting on dependencies). \
                 done, failed and cancelled are final; unknown (a write whose answer was lost) waits for a person.",
            ))
            .into()
    }
}

impl ToSchema for JobState {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JobState")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::*;

    /// `(METHOD, path)` pairs the document describes.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = ApiDoc::openapi();
        let mut out = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("patch", &item.patch),
                ("delete", &item.delete),
            ];
            for (method, op) in ops {
                if op.is_some() {
                    out.insert((method.to_owned(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_registered_route_is_in_the_openapi_document_and_nothing_else() {
        let routed: BTreeSet<(String, String)> =
            super::super::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), format!("/api/v1{p}"))).collect();
        let documented = documented();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
        assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
    }

    /// Where a JSON pointer (`#/components/schemas/JobView`) leads, if anywhere.
    fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
        doc.pointer(reference.strip_prefix('#')?)
    }

    /// Every `$ref` in `v`, with the JSON path where it stands.
    fn refs<'a>(v: &'a Value, at: &str, out: &mut Vec<(String, &'a str)>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    match (k.as_str(), child) {
                        ("$ref", Value::String(r)) => out.push((at.to_owned(), r)),
                        _ => refs(child, &format!("{at}/{k}"), out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    refs(child, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// What makes the document invalid OpenAPI 3.1 or unfit for client
    /// generators, checked structurally: the version, `info`, unique
    /// lowerCamelCase operationIds, responses, path parameters declared
    /// exactly as the path names them, tags and security schemes declared,
    /// and every `$ref` resolving. (CI also runs openapi-spec-validator on
    /// the document `tests/it/openapi.rs` writes.)
    fn problems(doc: &Value) -> Vec<String> {
        let mut out = Vec::new();
        let version = doc["openapi"].as_str().unwrap_or_default();
        if !version.starts_with("3.1.") {
            out.push(format!("openapi is {version:?}, not 3.1.x"));
        }
        for field in ["title", "version"] {
            if doc["info"][field].as_str().is_none_or(str::is_empty) {
                out.push(format!("info.{field} is missing"));
            }
        }
        let tags: BTreeSet<&str> =
            doc["tags"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        let schemes = doc["components"]["securitySchemes"].as_object();
        let mut ids: BTreeMap<&str, String> = BTreeMap::new();
        let Some(paths) = doc["paths"].as_object() else {
            out.push("no paths".into());
            return out;
        };
        for (path, item) in paths {
            if !path.starts_with('/') {
                out.push(format!("path {path:?} does not start with /"));
            }
            let in_path: BTreeSet<&str> =
                path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect();
            for (method, op) in item.as_object().into_iter().flatten() {
                let here = format!("{} {path}", method.to_uppercase());
                match op["operationId"].as_str() {
                    None => out.push(format!("{here}: no operationId")),
                    Some(id) => {
                        let camel = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                            && id.chars().all(|c| c.is_ascii_alphanumeric());
                        if !camel {
                            out.push(format!("{here}: operationId {id:?} is not lowerCamelCase"));
                        }
                        if let Some(first) = ids.insert(id, here.clone()) {
                            out.push(format!("{here}: operationId {id:?} is also {first}'s"));
                        }
                    }
                }
                if op["responses"].as_object().is_none_or(|r| r.is_empty()) {
                    out.push(format!("{here}: no responses"));
                }
                let params = op["parameters"].as_array().into_iter().flatten();
                let mut declared = BTreeSet::new();
                for p in params {
                    let name = p["name"].as_str().unwrap_or_default();
                    match p["in"].as_str() {
                        Some("path") => {
                            if p["required"] != Value::Bool(true) {
                                out.push(format!("{here}: path parameter {name:?} is not required"));
                            }
                            declared.insert(name);
                        }
                        Some("query" | "header" | "cookie") => {}
                        other => out.push(format!("{here}: parameter {name:?} is in {other:?}")),
                    }
                }
                if declared != in_path {
                    out.push(format!("{here}: path parameters declared {declared:?}, the path has {in_path:?}"));
                }
                for tag in op["tags"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if !tags.contains(tag) {
                        out.push(format!("{here}: tag {tag:?} is not declared"));
                    }
                }
                for req in op["security"].as_array().into_iter().flatten() {
                    for scheme in req.as_object().into_iter().flatten().map(|(k, _)| k) {
                        if schemes.is_none_or(|s| !s.contains_key(scheme)) {
                            out.push(format!("{here}: security scheme {scheme:?} is not declared"));
                        }
                    }
                }
            }
        }
        let mut all = Vec::new();
        refs(doc, "", &mut all);
        for (at, r) in all {
            if resolve(doc, r).is_none() {
                out.push(format!("{at}: $ref {r:?} leads nowhere"));
            }
        }
        out
    }

    #[test]
    fn the_document_is_valid_openapi_3_1_with_unique_operation_ids() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let found = problems(&doc);
        assert!(found.is_empty(), "the OpenAPI document is invalid:\n{}", found.join("\n"));
    }

    #[test]
    fn the_check_finds_each_kind_of_fault() {
        let good = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let broken = |edit: &dyn Fn(&mut Value)| {
            let mut doc = good.clone();
            edit(&mut doc);
            problems(&doc)
        };
        let job = "/api/v1/jobs/{id}";
        let repeated = broken(&|d| d["paths"][job]["get"]["operationId"] = "listCompanies".into());
        assert!(repeated.iter().any(|p| p.contains("is also")), "{repeated:?}");
        let missing = broken(&|d| {
            d["paths"][job]["get"].as_object_mut().unwrap().remove("operationId");
        });
        assert!(missing.iter().any(|p| p.contains("no operationId")), "{missing:?}");
        let snake = broken(&|d| d["paths"][job]["get"]["operationId"] = "get_job".into());
        assert!(snake.iter().any(|p| p.contains("lowerCamelCase")), "{snake:?}");
        let old = broken(&|d| d["openapi"] = "3.0.3".into());
        assert!(old.iter().any(|p| p.contains("not 3.1.x")), "{old:?}");
        let dangling = broken(&|d| d["components"]["schemas"].as_object_mut().unwrap().clear());
        assert!(dangling.iter().any(|p| p.contains("leads nowhere")), "{dangling:?}");
        let undeclared = broken(&|d| d["paths"][job]["get"]["parameters"] = Value::Array(Vec::new()));
        assert!(undeclared.iter().any(|p| p.contains("path parameters declared")), "{undeclared:?}");
        let silent = broken(&|d| d["paths"][job]["get"]["responses"] = serde_json::json!({}));
        assert!(silent.iter().any(|p| p.contains("no responses")), "{silent:?}");
    }

    /// The management views are in the document (every `$ref` resolving is
    /// the structural check's job).
    #[test]
    fn the_management_views_are_described() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for name in ["Removed", "OpenWork", "CompanyHasWork", "UserView", "LoginLockout"] {
            assert!(doc["components"]["schemas"][name].is_object(), "{name} is not in the document");
        }
    }

    #[test]
    fn the_document_declares_bearer_security_and_uses_it() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert_eq!(doc["paths"]["/api/v1/jobs/{id}"]["get"]["security"][0]["bearer"], serde_json::json!([]));
        assert!(doc["components"]["schemas"]["JobView"]["properties"]["state"].is_object());
    }
}
