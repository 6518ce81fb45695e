//! qbXML validation at enqueue and JSON in and out, against the live server
//! and the simulated Web Connector.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_customer_and_an_invoice_are_created_and_read_back_as_json,
    every_schema_problem_is_refused_with_its_path,
    a_misordered_raw_job_gets_the_expected_order,
    a_request_type_newer_than_the_company_s_quickbooks_is_refused,
    validation_can_be_skipped_and_warnings_are_shown,
    an_iterator_job_result_has_one_array_over_all_pages,
    lines_and_line_groups_listed_in_ordered_keep_their_order,
);

async fn a_customer_and_an_invoice_are_created_and_read_back_as_json(b: Backend) {
    // Arrange
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    // Act: a customer, an invoice for it, and a query reading both back.
    let customer = json!({"request": {"CustomerAddRq": {"CustomerAdd": {
        "Phone": "555-0100", "Name": "Ann's Bakery", "BillAddress": {"City": "Springfield", "Addr1": "1 Main St"}}}}});
    let (s, c) = api.post("/companies/acme/jobs", customer).await;
    assert_eq!(s, 201, "{c}");
    let invoice = json!({"requests": [{"InvoiceAddRq": {"InvoiceAdd": {
        "CustomerRef": {"FullName": "Ann's Bakery"}, "TxnDate": "2026-12-03",
        "InvoiceLineAdd": [{"ItemRef": {"FullName": "Bread"}, "Quantity": 12, "Rate": "2.5"},
                           {"ItemRef": {"FullName": "Delivery"}, "Amount": 5}]}}}],
        "depends_on": [c["id"]]});
    let (s, i) = api.post("/companies/acme/jobs", invoice).await;
    assert_eq!(s, 201, "{i}");
    let read = json!({"requests": [{"CustomerQueryRq": {"FullName": "Ann's Bakery"}},
                                   {"InvoiceQueryRq": {"EntityFilter": {"FullName": "Ann's Bakery"}, "IncludeLineItems": true}}]});
    let (s, q) = api.post("/companies/acme/jobs", read).await;
    assert_eq!(s, 201, "{q}");
    app.connector("api").run_session().await;
    // Assert: the qbXML sent was in schema order with request ids, and the
    // answers read back as JSON.
    let (_, c) = api.get(&format!("/jobs/{}", c["id"].as_str().unwrap())).await;
    assert_eq!(c["state"], "done", "{c}");
    let sent = c["request"].as_str().unwrap();
    assert!(
        sent.contains("<CustomerAddRq requestID=\"1\"><CustomerAdd><Name>Ann's Bakery</Name><BillAddress><Addr1>1 Main St</Addr1><City>Springfield</City></BillAddress><Phone>555-0100</Phone></CustomerAdd></CustomerAddRq>"),
        "{sent}"
    );
    let rs = &c["result"][0]["CustomerAddRs"];
    assert_eq!(rs["@statusCode"], 0);
    assert_eq!(rs["@requestID"], "1");
    assert!(rs["CustomerRet"].is_object(), "one record, not repeatable: {rs}");
    let (_, i) = api.get(&format!("/jobs/{}", i["id"].as_str().unwrap())).await;
    assert_eq!(i["state"], "done", "{i}");
    let sent = i["request"].as_str().unwrap();
    assert!(sent.contains("<Quantity>12</Quantity><Rate>2.5</Rate></InvoiceLineAdd>"), "{sent}");
    assert!(sent.contains("<Amount>5.00</Amount>"), "{sent}");
    let (_, q) = api.get(&format!("/jobs/{}", q["id"].as_str().unwrap())).await;
    assert_eq!(q["state"], "done", "{q}");
    let result = q["result"].as_array().expect("result array");
    assert_eq!(result.len(), 2);
    let customers = result[0]["CustomerQueryRs"]["CustomerRet"].as_array().expect("queries answer arrays");
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["Name"], "Caf\u{e9} & Sons <x>");
    assert_eq!(result[1]["InvoiceQueryRs"]["@requestID"], "2");
    assert!(result[1]["InvoiceQueryRs"]["InvoiceRet"].is_array());
    assert_eq!(q["statuses"][1]["request_id"], "2");
}

async fn lines_and_line_groups_listed_in_ordered_keep_their_order(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let line = |item: &str| json!({"InvoiceLineAdd": {"ItemRef": {"FullName": item}, "Amount": 5}});
    let kit = json!({"InvoiceLineGroupAdd": {"ItemGroupRef": {"FullName": "Kit"}, "Quantity": 2}});
    let body = json!({"request": {"InvoiceAddRq": {"InvoiceAdd": {
        "#ordered": [line("Bread"), kit, line("Delivery")], "CustomerRef": {"FullName": "Ann's Bakery"}}}}});
    let (s, job) = api.post("/companies/acme/jobs", body).await;
    assert_eq!(s, 201, "{job}");
    app.connector("api").run_session().await;
    let (_, job) = api.get(&format!("/jobs/{}", job["id"].as_str().unwrap())).await;
    assert_eq!(job["state"], "done", "{job}");
    let sent = job["request"].as_str().unwrap();
    let at = |needle: &str| sent.find(needle).unwrap_or_else(|| panic!("{needle} in {sent}"));
    assert!(at("<CustomerRef>") < at("<FullName>Bread<"), "{sent}");
    assert!(
        at("<FullName>Bread<") < at("<FullName>Kit<") && at("<FullName>Kit<") < at("<FullName>Delivery<"),
        "{sent}"
    );
    // Lines given both ways are refused, with the key's path.
    let both = json!({"request": {"InvoiceAddRq": {"InvoiceAdd": {"CustomerRef": {"FullName": "A"},
        "InvoiceLineAdd": {"Amount": 1}, "#ordered": [line("Bread")]}}}});
    let (s, e) = api.post("/companies/acme/jobs", both).await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["errors"][0]["path"], "InvoiceAddRq/InvoiceAdd/InvoiceLineAdd");
    assert_eq!(e["errors"][0]["code"], "bad_ordered");
}

async fn every_schema_problem_is_refused_with_its_path(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let long = "x".repeat(57);
    let body = json!({"requests": [
        {"CustomerAddRq": {"CustomerAdd": {"Name": long, "IsActive": "maybe", "Nmae": "typo"}}},
        {"InvoiceAddRq": {"InvoiceAdd": {"TxnDate": "2026-13-01"}}},
    ]});
    let (s, e) = api.post("/companies/acme/jobs", body).await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["code"], "qbxml_invalid");
    assert_eq!(e["version"], "16.0", "no session yet: the newest schema");
    let errors: Vec<(String, String)> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["path"].as_str().unwrap().to_owned(), i["code"].as_str().unwrap().to_owned()))
        .collect();
    let has = |p: &str, c: &str| errors.contains(&(p.to_owned(), c.to_owned()));
    assert!(has("CustomerAddRq/CustomerAdd/Name", "too_long"), "{errors:?}");
    assert!(has("CustomerAddRq/CustomerAdd/IsActive", "bad_boolean"), "{errors:?}");
    assert!(has("CustomerAddRq/CustomerAdd/Nmae", "unknown_element"), "{errors:?}");
    assert!(has("InvoiceAddRq/InvoiceAdd/TxnDate", "bad_date"), "{errors:?}");
    assert!(has("InvoiceAddRq/InvoiceAdd/CustomerRef", "missing_element"), "{errors:?}");
    let too_long = e["errors"].as_array().unwrap().iter().find(|i| i["code"] == "too_long").unwrap();
    assert_eq!(too_long["message"], "at most 41 characters; got 57");
    // Nothing was queued.
    let (_, page) = api.get("/companies/acme/jobs").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 0);
    // Shapes the API cannot take are 400s.
    let both = json!({"qbxml": "<CustomerQueryRq/>", "request": {"CustomerQueryRq": {}}});
    assert_eq!(api.post("/companies/acme/jobs", both).await.0, 400);
    let bad_mode = json!({"request": {"CustomerQueryRq": {}}, "on_error": "sometimes"});
    assert_eq!(api.post("/companies/acme/jobs", bad_mode).await.0, 400);
}

async fn a_misordered_raw_job_gets_the_expected_order(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let qbxml = "<CustomerAddRq><CustomerAdd><Phone>555</Phone><Name>Ann</Name></CustomerAdd></CustomerAddRq>";
    let (s, e) = api.post("/companies/acme/jobs", json!({ "qbxml": qbxml })).await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["errors"][0]["path"], "CustomerAddRq/CustomerAdd");
    assert_eq!(e["errors"][0]["code"], "wrong_order");
    let msg = e["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("expected Name, Phone; got Phone, Name"), "{msg}");
}

async fn a_request_type_newer_than_the_company_s_quickbooks_is_refused(b: Backend) {
    // Arrange: a Web Connector whose QuickBooks reports qbXML 13.0.
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let alert = json!({"request": {"AlertQueryRq": {"OwnerID": "0"}}});
    // Before any session the newest schema (16.0) applies: accepted.
    let (s, before) = api.post("/companies/acme/jobs", alert.clone()).await;
    assert_eq!(s, 201, "{before}");
    let (s, _) = api.post(&format!("/jobs/{}/cancel", before["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(s, 200);
    let mut wc = app.connector("api");
    wc.hcp = wc.hcp.replace(
        "<SupportedQBXMLVersion>5.0</SupportedQBXMLVersion>",
        "<SupportedQBXMLVersion>5.0</SupportedQBXMLVersion><SupportedQBXMLVersion>13.0</SupportedQBXMLVersion>",
    );
    assert!(wc.hcp.contains("13.0"), "the HCP answer lists 13.0");
    // A session with work: the HCP answer comes with the first request.
    let (s, _) = api.post("/companies/acme/jobs", json!({"request": {"CustomerQueryRq": {"MaxReturned": 1}}})).await;
    assert_eq!(s, 201);
    wc.run_session().await;
    let (_, company) = api.get("/companies/acme").await;
    assert_eq!(company["qbxml_version"], "13.0", "{company}");
    // Act
    let (s, e) = api.post("/companies/acme/jobs", alert).await;
    let (s_raw, e_raw) =
        api.post("/companies/acme/jobs", json!({"qbxml": "<AlertQueryRq><OwnerID>0</OwnerID></AlertQueryRq>"})).await;
    // Assert
    for (s, e) in [(s, e), (s_raw, e_raw)] {
        assert_eq!(s, 422, "{e}");
        assert_eq!(e["version"], "13.0");
        assert_eq!(e["errors"][0]["code"], "request_needs_version");
        let msg = e["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains("AlertQueryRq needs qbXML 16.0") && msg.contains("reported qbXML 13.0"), "{msg}");
    }
}

async fn validation_can_be_skipped_and_warnings_are_shown(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.company("acme", None).await;
    let api = app.api().await;
    let future = "<CustomerFutureQueryRq><Whatever>1</Whatever></CustomerFutureQueryRq>";
    assert_eq!(api.post("/companies/acme/jobs", json!({ "qbxml": future })).await.0, 422);
    let (s, job) = api.post("/companies/acme/jobs", json!({"qbxml": future, "validate": false})).await;
    assert_eq!(s, 201, "{job}");
    // JSON needs the schema to be written at all, validated or not.
    let unknown = json!({"request": {"CustomerFutureQueryRq": {}}, "validate": false});
    let (s, e) = api.post("/companies/acme/jobs", unknown).await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (422, Some("unknown_request")), "{e}");
    let emoji = json!({"request": {"CustomerAddRq": {"CustomerAdd": {"Name": "Ann \u{1F600}"}}}});
    let (s, job) = api.post("/companies/acme/jobs", emoji).await;
    assert_eq!(s, 201, "{job}");
    assert_eq!(job["warnings"][0]["path"], "CustomerAddRq/CustomerAdd/Name");
    assert_eq!(job["warnings"][0]["code"], "unstorable_character");
    let (_, shown) = api.get(&format!("/jobs/{}", job["id"].as_str().unwrap())).await;
    assert_eq!(shown["warnings"], job["warnings"]);
}

async fn an_iterator_job_result_has_one_array_over_all_pages(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let api = app.api().await;
    let query = json!({"request": {"CustomerQueryRq": {"@iterator": "Start", "MaxReturned": 2}}});
    let (s, job) = api.post("/companies/acme/jobs", query).await;
    assert_eq!(s, 201, "{job}");
    let wc = app.connector("api");
    wc.qb.set_records(5);
    wc.run_session().await;
    let (_, done) = api.get(&format!("/jobs/{}", job["id"].as_str().unwrap())).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["pages"].as_array().map(Vec::len), Some(3));
    let rs = &done["result"][0]["CustomerQueryRs"];
    let names: Vec<&str> = rs["CustomerRet"].as_array().unwrap().iter().map(|c| c["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Customer 0", "Customer 1", "Customer 2", "Customer 3", "Customer 4"]);
    assert_eq!(rs["@retCount"], 5);
    assert_eq!(rs["@iteratorRemainingCount"], 0);
    let _: &Value = rs;
}
