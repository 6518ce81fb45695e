//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the types' `ToSchema` derives, served at
//! `GET /api/v1/openapi.json`.

use std::borrow::Cow;

use axum::Json;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::{companies, diagnostics, health, jobs, qwc, users, webhooks, ErrorBody};
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
        jobs::enqueue,
        jobs::list,
        jobs::show,
        jobs::retry,
        jobs::cancel,
        jobs::resolve,
        health::show,
        qwc::download,
        qwc::create_link,
        qwc::list_links,
        qwc::revoke_link,
        qwc::patch_user,
        users::disable,
        users::enable,
        users::reset_password,
        diagnostics::show,
        document,
    ),
    components(schemas(ErrorBody, webhooks::WebhookEvent)),
    modifiers(&BearerAuth),
    tags(
        (name = "companies", description = "QuickBooks company files and their Web Connector users"),
        (name = "jobs", description = "The qbXML queue"),
        (name = "users", description = "Web Connector users: .qwc files and onboarding links"),
        (name = "diagnostics", description = "The catalog of problems and their fixes"),
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`: this document. Public, like the diagnostics catalog.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "diagnostics",
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
    use std::collections::BTreeSet;

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

    #[test]
    fn the_document_declares_bearer_security_and_uses_it() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert_eq!(doc["paths"]["/api/v1/jobs/{id}"]["get"]["security"][0]["bearer"], serde_json::json!([]));
        assert!(doc["components"]["schemas"]["JobView"]["properties"]["state"].is_object());
    }
}
