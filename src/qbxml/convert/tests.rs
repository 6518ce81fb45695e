//! Validation and conversion against the real compiled schemas.

use serde_json::{json, Value};

use super::*;
use crate::qbxml::schema::{BaseType, ElementId, ElementKind, Particle, SimpleType};

fn v13() -> &'static Schema {
    Schema::for_version(Some(Version::new(13, 0)))
}

fn v16() -> &'static Schema {
    Schema::for_version(None)
}

fn issues(schema: &Schema, text: &str) -> Vec<Issue> {
    check_qbxml(schema, None, text).err().map(|e| e.issues).unwrap_or_default()
}

/// Each issue's path and code.
fn codes(issues: &[Issue]) -> Vec<(&str, &str)> {
    issues.iter().map(|i| (i.path.as_str(), i.code.as_str())).collect()
}

#[test]
fn a_long_name_is_reported_with_its_path_and_the_limit() {
    let name = "x".repeat(57);
    let got = issues(v16(), &format!("<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>"));
    assert_eq!(
        got,
        vec![Issue::new("CustomerAddRq/CustomerAdd/Name", "too_long", "at most 41 characters; got 57".into())]
    );
}

#[test]
fn misordered_elements_get_the_expected_order() {
    let text =
        "<CustomerAddRq><CustomerAdd><CompanyName>Acme</CompanyName><Name>Acme</Name></CustomerAdd></CustomerAddRq>";
    let got = issues(v16(), text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, "CustomerAddRq/CustomerAdd");
    assert_eq!(got[0].code, "wrong_order");
    assert!(got[0].message.contains("expected Name, CompanyName"), "{}", got[0].message);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "<CustomerAddRq requestID=\"1\" bogus=\"x\"><CustomerAdd><Name>A</Name><IsActive>maybe</IsActive>\
                <Nmae>x</Nmae><JobStatus>Unknown</JobStatus></CustomerAdd></CustomerAddRq>\
                <CustomerFrobRq/><CustomerAddRq><CustomerAdd></CustomerAdd></CustomerAddRq>";
    let got = issues(v16(), text);
    let codes = codes(&got);
    assert!(codes.contains(&("CustomerAddRq[1]/@bogus", "unknown_attribute")), "{codes:?}");
    assert!(codes.contains(&("CustomerAddRq[1]/CustomerAdd/IsActive", "bad_boolean")), "{codes:?}");
    assert!(codes.contains(&("CustomerAddRq[1]/CustomerAdd/Nmae", "unknown_element")), "{codes:?}");
    assert!(codes.contains(&("CustomerAddRq[1]/CustomerAdd/JobStatus", "bad_enum")), "{codes:?}");
    assert!(codes.contains(&("CustomerFrobRq", "unknown_request")), "{codes:?}");
    assert!(codes.contains(&("CustomerAddRq[2]/CustomerAdd/Name", "missing_element")), "{codes:?}");
}

#[test]
fn two_alternatives_of_one_choice_are_refused() {
    let text = "<CustomerQueryRq><ListID>80000001-1</ListID><FullName>Acme</FullName></CustomerQueryRq>";
    let got = issues(v16(), text);
    assert!(got.iter().any(|i| i.code == "choice_conflict" && i.path == "CustomerQueryRq/FullName"), "{got:?}");
}

#[test]
fn a_request_type_newer_than_the_company_names_both_versions() {
    let alert = "<AlertQueryRq><OwnerID>0</OwnerID></AlertQueryRq>";
    let got = check_qbxml(v13(), Some(Version::new(13, 0)), alert).unwrap_err();
    assert_eq!(got.issues[0].code, "request_needs_version");
    assert!(got.issues[0].message.contains("16.0") && got.issues[0].message.contains("13.0"), "{:?}", got.issues);
    assert_eq!(check_qbxml(v16(), None, alert), Ok(()));
    let missing = check_qbxml(v16(), None, "<AlertQueryRq/>").unwrap_err();
    assert_eq!(missing.issues[0].path, "AlertQueryRq/OwnerID");
}

#[test]
fn json_keys_in_any_order_become_qbxml_in_schema_order_with_request_ids() {
    let req = json!({"CustomerAddRq": {"CustomerAdd": {"Phone": "555", "CompanyName": "Acme Inc", "Name": "Acme",
        "BillAddress": {"City": "Springfield", "Addr1": "1 Main St"}}}});
    let xml = json_to_qbxml(v16(), None, &[req.clone(), req], OnError::Continue, true).expect("valid");
    assert_eq!(
        xml,
        "<QBXML><QBXMLMsgsRq onError=\"continueOnError\">\
         <CustomerAddRq requestID=\"1\"><CustomerAdd><Name>Acme</Name><CompanyName>Acme Inc</CompanyName>\
         <BillAddress><Addr1>1 Main St</Addr1><City>Springfield</City></BillAddress><Phone>555</Phone></CustomerAdd></CustomerAddRq>\
         <CustomerAddRq requestID=\"2\"><CustomerAdd><Name>Acme</Name><CompanyName>Acme Inc</CompanyName>\
         <BillAddress><Addr1>1 Main St</Addr1><City>Springfield</City></BillAddress><Phone>555</Phone></CustomerAdd></CustomerAddRq>\
         </QBXMLMsgsRq></QBXML>"
    );
}

#[test]
fn json_scalars_are_converted_per_type_and_mistakes_have_paths() {
    let req = json!({"InvoiceAddRq": {"@requestID": 7, "InvoiceAdd": {"CustomerRef": {"FullName": "Acme"},
        "TxnDate": "2024-01-31", "IsToBePrinted": false,
        "InvoiceLineAdd": {"ItemRef": {"FullName": "Consulting"}, "Quantity": 3, "Rate": "12.5", "Amount": 37.5}}}});
    let xml = json_to_qbxml(v16(), None, &[req], OnError::Stop, true).expect("valid");
    assert!(xml.contains("<InvoiceAddRq requestID=\"7\">"), "{xml}");
    assert!(xml.contains("<IsToBePrinted>false</IsToBePrinted>"), "{xml}");
    assert!(xml.contains("<Quantity>3</Quantity><Rate>12.5</Rate><Amount>37.50</Amount>"), "{xml}");
    let bad = json!({"InvoiceAddRq": {"InvoiceAdd": {"CustomerRef": {"FullName": "Acme"}, "TxnDate": 20240131,
        "InvoiceLineAdd": [{"ItemRef": "Consulting"}, {"Amount": "1.234"}], "Frob": 1}}});
    let err = json_to_qbxml(v16(), None, &[bad], OnError::Stop, true).unwrap_err();
    let codes = codes(&err.issues);
    assert!(codes.contains(&("InvoiceAddRq/InvoiceAdd/TxnDate", "wrong_json_type")), "{codes:?}");
    assert!(codes.contains(&("InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[1]/ItemRef", "wrong_json_type")), "{codes:?}");
    assert!(codes.contains(&("InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[2]/Amount", "bad_decimal")), "{codes:?}");
    assert!(codes.contains(&("InvoiceAddRq/InvoiceAdd/Frob", "unknown_element")), "{codes:?}");
}

#[test]
fn unvalidated_json_still_needs_declared_attributes() {
    // An attribute's name is written as given: an undeclared one is refused
    // even unvalidated, so no key can carry markup into the qbXML.
    let injected = json!({"CustomerAddRq": {
        "@x=\"1\"><CustomerQueryRq y": "1",
        "CustomerAdd": {"Name": "Ann"}}});
    let err = json_to_qbxml(v16(), None, &[injected], OnError::Stop, false).unwrap_err();
    assert_eq!(err.issues[0].code, "unknown_attribute", "{err:?}");
    assert_eq!(err.issues[0].path, "CustomerAddRq/@x=\"1\"><CustomerQueryRq y");
    let declared = json!({"CustomerAddRq": {"@requestID": "7", "CustomerAdd": {"Name": "Ann"}}});
    let xml = json_to_qbxml(v16(), None, &[declared], OnError::Stop, false).expect("declared");
    assert!(xml.contains("<CustomerAddRq requestID=\"7\">"), "{xml}");
}

#[test]
fn characters_xml_refuses_are_refused_from_json_even_unvalidated() {
    // QuickBooks' parser refuses a message set holding them, as qbwcd's
    // submission reader refuses them in raw qbXML.
    let req = json!({"CustomerAddRq": {"@requestID": "r\u{85}", "CustomerAdd": {"Name": "Ann\u{1}", "Notes": "ok\tfine\r\n",
        "BillAddress": {"Addr1": "x\u{FFFF}"}}}});
    for validate in [true, false] {
        let err = json_to_qbxml(v16(), None, std::slice::from_ref(&req), OnError::Stop, validate).unwrap_err();
        assert_eq!(
            codes(&err.issues),
            [
                ("CustomerAddRq/@requestID", "bad_character"),
                ("CustomerAddRq/CustomerAdd/Name", "bad_character"),
                ("CustomerAddRq/CustomerAdd/BillAddress/Addr1", "bad_character")
            ],
            "validate {validate}"
        );
        assert_eq!(err.issues[0].message, "U+0085, a control character QuickBooks cannot take; remove it");
        assert_eq!(err.issues[1].message, "U+0001, which XML does not allow; remove it");
    }
    let raw = "<CustomerAddRq><CustomerAdd><Name>Ann\u{1}</Name></CustomerAdd></CustomerAddRq>";
    let refused = crate::qbxml::parse_submission(raw).unwrap_err().to_string();
    assert!(refused.contains("character U+0001, which XML does not allow at line 1, column 38"), "{refused}");
}

#[test]
fn an_unknown_request_type_is_refused_after_a_thousand_other_problems() {
    // Unvalidated, so the others' problems (a missing name each) are not
    // reported; the last request's type is, and its key never reaches the
    // qbXML.
    let mut requests = vec![json!({"CustomerAddRq": {"CustomerAdd": {"Notes": "no name"}}}); MAX_ISSUES + 5];
    requests.push(json!({"Foo><CustomerQueryRq": {}}));
    let err = json_to_qbxml(v16(), None, &requests, OnError::Stop, false).unwrap_err();
    assert_eq!(err.issues.len(), 1, "{:?}", err.issues.first());
    assert_eq!((err.issues[0].path.as_str(), err.issues[0].code.as_str()), ("Foo><CustomerQueryRq", "unknown_request"));
    // Validated, the cap is reached and the job is refused all the same.
    let err = json_to_qbxml(v16(), None, &requests, OnError::Stop, true).unwrap_err();
    assert_eq!(err.issues.len(), MAX_ISSUES);
}

#[test]
fn unvalidated_json_still_needs_known_request_types_and_elements() {
    let long = json!({"CustomerAddRq": {"CustomerAdd": {"Name": "x".repeat(60)}}});
    assert!(json_to_qbxml(v16(), None, &[long], OnError::Stop, false).is_ok());
    let unknown = json!({"CustomerFrobRq": {}});
    assert_eq!(
        json_to_qbxml(v16(), None, &[unknown], OnError::Stop, false).unwrap_err().issues[0].code,
        "unknown_request"
    );
    let shape = json!({"CustomerAddRq": {}, "VendorAddRq": {}});
    assert_eq!(
        json_to_qbxml(v16(), None, &[shape], OnError::Stop, true).unwrap_err().issues[0].code,
        "bad_request_shape"
    );
}

#[test]
fn answers_become_json_with_arrays_where_repeatable_and_unknown_elements_kept() {
    let answer = "<?xml version=\"1.0\" ?><QBXML><QBXMLMsgsRs>\
        <CustomerQueryRs requestID=\"1\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\" retCount=\"1\">\
        <CustomerRet><ListID>80000001-1</ListID><Name>A &amp; B</Name><IsActive>true</IsActive><Sublevel>0</Sublevel>\
        <Balance>10.50</Balance><FutureField><Part>1</Part><Part>2</Part></FutureField>\
        <DataExtRet><DataExtName>a</DataExtName></DataExtRet></CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>";
    let got: Value = serde_json::from_str(&answer_to_json(v16(), &[answer]).expect("converts")).expect("json");
    assert_eq!(
        got,
        json!([{"CustomerQueryRs": {"@requestID": "1", "@statusCode": 0, "@statusSeverity": "Info",
            "@statusMessage": "Status OK", "@retCount": 1,
            "CustomerRet": [{"ListID": "80000001-1", "Name": "A & B", "IsActive": true, "Sublevel": 0, "Balance": "10.50",
                "FutureField": {"Part": ["1", "2"]}, "DataExtRet": [{"DataExtName": "a"}]}]}}])
    );
}

#[test]
fn iterator_pages_merge_into_one_array_per_record_type() {
    let page = |names: &[&str], remaining: u32| {
        let recs: String = names.iter().map(|n| format!("<ItemServiceRet><Name>{n}</Name></ItemServiceRet><ItemNonInventoryRet><Name>{n}-n</Name></ItemNonInventoryRet>")).collect();
        format!("<QBXML><QBXMLMsgsRs><ItemQueryRs statusCode=\"0\" statusSeverity=\"Info\" retCount=\"{}\" iteratorRemainingCount=\"{remaining}\" iteratorID=\"{{abc}}\">{recs}</ItemQueryRs></QBXMLMsgsRs></QBXML>", names.len() * 2)
    };
    let (a, b) = (page(&["a", "b"], 1), page(&["c"], 0));
    let got: Value = serde_json::from_str(&answer_to_json(v16(), &[&a, &b]).expect("converts")).expect("json");
    let rs = &got[0]["ItemQueryRs"];
    assert_eq!(rs["@retCount"], 6);
    assert_eq!(rs["@iteratorRemainingCount"], 0);
    let names: Vec<&str> =
        rs["ItemServiceRet"].as_array().unwrap().iter().map(|r| r["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(rs["ItemNonInventoryRet"].as_array().unwrap().len(), 3);
}

#[test]
fn the_captured_answer_converts_with_arrays_where_repeatable() {
    let soap = include_str!("../../../tests/fixtures/soap/receiveResponseXML.xml");
    let start = soap.find("<response>").unwrap() + "<response>".len();
    let end = soap.find("</response>").unwrap();
    let answer = soap[start..end].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    let got: Value = serde_json::from_str(&answer_to_json(v13(), &[&answer]).expect("converts")).expect("json");
    let ret = &got[0]["CustomerAddRs"]["CustomerRet"];
    assert_eq!(got[0]["CustomerAddRs"]["@statusCode"], 0);
    assert_eq!(ret["Name"], "Shannon 171 Daniels");
    assert_eq!(ret["IsActive"], true);
    assert_eq!(ret["Sublevel"], 0);
    assert_eq!(ret["Balance"], "0.00");
    assert_eq!(ret["ShipAddress"]["City"], "Willington");
}

#[test]
fn characters_quickbooks_cannot_store_are_warnings_with_paths() {
    let w = qbxml_warnings("<CustomerAddRq><CustomerAdd><Name>Café 😀</Name></CustomerAdd></CustomerAddRq>");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].path, "CustomerAddRq/CustomerAdd/Name");
    assert_eq!(w[0].code, "unstorable_character");
}

/// An element built by a test, written as qbXML the way the tree writes
/// one.
#[derive(Clone, Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<El>,
    text: String,
}

impl El {
    fn named(name: &str) -> Self {
        El { name: name.to_owned(), attrs: Vec::new(), children: Vec::new(), text: String::new() }
    }

    fn write_xml(&self, out: &mut String) {
        let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        out.push_str(&format!("<{}", self.name));
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}=\"{}\"", escape(v).replace('"', "&quot;")));
        }
        out.push('>');
        out.push_str(&escape(&self.text));
        self.children.iter().for_each(|c| c.write_xml(out));
        out.push_str(&format!("</{}>", self.name));
    }
}

/// A value its type accepts.
fn sample(ty: &SimpleType) -> String {
    if let Some(first) = ty.enumeration.first() {
        return first.clone();
    }
    match ty.base {
        BaseType::Amount => "1.00".into(),
        BaseType::Price | BaseType::Quantity | BaseType::Percent | BaseType::Float => "1.5".into(),
        BaseType::Integer => ty.min_inclusive.unwrap_or(1).max(ty.max_inclusive.map_or(1, |m| m.min(1))).to_string(),
        BaseType::Boolean => "true".into(),
        BaseType::Date => "2024-01-31".into(),
        BaseType::DateTime => "2024-01-31T10:00:00".into(),
        BaseType::TimeInterval => "PT1H".into(),
        BaseType::Guid => "{0FBB0C1D-2C4B-4B43-9A1E-0123456789AB}".into(),
        BaseType::Id => "80000001-1".into(),
        _ => "x".into(),
    }
}

/// The smallest instance of `decl`: required children only, the first
/// alternative of each choice.
fn minimal(schema: &Schema, decl: ElementId) -> El {
    let el = schema.element(decl);
    let mut node = El::named(&el.name);
    match &el.kind {
        ElementKind::Simple { ty, .. } => node.text = sample(schema.simple_type(*ty)),
        ElementKind::Complex(_) => {
            if let Some(p) = schema.content(decl) {
                fill(schema, p, &mut node.children);
            }
        }
    }
    node
}

fn fill(schema: &Schema, p: &Particle, out: &mut Vec<El>) {
    let times = p.occurs().min;
    for _ in 0..times {
        match p {
            Particle::Element { element, .. } => out.push(minimal(schema, *element)),
            Particle::Sequence { items, .. } => items.iter().for_each(|i| fill(schema, i, out)),
            Particle::Choice { items, .. } => {
                if let Some(first) = items.first() {
                    // A choice made once takes its first alternative at least once.
                    let mut inner = Vec::new();
                    fill_once(schema, first, &mut inner);
                    out.extend(inner);
                }
            }
        }
    }
}

fn fill_once(schema: &Schema, p: &Particle, out: &mut Vec<El>) {
    match p {
        Particle::Element { element, occurs, .. } => {
            for _ in 0..occurs.min.max(1) {
                out.push(minimal(schema, *element));
            }
        }
        Particle::Sequence { items, .. } => items.iter().for_each(|i| fill(schema, i, out)),
        Particle::Choice { items, .. } => {
            if let Some(first) = items.first() {
                fill_once(schema, first, out);
            }
        }
    }
}

#[test]
fn a_minimal_instance_of_every_request_type_validates_converts_and_round_trips() {
    for schema in Schema::all() {
        let mut checked = 0;
        for rt in schema.requests() {
            let mut rq = minimal(schema, rt.request);
            if schema.attributes(rt.request).iter().any(|a| a.name == "requestID") {
                rq.attrs.push(("requestID".into(), "1".into()));
            }
            let mut xml = String::new();
            rq.write_xml(&mut xml);
            let v = schema.version();
            assert_eq!(check_qbxml(schema, Some(v), &xml), Ok(()), "{v} {}: {xml}", rt.name);
            let as_json = requests_to_json(schema, &xml).expect("to json");
            let parsed: Value = serde_json::from_str(&as_json).expect("valid json");
            let back = json_to_qbxml(schema, Some(v), &requests_of(&parsed), OnError::Stop, true)
                .unwrap_or_else(|e| panic!("{v} {}: {e}\n{as_json}", rt.name));
            let expected = format!("<QBXML><QBXMLMsgsRq onError=\"stopOnError\">{xml}</QBXMLMsgsRq></QBXML>");
            assert_eq!(back, expected, "{v} {}: {as_json}", rt.name);
            checked += 1;
        }
        assert!(checked > 200, "{checked} request types in {}", schema.version());
    }
}

mod props {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn names() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "CustomerAddRq",
            "CustomerAdd",
            "Name",
            "InvoiceAddRq",
            "InvoiceAdd",
            "InvoiceLineAdd",
            "Amount",
            "CustomerRef",
            "FullName",
            "ListID",
            "@requestID",
            "@iterator",
            "#text",
            "IsActive",
            "TxnDate",
            "BillAddress",
            "Addr1",
            "CustomerQueryRq",
            "MaxReturned",
            "Bogus",
        ])
        .prop_map(str::to_owned)
    }

    fn json_tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,50}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(names(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_json_requests_never_panic_and_errors_have_paths(tree in json_tree()) {
            for validate in [true, false] {
                match json_to_qbxml(v16(), None, &requests_of(&tree), OnError::Stop, validate) {
                    Ok(xml) => {
                        let sub = crate::qbxml::parse_submission(&xml);
                        prop_assert!(sub.is_ok() || xml.contains("iterator"), "{xml}: {sub:?}");
                    }
                    Err(e) => {
                        prop_assert!(!e.issues.is_empty());
                        for i in &e.issues {
                            prop_assert!(!i.path.is_empty() && !i.code.is_empty() && !i.message.is_empty(), "{i:?}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_leaf_with_attributes_takes_text_and_attributes_both_ways() {
    let req = json!({"ReceivePaymentAddRq": {"ReceivePaymentAdd": {"CustomerRef": {"FullName": "Ann"},
        "AppliedToTxnAdd": {"TxnID": {"#text": "1A-1", "@useMacro": "TxnID:inv"}, "PaymentAmount": 10}}}});
    let xml = json_to_qbxml(v16(), None, &[req], OnError::Stop, true).expect("valid");
    assert!(xml.contains("<TxnID useMacro=\"TxnID:inv\">1A-1</TxnID><PaymentAmount>10.00</PaymentAmount>"), "{xml}");
    let back: Value = serde_json::from_str(&requests_to_json(v16(), &xml).expect("to json")).expect("json");
    let txn = &back[0]["ReceivePaymentAddRq"]["ReceivePaymentAdd"]["AppliedToTxnAdd"][0]["TxnID"];
    assert_eq!(txn, &json!({"@useMacro": "TxnID:inv", "#text": "1A-1"}));
}

/// Paths are built only for nodes with a problem, from the node's place
/// among its siblings: the position counts same-named siblings only, and a
/// name that occurs once has none.
#[test]
fn paths_number_same_named_siblings_at_every_level() {
    let line = |desc: &str, amount: &str| {
        format!("<InvoiceLineAdd><ItemRef><FullName>W</FullName></ItemRef><Desc>{desc}</Desc><Amount>{amount}</Amount></InvoiceLineAdd>")
    };
    let text = format!(
        "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>C</FullName></CustomerRef><Memo>m</Memo>{}{}<InvoiceLineGroupAdd><ItemGroupRef><FullName>G</FullName></ItemGroupRef></InvoiceLineGroupAdd>{}</InvoiceAdd></InvoiceAddRq>\
         <CustomerQueryRq><Bogus/></CustomerQueryRq>",
        line("a", "1.00"),
        line("b 😀", "1.234"),
        line("c", "x"),
    );
    let got = issues(v16(), &text);
    let codes = codes(&got);
    assert_eq!(
        codes,
        [
            ("InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[2]/Amount", "bad_decimal"),
            ("InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[3]/Amount", "bad_decimal"),
            ("CustomerQueryRq/Bogus", "unknown_element"),
        ]
    );
    let w = qbxml_warnings(&text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, "InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[2]/Desc");
}

/// JSON paths too are built only for values with a problem: repeated
/// request types are numbered, attributes are `@name`, array items `[n]`.
#[test]
fn json_paths_name_repeated_requests_attributes_and_items() {
    let reqs = [
        json!({"CustomerAddRq": {"CustomerAdd": {"Name": {"x": 1}}}}),
        json!({"CustomerAddRq": {"@requestID": {"a": 1}, "CustomerAdd": {"Name": "A"}}}),
        json!("CustomerQueryRq"),
    ];
    let err = json_to_qbxml(v16(), None, &reqs, OnError::Stop, true).unwrap_err();
    let codes = codes(&err.issues);
    assert!(codes.contains(&("CustomerAddRq[1]/CustomerAdd/Name/x", "unknown_element")), "{codes:?}");
    assert!(codes.contains(&("CustomerAddRq[2]/@requestID", "wrong_json_type")), "{codes:?}");
    assert!(codes.contains(&("requests[3]", "bad_request_shape")), "{codes:?}");
}

fn line(item: &str) -> Value {
    json!({"ItemRef": {"FullName": item}, "Amount": "1.00"})
}

fn group(item: &str) -> Value {
    json!({"ItemGroupRef": {"FullName": item}, "Quantity": 1})
}

/// Invoice lines and line groups interleave in `#ordered`, keep their
/// order into the qbXML and come back the same way from `to-json`.
#[test]
fn ordered_lists_interleave_lines_and_groups_both_ways() {
    let req = json!({"InvoiceAddRq": {"InvoiceAdd": {
        "#ordered": [{"InvoiceLineAdd": line("A")}, {"InvoiceLineGroupAdd": group("G")}, {"InvoiceLineAdd": line("B")}],
        "Memo": "m", "CustomerRef": {"FullName": "C"}}}});
    let xml = json_to_qbxml(v16(), None, &[req], OnError::Stop, true).expect("valid");
    let body = "<InvoiceAdd><CustomerRef><FullName>C</FullName></CustomerRef><Memo>m</Memo>\
         <InvoiceLineAdd><ItemRef><FullName>A</FullName></ItemRef><Amount>1.00</Amount></InvoiceLineAdd>\
         <InvoiceLineGroupAdd><ItemGroupRef><FullName>G</FullName></ItemGroupRef><Quantity>1</Quantity></InvoiceLineGroupAdd>\
         <InvoiceLineAdd><ItemRef><FullName>B</FullName></ItemRef><Amount>1.00</Amount></InvoiceLineAdd></InvoiceAdd>";
    assert_eq!(
        xml,
        format!("<QBXML><QBXMLMsgsRq onError=\"stopOnError\"><InvoiceAddRq requestID=\"1\">{body}</InvoiceAddRq></QBXMLMsgsRq></QBXML>")
    );
    let back: Value = serde_json::from_str(&requests_to_json(v16(), &xml).expect("to json")).expect("json");
    let add = &back[0]["InvoiceAddRq"]["InvoiceAdd"];
    assert_eq!(
        add["#ordered"][1],
        json!({"InvoiceLineGroupAdd": {"ItemGroupRef": {"FullName": "G"}, "Quantity": "1"}})
    );
    assert!(add.get("InvoiceLineAdd").is_none(), "{add}");
    assert_eq!(json_to_qbxml(v16(), None, &requests_of(&back), OnError::Stop, true).expect("valid"), xml);

    // Lines that do not interleave stay keys: one array per name.
    let plain = "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>C</FullName></CustomerRef>\
         <InvoiceLineAdd><Amount>1.00</Amount></InvoiceLineAdd><InvoiceLineAdd><Amount>2.00</Amount></InvoiceLineAdd>\
         <InvoiceLineGroupAdd><ItemGroupRef><FullName>G</FullName></ItemGroupRef></InvoiceLineGroupAdd></InvoiceAdd></InvoiceAddRq>";
    let back: Value = serde_json::from_str(&requests_to_json(v16(), plain).expect("to json")).expect("json");
    let add = &back[0]["InvoiceAddRq"]["InvoiceAdd"];
    assert!(add.get("#ordered").is_none(), "{add}");
    assert_eq!(add["InvoiceLineAdd"].as_array().map(Vec::len), Some(2), "{add}");
}

/// Every way to misuse `#ordered` is an issue with its path. A JSON problem
/// inside an item (a wrong type) has the item's JSON path; a value the
/// schema refuses has its element path, as in raw qbXML.
#[test]
fn ordered_lists_are_refused_with_paths_when_misused() {
    let cases = [
        (
            json!({"InvoiceLineAdd": line("A"), "#ordered": [{"InvoiceLineGroupAdd": group("G")}]}),
            "InvoiceAddRq/InvoiceAdd/InvoiceLineAdd",
            "bad_ordered",
        ),
        (json!({"#ordered": [{"Memo": "m"}]}), "InvoiceAddRq/InvoiceAdd/#ordered[1]/Memo", "bad_ordered"),
        (json!({"#ordered": {"InvoiceLineAdd": line("A")}}), "InvoiceAddRq/InvoiceAdd/#ordered", "bad_ordered"),
        (
            json!({"#ordered": [{"InvoiceLineAdd": line("A"), "InvoiceLineGroupAdd": group("G")}]}),
            "InvoiceAddRq/InvoiceAdd/#ordered[1]",
            "bad_ordered",
        ),
        (
            json!({"#ordered": [{"InvoiceLineAdd": [line("A"), line("B")]}]}),
            "InvoiceAddRq/InvoiceAdd/#ordered[1]/InvoiceLineAdd",
            "wrong_json_type",
        ),
        (
            json!({"#ordered": [{"InvoiceLine": line("A")}]}),
            "InvoiceAddRq/InvoiceAdd/#ordered[1]/InvoiceLine",
            "unknown_element",
        ),
        (
            json!({"#ordered": [{"InvoiceLineAdd": line("A")}, {"InvoiceLineAdd": {"Amount": "1.234"}}]}),
            "InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[2]/Amount",
            "bad_decimal",
        ),
        (
            json!({"#ordered": [{"InvoiceLineAdd": {"Quantity": true}}]}),
            "InvoiceAddRq/InvoiceAdd/#ordered[1]/InvoiceLineAdd/Quantity",
            "wrong_json_type",
        ),
    ];
    for (fields, path, code) in cases {
        let mut add = json!({"CustomerRef": {"FullName": "C"}});
        add.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let req = json!({"InvoiceAddRq": {"InvoiceAdd": add}});
        let err = json_to_qbxml(v16(), None, &[req], OnError::Stop, true).unwrap_err();
        let got: Vec<(&str, &str)> = err.issues.iter().map(|i| (i.path.as_str(), i.code.as_str())).collect();
        assert!(got.contains(&(path, code)), "{fields}: {got:?}");
    }
    // An element without interleaved groups has no list.
    let err = json_to_qbxml(
        v16(),
        None,
        &[json!({"CustomerAddRq": {"CustomerAdd": {"Name": "A", "#ordered": []}}})],
        OnError::Stop,
        true,
    )
    .unwrap_err();
    assert_eq!(
        (err.issues[0].path.as_str(), err.issues[0].code.as_str()),
        ("CustomerAddRq/CustomerAdd/#ordered", "bad_ordered")
    );
    assert!(err.issues[0].message.contains("no elements that interleave"), "{}", err.issues[0].message);
}

/// One valid occurrence of an interleaved group's particle: every element
/// of a sequence, the `alt`-th alternative of a choice (the last when
/// fewer).
fn occurrence(schema: &Schema, p: &Particle, alt: usize, out: &mut Vec<El>) {
    match p {
        Particle::Element { element, .. } => out.push(minimal(schema, *element)),
        Particle::Sequence { items, .. } => items.iter().for_each(|i| occurrence(schema, i, alt, out)),
        Particle::Choice { items, .. } => {
            if let Some(i) = items.get(alt.min(items.len().saturating_sub(1))) {
                occurrence(schema, i, alt, out)
            }
        }
    }
}

/// The outermost repeatable sequences and choices naming two or more
/// elements: what `Schema::interleaved_groups` finds, as particles.
fn group_particles<'p>(p: &'p Particle, out: &mut Vec<&'p Particle>) {
    let (Particle::Sequence { items, occurs } | Particle::Choice { items, occurs }) = p else { return };
    if occurs.repeatable() {
        out.push(p);
        return;
    }
    items.iter().for_each(|i| group_particles(i, out));
}

/// For every interleaved group of every request type's own aggregate (the
/// `…Add`, `…Mod` or query element and the request itself), a minimal
/// instance with the group's members interleaved (the last alternative
/// first, then the first, then the last again) validates, goes to JSON with
/// `#ordered`, and comes back as the same qbXML.
#[test]
fn every_interleaved_group_keeps_its_order_through_json() {
    let mut checked = 0;
    for schema in Schema::all() {
        let idx = super::index::index(schema);
        for rt in schema.requests() {
            let mut rq = minimal(schema, rt.request);
            if schema.attributes(rt.request).iter().any(|a| a.name == "requestID") {
                rq.attrs.push(("requestID".into(), "1".into()));
            }
            // The request and its first child aggregate, where groups sit.
            let mut targets = vec![(rt.request, vec![])];
            if let Some(Particle::Sequence { items, .. }) = schema.content(rt.request) {
                if let Some(Particle::Element { element, .. }) = items.first() {
                    if schema.content(*element).is_some() && !rq.children.is_empty() {
                        targets.push((*element, vec![0]));
                    }
                }
            }
            for (decl, at) in targets {
                let Some(model) = schema.content(decl) else { continue };
                let mut groups = Vec::new();
                group_particles(model, &mut groups);
                let content = idx.content(schema, decl).expect("aggregate");
                assert_eq!(
                    groups
                        .iter()
                        .filter(|g| {
                            let mut n = Vec::new();
                            occurrence(schema, g, 0, &mut n);
                            occurrence(schema, g, usize::MAX, &mut n);
                            n.iter().map(|x| &x.name).collect::<std::collections::HashSet<_>>().len() > 1
                        })
                        .count(),
                    content.groups.len(),
                    "{} {}",
                    schema.version(),
                    rt.name
                );
                for (g, particle) in groups.iter().enumerate() {
                    let mut members = Vec::new();
                    occurrence(schema, particle, usize::MAX, &mut members);
                    occurrence(schema, particle, 0, &mut members);
                    occurrence(schema, particle, usize::MAX, &mut members);
                    let names: std::collections::HashSet<&str> = members.iter().map(|m| m.name.as_ref()).collect();
                    if names.len() < 2 {
                        continue;
                    }
                    let mut case = rq.clone();
                    let node = at.iter().fold(&mut case, |n, i| &mut n.children[*i]);
                    // Minimal members of the group already present make way.
                    node.children.retain(|c| content.slot(&c.name).is_none_or(|s| s.group.is_none()));
                    let order = content.groups.get(g).map_or(0, |gr| gr.order);
                    let pos = node
                        .children
                        .iter()
                        .take_while(|c| content.slot(&c.name).is_some_and(|s| s.order < order))
                        .count();
                    node.children.splice(pos..pos, members);
                    let mut xml = String::new();
                    case.write_xml(&mut xml);
                    let v = schema.version();
                    assert_eq!(check_qbxml(schema, Some(v), &xml), Ok(()), "{v} {}: {xml}", rt.name);
                    let as_json = requests_to_json(schema, &xml).expect("to json");
                    assert!(as_json.contains("\"#ordered\""), "{v} {}: {as_json}", rt.name);
                    let parsed: Value = serde_json::from_str(&as_json).expect("valid json");
                    let back = json_to_qbxml(schema, Some(v), &requests_of(&parsed), OnError::Stop, true)
                        .unwrap_or_else(|e| panic!("{v} {}: {e}\n{as_json}", rt.name));
                    assert_eq!(
                        back,
                        format!("<QBXML><QBXMLMsgsRq onError=\"stopOnError\">{xml}</QBXMLMsgsRq></QBXML>")
                    );
                    checked += 1;
                }
            }
        }
    }
    // The Add and Mod requests of invoices, sales receipts, estimates,
    // sales and purchase orders, credit memos, bills, checks, card charges
    // and credits, item receipts and vendor credits, and JournalEntryAdd's
    // debit and credit lines: 25 request types in each version.
    assert_eq!(checked, 50, "groups checked");
}

/// A child sequence already found valid is not matched again, and that
/// hides nothing: values are still checked in every line, and a line
/// whose children differ is matched on its own.
#[test]
fn lines_with_the_same_children_are_matched_once_and_still_checked() {
    let good = "<InvoiceLineAdd><ItemRef><FullName>W</FullName></ItemRef><Amount>1.00</Amount></InvoiceLineAdd>";
    let bad_value = "<InvoiceLineAdd><ItemRef><FullName>W</FullName></ItemRef><Amount>1.001</Amount></InvoiceLineAdd>";
    let misordered = "<InvoiceLineAdd><Amount>1.00</Amount><ItemRef><FullName>W</FullName></ItemRef></InvoiceLineAdd>";
    let text = format!(
        "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>C</FullName></CustomerRef>{good}{good}{bad_value}{misordered}{good}</InvoiceAdd></InvoiceAddRq>"
    );
    let got = issues(v16(), &text);
    let codes = codes(&got);
    assert_eq!(
        codes,
        [
            ("InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[3]/Amount", "bad_decimal"),
            ("InvoiceAddRq/InvoiceAdd/InvoiceLineAdd[4]", "wrong_order"),
        ]
    );
}
