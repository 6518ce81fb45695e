use super::*;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

/// The names of a sequence's direct element children, in order.
fn child_names(schema: &Schema, p: &Particle) -> Vec<String> {
    let Particle::Sequence { items, .. } = p else { panic!("not a sequence: {p:?}") };
    items
        .iter()
        .filter_map(|i| match i {
            Particle::Element { element, .. } => Some(schema.element(*element).name.clone()),
            _ => None,
        })
        .collect()
}

/// The declaration of the child `name` directly in a sequence.
fn child<'s>(schema: &'s Schema, p: &'s Particle, name: &str) -> Option<(&'s Particle, ElementId)> {
    let Particle::Sequence { items, .. } = p else { return None };
    items.iter().find_map(|i| match i {
        Particle::Element { element, .. } if schema.element(*element).name == name => Some((i, *element)),
        _ => None,
    })
}

#[test]
fn both_versions_decode_with_every_request_type_and_its_response() {
    let all = Schema::all();
    assert_eq!(all.iter().map(|s| s.version()).collect::<Vec<_>>(), [v("13.0"), v("16.0")]);
    // 239 and 268 in Intuit's files, less the 7 subscription requests of
    // QBXMLSubscriptionMsgsRq, which the Web Connector does not carry.
    assert_eq!(all[0].requests().len(), 232);
    assert_eq!(all[1].requests().len(), 261);
    for s in all {
        for r in s.requests() {
            assert!(r.name.ends_with("Rq"), "{}", r.name);
            assert_eq!(s.element(r.request).name, r.name);
            let rs = r.response.expect("every request type has a response");
            assert_eq!(s.element(rs).name, format!("{}Rs", &r.name[..r.name.len() - 2]));
            assert_eq!(s.request(&r.name).map(|x| &x.name), Some(&r.name));
            assert_eq!(s.by_response(&s.element(rs).name).map(|x| &x.name), Some(&r.name));
            assert!(s.attributes(r.request).iter().any(|a| a.name == "requestID"), "{} has requestID", r.name);
        }
    }
}

#[test]
fn the_schema_for_a_reported_version_is_the_newest_not_above_it() {
    assert_eq!(Schema::for_version(None).version(), v("16.0"));
    assert_eq!(Schema::for_version(Some(v("16.0"))).version(), v("16.0"));
    assert_eq!(Schema::for_version(Some(v("17.0"))).version(), v("16.0"));
    assert_eq!(Schema::for_version(Some(v("15.0"))).version(), v("13.0"));
    assert_eq!(Schema::for_version(Some(v("14.0"))).version(), v("13.0"));
    assert_eq!(Schema::for_version(Some(v("13.0"))).version(), v("13.0"));
    assert_eq!(Schema::for_version(Some(v("8.0"))).version(), v("13.0"));
    assert!(Schema::exact(v("14.0")).is_none());
}

#[test]
fn alert_query_is_new_in_16_0() {
    let s13 = Schema::exact(v("13.0")).unwrap();
    let s16 = Schema::exact(v("16.0")).unwrap();
    assert!(s13.request("AlertQueryRq").is_none());
    assert_eq!(s16.request("AlertQueryRq").unwrap().since, v("16.0"));
    assert_eq!(s16.request("CustomerAddRq").unwrap().since, v("13.0"));
    assert_eq!(s13.request("CustomerAddRq").unwrap().since, v("13.0"));
}

#[test]
fn customer_add_starts_with_name_of_at_most_41_characters() {
    for s in Schema::all() {
        let rq = s.request("CustomerAddRq").unwrap();
        let body = s.content(rq.request).unwrap();
        let (add, add_id) = child(s, body, "CustomerAdd").unwrap();
        assert_eq!(add.occurs(), Occurs::ONCE);
        let add_content = s.content(add_id).unwrap();
        let names = child_names(s, add_content);
        assert_eq!(
            names[..6],
            ["Name", "IsActive", "ClassRef", "ParentRef", "CompanyName", "Salutation"],
            "{}",
            s.version()
        );
        let (name, name_id) = child(s, add_content, "Name").unwrap();
        assert!(!name.occurs().optional());
        let ElementKind::Simple { ty, .. } = &s.element(name_id).kind else { panic!("Name is a leaf") };
        assert_eq!(s.simple_type(*ty).base, BaseType::String);
        assert_eq!(s.simple_type(*ty).max_length, Some(41));
        // IncludeRetElement is repeatable and optional.
        let (inc, _) = child(s, body, "IncludeRetElement").unwrap();
        assert!(inc.occurs().optional() && inc.occurs().repeatable());
    }
}

#[test]
fn customer_query_opens_with_an_or_group_of_ids_names_or_a_filter() {
    let s = Schema::for_version(None);
    let rq = s.request("CustomerQueryRq").unwrap();
    let attrs: Vec<&str> = s.attributes(rq.request).iter().map(|a| a.name.as_str()).collect();
    for a in ["requestID", "iterator", "iteratorID", "metaData"] {
        assert!(attrs.contains(&a), "{attrs:?}");
    }
    let Some(Particle::Sequence { items, .. }) = s.content(rq.request) else { panic!("a sequence") };
    let Particle::Choice { items: alts, occurs } = &items[0] else { panic!("first an OR group: {:?}", items[0]) };
    assert!(occurs.optional());
    let Particle::Element { element, occurs, .. } = &alts[0] else { panic!() };
    assert_eq!(s.element(*element).name, "ListID");
    assert!(occurs.repeatable());
    // The third alternative is the filter sequence (MaxReturned, ActiveStatus, …).
    let Particle::Sequence { items: filter, .. } = &alts[2] else { panic!("a filter sequence: {:?}", alts[2]) };
    let Particle::Element { element, .. } = &filter[0] else { panic!() };
    assert_eq!(s.element(*element).name, "MaxReturned");
}

#[test]
fn the_known_defects_are_applied_to_both_versions() {
    for s in Schema::all() {
        let has_value = |value: &str| s.data().simple_types.iter().any(|t| t.enumeration.iter().any(|e| e == value));
        assert!(has_value("FormT1") && has_value("Form3010"), "{}", s.version());
        assert!(has_value("Mail"), "{}", s.version());
        let deprecated = s.data().complex_types.iter().any(|c| {
            fn any_dep(p: &Particle, s: &Schema) -> bool {
                match p {
                    Particle::Element { element, deprecated, .. } => {
                        *deprecated && s.element(*element).name == "DiscountLineAdd"
                    }
                    Particle::Sequence { items, .. } | Particle::Choice { items, .. } => {
                        items.iter().any(|i| any_dep(i, s))
                    }
                }
            }
            c.content.as_ref().is_some_and(|p| any_dep(p, s))
        });
        assert!(deprecated, "{}", s.version());
    }
}

#[test]
fn occurrences_round_trip_through_their_compact_form() {
    for (text, o) in [
        ("1", Occurs::ONCE),
        ("?", Occurs { min: 0, max: Some(1) }),
        ("*", Occurs { min: 0, max: None }),
        ("+", Occurs { min: 1, max: None }),
        ("0..8", Occurs { min: 0, max: Some(8) }),
        ("2..", Occurs { min: 2, max: None }),
    ] {
        assert_eq!(String::from(o), text);
        assert_eq!(Occurs::try_from(text.to_owned()).unwrap(), o);
    }
    assert!(Occurs::try_from("x".to_owned()).is_err());
    assert!(Occurs::try_from("1..y".to_owned()).is_err());
}

#[test]
fn a_leaf_with_use_macro_is_a_value_or_an_object_with_text() {
    let s = Schema::for_version(None);
    let rt = s.request("ReceivePaymentAddRq").unwrap();
    let doc = json_schema::request_schema(s, rt);
    let applied = &doc["$defs"]["AppliedToTxnAdd"]["properties"]["TxnID"];
    let alts = applied["oneOf"].as_array().expect("a bare value or an object");
    assert_eq!(alts[0]["type"], "string");
    assert_eq!(alts[1]["required"], serde_json::json!(["#text"]));
    assert!(alts[1]["properties"]["@useMacro"].is_object());
    // Clients only start iterators.
    let q = json_schema::request_schema(s, s.request("CustomerQueryRq").unwrap());
    let attrs = &q["properties"]["CustomerQueryRq"]["$ref"];
    assert_eq!(attrs, "#/$defs/CustomerQueryRq");
    let props = &q["$defs"]["CustomerQueryRq"]["properties"];
    assert_eq!(props["@iterator"]["enum"], serde_json::json!(["Start"]));
    assert!(props.get("@iteratorID").is_none());
    // The answer keeps iterator attributes and types the status code.
    let r = json_schema::response_schema(s, s.request("CustomerQueryRq").unwrap()).unwrap();
    let rprops = &r["$defs"]["CustomerQueryRs"]["properties"];
    assert_eq!(rprops["@statusCode"]["type"], "integer");
    assert_eq!(rprops["@iteratorRemainingCount"]["type"], "integer");
    assert_eq!(rprops["CustomerRet"]["type"], "array");
}

#[test]
fn describe_marks_deprecated_fields_and_choices() {
    let s = Schema::for_version(None);
    let rows = describe::describe(s, s.request("InvoiceAddRq").unwrap().request);
    let discount = rows.iter().find(|r| r.field == "DiscountLineAdd").unwrap();
    assert!(discount.usage.contains("deprecated"), "{discount:?}");
    let lines = rows.iter().find(|r| r.field == "InvoiceLineAdd").unwrap();
    assert!(lines.usage.contains("required"), "an alternative of a repeated OR group: {lines:?}");
    let group = rows.iter().find(|r| r.field == "one of" && r.usage == "optional, repeatable").unwrap();
    assert!(group.ty.contains("#ordered"), "the lines' group says how JSON keeps their order: {group:?}");
    assert_eq!(rows.iter().filter(|r| r.ty.contains("#ordered")).count(), 1);
    let answer = describe::describe(s, s.request("InvoiceAddRq").unwrap().response.unwrap());
    assert!(answer.iter().all(|r| !r.ty.contains("#ordered")), "results never use #ordered");
    assert!(answer.iter().any(|r| r.ty.contains("one array per element")));
}

#[test]
fn interleaved_groups_are_the_outermost_repeated_choices_of_several_elements() {
    let s = Schema::for_version(None);
    let names = |element: ElementId| -> Vec<Vec<&str>> {
        let groups = s.interleaved_groups(s.content(element).unwrap());
        groups.into_iter().map(|g| g.into_iter().map(|(n, _)| n).collect()).collect()
    };
    let add = child(s, s.content(s.request("InvoiceAddRq").unwrap().request).unwrap(), "InvoiceAdd").unwrap().1;
    assert_eq!(names(add), [["InvoiceLineAdd", "InvoiceLineGroupAdd"]]);
    let journal = child(s, s.content(s.request("JournalEntryAddRq").unwrap().request).unwrap(), "JournalEntryAdd");
    assert_eq!(names(journal.unwrap().1), [["JournalDebitLine", "JournalCreditLine"]]);
    // A repeated element alone, and a choice made once, are no groups.
    let customer = child(s, s.content(s.request("CustomerAddRq").unwrap().request).unwrap(), "CustomerAdd");
    assert!(names(customer.unwrap().1).is_empty());
    assert!(names(s.request("CustomerQueryRq").unwrap().request).is_empty());
}
