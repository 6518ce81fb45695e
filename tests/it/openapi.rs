//! The OpenAPI document served at `/api/v1/openapi.json`.

use std::collections::BTreeSet;

use utoipa::OpenApi;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(the_served_openapi_document_covers_every_registered_route);

/// Writes the document to `target/openapi.json`, where `.ci/run` hands it
/// to a standard validator (openapi-spec-validator); the structural check
/// is `api::openapi`'s unit test.
#[test]
fn the_openapi_document_is_written_for_the_ci_validator() {
    let doc = serde_json::to_string_pretty(&qbwcd::api::ApiDoc::openapi()).unwrap();
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`, wherever the target dir is.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target dir");
    std::fs::write(target.join("openapi.json"), doc).expect("write target/openapi.json");
}

async fn the_served_openapi_document_covers_every_registered_route(b: Backend) {
    let app = TestApp::spawn(b).await;
    let resp = reqwest::get(format!("{}/api/v1/openapi.json", app.url)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().await.unwrap();
    // What the structural check and CI's validator see is what is served.
    assert_eq!(doc, serde_json::to_value(qbwcd::api::ApiDoc::openapi()).unwrap());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    // The router is built from this very list (qbwcd::api::ROUTES).
    let routed: BTreeSet<(String, String)> =
        qbwcd::api::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), format!("/api/v1{p}"))).collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(missing.is_empty(), "registered routes missing from openapi.json: {missing:?}");
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(extra.is_empty(), "documented routes that are not registered: {extra:?}");

    // Every listed route is really served (not 404/405) by the router.
    let http = reqwest::Client::new();
    for (method, path) in qbwcd::api::ROUTES {
        let path = path.replace("{slug}", "nope").replace("{id}", "nope").replace("{code}", "nope");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let status = http.request(m, format!("{}/api/v1{path}", app.url)).send().await.unwrap().status();
        assert_ne!(status, 405, "{method} {path} is not routed");
        if path != "/diagnostics/nope" {
            assert_ne!(status, 404, "{method} {path} is not routed");
        }
    }
}
