//! Per-user `.qwc` files through the API and the CLI.

use std::collections::BTreeMap;

use qbwcd::store::{AccountStore, NewCompany, NewUser};
use qbwcd::types::{CompanySlug, Username};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_users_qwc_is_an_attachment_with_its_own_ids_and_the_companys_file_id,
    hostile_names_are_escaped_and_survive_a_round_trip,
    each_refusal_is_a_422_saying_what_to_change,
    a_per_user_schedule_is_written_into_the_file,
);

/// The `.qwc`'s elements by path below the root (`Scheduler/RunEveryNMinutes`).
pub fn qwc_elements(xml: &str) -> BTreeMap<String, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out = BTreeMap::new();
    loop {
        match r.read_event().expect("the .qwc is well-formed XML") {
            Event::Start(e) => path.push(String::from_utf8_lossy(e.name().as_ref()).into_owned()),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.unescape().expect("text").into_owned();
                if path.len() > 1 && !text.trim().is_empty() {
                    out.insert(path[1..].join("/"), text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(path.len(), 0);
    out
}

fn braced(id: uuid::Uuid) -> String {
    format!("{{{}}}", id.hyphenated()).to_uppercase()
}

async fn https_app(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| s.public_url = "https://qb.example.com".into()).await
}

async fn download(app: &TestApp, user: &str) -> reqwest::Response {
    let api = app.api().await;
    api.http.get(format!("{}/users/{user}/qwc", api.base)).bearer_auth(&api.token).send().await.expect("GET qwc")
}

async fn a_users_qwc_is_an_attachment_with_its_own_ids_and_the_companys_file_id(b: Backend) {
    // Arrange
    let app = https_app(b).await;
    let acme = app.company("acme", None).await;
    let alice = app.user("alice", &acme).await;
    let bob = app.user("bob", &acme).await;

    // Act
    let resp = download(&app, "alice").await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let first = resp.text().await.unwrap();
    let again = download(&app, "alice").await.text().await.unwrap();
    let bobs = download(&app, "bob").await.text().await.unwrap();

    // Assert
    assert_eq!(status, 200, "{first}");
    assert_eq!(headers["content-type"], qbwcd::qwc::CONTENT_TYPE);
    assert_eq!(headers["content-disposition"], "attachment; filename=\"qbwcd-acme-alice.qwc\"");
    assert_eq!(first, again, "downloading twice gives the same bytes");
    let a = qwc_elements(&first);
    assert_eq!(a["AppURL"], "https://qb.example.com/qbwc");
    assert_eq!(a["AppSupport"], "https://qb.example.com/qbwc/support");
    assert_eq!(a["UserName"], "alice");
    assert_eq!(a["OwnerID"], braced(alice.owner_id));
    assert_eq!(a["FileID"], braced(acme.file_id));
    assert_eq!(a["QBType"], "QBFS");
    assert_eq!(a["IsReadOnly"], "false");
    assert_eq!(a["Scheduler/RunEveryNMinutes"], "15");
    assert_eq!(a["AppName"], "qbwcd \u{2013} acme Inc. (alice)");
    assert_eq!(a["AppUniqueName"], "qbwcd.acme.alice");
    let b2 = qwc_elements(&bobs);
    for differs in ["OwnerID", "AppName", "AppUniqueName", "UserName"] {
        assert_ne!(a[differs], b2[differs], "{differs} is per user");
    }
    assert_eq!(b2["OwnerID"], braced(bob.owner_id));
    assert_eq!(a["FileID"], b2["FileID"], "one FileID per company");

    // A password change leaves the file as it was.
    let hash = qbwcd::auth::hash_password(&secrecy::SecretString::from("another password!")).unwrap();
    app.store.set_password(&Username::parse("alice").unwrap(), &hash, app.now()).await.unwrap();
    assert_eq!(download(&app, "alice").await.text().await.unwrap(), first);
    // Unknown users are a 404 in the common error shape.
    let (s, body) = app.api().await.get("/users/nobody/qwc").await;
    assert_eq!((s, body["code"].as_str()), (404, Some("not_found")));
}

async fn hostile_names_are_escaped_and_survive_a_round_trip(b: Backend) {
    let app = https_app(b).await;
    let name = "Smith & <Sons> \"Ltd\" 'x' ]]>";
    let company = app
        .store
        .create_company(
            NewCompany {
                slug: CompanySlug::parse("smith").unwrap(),
                name: name.into(),
                file_path: None,
                file_id: uuid::Uuid::new_v4(),
                webhook_url: None,
            },
            app.now(),
        )
        .await
        .unwrap();
    let username = "O'Brien & <Co> \"x\"";
    let hash = qbwcd::auth::hash_password(&secrecy::SecretString::from(crate::helpers::PASSWORD)).unwrap();
    let new = NewUser {
        username: Username::parse(username).unwrap(),
        company_id: company.id,
        password_hash: hash,
        owner_id: uuid::Uuid::new_v4(),
    };
    app.store.create_user(new, app.now()).await.unwrap();

    let api = app.api().await;
    let encoded = username.replace('%', "%25").replace(' ', "%20").replace('&', "%26").replace('<', "%3C");
    let encoded = encoded.replace('>', "%3E").replace('"', "%22").replace('\'', "%27");
    let resp = api.http.get(format!("{}/users/{encoded}/qwc", api.base)).bearer_auth(&api.token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let disposition = resp.headers()["content-disposition"].to_str().unwrap().to_owned();
    let body = resp.text().await.unwrap();

    assert!(!body.contains("<Sons>") && !body.contains("& <"), "raw specials never reach the XML: {body}");
    let e = qwc_elements(&body);
    assert_eq!(e["UserName"], username);
    assert_eq!(e["AppName"], format!("qbwcd \u{2013} {name} ({username})"));
    assert_eq!(disposition, "attachment; filename=\"qbwcd-smith-O_Brien_Co_x_.qwc\"");
}

async fn each_refusal_is_a_422_saying_what_to_change(b: Backend) {
    type Tweak = fn(&mut qbwcd::config::Settings);
    let cases: [(&str, Tweak, &str); 6] = [
        ("http off localhost", |s| s.public_url = "http://qb.example.com".into(), "uses http"),
        ("an IP address", |s| s.public_url = "https://10.1.2.3".into(), "IP address"),
        ("localhost when public", |s| s.public = true, "points at localhost"),
        (
            "support on another host",
            |s| {
                s.public_url = "https://qb.example.com".into();
                s.qwc.support_url = Some("https://help.example.org/qb".into());
            },
            "same host",
        ),
        (
            "two schedules",
            |s| {
                s.qwc.run_every_minutes = Some(5);
                s.qwc.run_every_seconds = Some(30);
            },
            "Remove one of them",
        ),
        ("a long description", |s| s.qwc.app_description = "x".repeat(81), "1 to 80"),
    ];
    for (what, tweak, says) in cases {
        let app = TestApp::spawn_with(b, tweak).await;
        let acme = app.company("acme", None).await;
        app.user("alice", &acme).await;
        let (status, body) = app.api().await.get("/users/alice/qwc").await;
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(body["code"], "qwc_refused", "{what}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{what}: {message}");
    }
}

async fn a_per_user_schedule_is_written_into_the_file(b: Backend) {
    let app = https_app(b).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let api = app.api().await;

    let (s, u) = api.send(reqwest::Method::PATCH, "/users/alice", Some(json!({"run_every_seconds": 30}))).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["run_every_seconds"], 30);
    let e = qwc_elements(&download(&app, "alice").await.text().await.unwrap());
    assert_eq!(e["Scheduler/RunEveryNSeconds"], "30");
    assert!(!e.contains_key("Scheduler/RunEveryNMinutes"));

    let both = json!({"run_every_seconds": 30, "run_every_minutes": 5});
    let (s, err) = api.send(reqwest::Method::PATCH, "/users/alice", Some(both)).await;
    assert_eq!((s, err["code"].as_str()), (400, Some("invalid_schedule")), "{err}");
    let (s, _) = api.send(reqwest::Method::PATCH, "/users/alice", Some(json!({"run_every_minutes": 0}))).await;
    assert_eq!(s, 400);
    assert_eq!(api.send(reqwest::Method::PATCH, "/users/nobody", Some(json!({}))).await.0, 404);

    // An empty patch changes nothing; null falls back to the [qwc] setting.
    assert_eq!(api.send(reqwest::Method::PATCH, "/users/alice", Some(json!({}))).await.0, 200);
    let e = qwc_elements(&download(&app, "alice").await.text().await.unwrap());
    assert_eq!(e["Scheduler/RunEveryNSeconds"], "30");
    let clear = json!({"run_every_seconds": null});
    assert_eq!(api.send(reqwest::Method::PATCH, "/users/alice", Some(clear)).await.0, 200);
    let e = qwc_elements(&download(&app, "alice").await.text().await.unwrap());
    assert_eq!(e["Scheduler/RunEveryNMinutes"], "15");
}

#[test]
fn the_readme_carries_the_support_pages_setup_guide_verbatim() {
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(qbwcd::qwc::setup_guide_markdown()),
        "README.md must contain setup_guide_markdown() from src/qwc/support.rs verbatim; copy it over again"
    );
}
