//! Onboarding links: `/qwc/{token}` pages, counted downloads, expiry,
//! tampering, and the one-time password reset.

use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::helpers::{customer_query, Backend, TestApp};

both_backends!(
    links_are_refused_with_a_clear_message_without_a_secret,
    a_link_downloads_the_users_file_until_it_is_used_up,
    an_expired_link_is_410_and_a_tampered_one_403,
    concurrent_downloads_never_pass_the_limit,
    a_reset_link_sets_a_new_password_once_and_shows_it_once,
    a_cross_site_reset_post_is_refused_and_changes_nothing,
    links_are_listed_and_revoked_one_by_one,
    the_link_commands_list_and_revoke,
);

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

async fn app_with_links(b: Backend, max_uses: u32) -> TestApp {
    TestApp::spawn_with(b, |s| {
        s.public_url = "https://qb.example.com".into();
        s.link_secret = qbwcd::onboarding::LinkSecret::new(SECRET);
        s.qwc.link_max_uses = max_uses;
        s.qwc.link_ttl_seconds = 3600;
    })
    .await
}

/// Creates a link and returns it pointed at the test server.
async fn link(app: &TestApp, user: &str, body: serde_json::Value) -> String {
    let (s, l) = app.api().await.post(&format!("/users/{user}/qwc-link"), body).await;
    assert_eq!(s, 201, "{l}");
    let url = l["url"].as_str().unwrap();
    assert!(url.starts_with("https://qb.example.com/qwc/"), "{url}");
    url.replace("https://qb.example.com", &app.url)
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.headers().clone(), r.text().await.unwrap())
}

async fn links_are_refused_with_a_clear_message_without_a_secret(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let (s, body) = app.api().await.post("/users/alice/qwc-link", json!({})).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("links_disabled")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("Set link_secret"), "{body}");
    // Any token is refused while links are off.
    let (s, _, page) = get(&format!("{}/qwc/abc.def", app.url)).await;
    assert_eq!(s, 403);
    assert!(page.contains("turned off"), "{page}");
}

async fn a_link_downloads_the_users_file_until_it_is_used_up(b: Backend) {
    // Arrange
    let app = app_with_links(b, 2).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let api = app.api().await;
    let direct = api.get_text("/users/alice/qwc").await;
    let url = link(&app, "alice", json!({})).await;

    // Act and assert: the page costs nothing; each file download one use.
    let (s, headers, page) = get(&url).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(page.contains("Download the .qwc file") && page.contains("2 more downloads"), "{page}");
    assert!(!page.contains("password\">"), "no password on a plain link");
    let token = url.rsplit('/').next().unwrap();
    assert!(page.contains(&format!("href=\"{token}/file\"")), "{page}");
    for left in ["1 more download", "0 more"] {
        let (s, headers, file) = get(&format!("{url}/file")).await;
        assert_eq!(s, 200);
        assert_eq!(headers["content-disposition"], "attachment; filename=\"qbwcd-acme-alice.qwc\"");
        assert_eq!(file, direct, "the same file as the API gives");
        if left == "1 more download" {
            assert!(get(&url).await.2.contains(left));
        }
    }
    let (s, _, gone) = get(&format!("{url}/file")).await;
    assert_eq!(s, 410);
    assert!(gone.contains("used as many times"), "{gone}");
    assert_eq!(get(&url).await.0, 410, "the page says so too");
}

async fn an_expired_link_is_410_and_a_tampered_one_403(b: Backend) {
    let app = app_with_links(b, 3).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let url = link(&app, "alice", json!({})).await;

    // Tampered: one character of the signature changed; garbage.
    let mut bytes = url.clone().into_bytes();
    let i = bytes.len() - 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    for bad in [tampered, format!("{}/qwc/garbage", app.url), format!("{}/qwc/a.b", app.url)] {
        let (s, _, page) = get(&bad).await;
        assert_eq!(s, 403, "{bad}");
        assert!(page.contains("This link is not valid"), "{page}");
        assert_eq!(get(&format!("{bad}/file")).await.0, 403);
    }

    // Expired: an hour and a second later.
    app.clock.advance(Duration::from_secs(3601));
    let (s, _, page) = get(&url).await;
    assert_eq!(s, 410);
    assert!(page.contains("This link has expired"), "{page}");
    assert_eq!(get(&format!("{url}/file")).await.0, 410);
}

async fn concurrent_downloads_never_pass_the_limit(b: Backend) {
    let app = app_with_links(b, 3).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let file = format!("{}/file", link(&app, "alice", json!({})).await);

    let tries = (0..10).map(|_| get(&file));
    let statuses: Vec<u16> = futures::future::join_all(tries).await.into_iter().map(|(s, _, _)| s).collect();

    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 410).count(), 7, "{statuses:?}");
}

fn shown_password(page: &str) -> Option<String> {
    let start = page.find("<code id=\"password\">")? + "<code id=\"password\">".len();
    Some(page[start..start + page[start..].find("</code>")?].to_owned())
}

async fn a_reset_link_sets_a_new_password_once_and_shows_it_once(b: Backend) {
    let app = app_with_links(b, 3).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let url = link(&app, "alice", json!({"reset_password": true})).await;
    let http = reqwest::Client::new();

    // Opening the page (as a link preview would) changes nothing.
    let (s, _, page) = get(&url).await;
    assert_eq!(s, 200);
    assert!(page.contains("<form method=\"post\">") && shown_password(&page).is_none(), "{page}");
    assert_ne!(app.connector("alice").authenticate().await[1], "nvu", "the old password still works");

    // The button sets the new password and shows it, once.
    let first = http.post(&url).send().await.unwrap();
    assert_eq!(first.headers()["cache-control"], "no-store");
    let first = first.text().await.unwrap();
    let password = shown_password(&first).expect("the new password is shown");
    let second = http.post(&url).send().await.unwrap().text().await.unwrap();
    assert!(shown_password(&second).is_none() && second.contains("not shown again"), "{second}");
    assert!(get(&url).await.2.contains("not shown again"));

    assert_eq!(app.connector("alice").authenticate().await[1], "nvu", "the old password stopped working");
    let mut wc = app.connector("alice");
    wc.password = password;
    assert_ne!(wc.authenticate().await[1], "nvu", "the new one works");
    // Resetting spent no download.
    assert_eq!(get(&format!("{url}/file")).await.0, 200);
    assert!(get(&url).await.2.contains("2 more downloads"));
}

async fn a_cross_site_reset_post_is_refused_and_changes_nothing(b: Backend) {
    let app = app_with_links(b, 3).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let url = link(&app, "alice", json!({"reset_password": true})).await;
    let http = reqwest::Client::new();

    for (name, value) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")] {
        let resp = http.post(&url).header(name, value).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{name}: {value}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("own page"), "{page}");
    }
    // Nothing was reset: the connector still logs in with the old password.
    let wc = app.connector("alice");
    assert_ne!(wc.authenticate().await[1], "nvu");
    let api = app.api().await;
    let (_, links) = api.get("/users/alice/qwc-links").await;
    assert!(links[0]["password_reset_at"].is_null(), "{links}");

    // From its own page (as the browser says), the reset goes through.
    let resp = http
        .post(&url)
        .header("sec-fetch-site", "same-origin")
        .header("origin", "https://qb.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("Your new password"));
}

async fn links_are_listed_and_revoked_one_by_one(b: Backend) {
    let app = app_with_links(b, 3).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    app.user("bob", &acme).await;
    let first = link(&app, "alice", json!({})).await;
    app.clock.advance(Duration::from_secs(1));
    let second = link(&app, "alice", json!({"reset_password": true})).await;
    link(&app, "bob", json!({})).await;
    let api = app.api().await;

    let (s, links) = api.get("/users/alice/qwc-links").await;
    assert_eq!(s, 200, "{links}");
    let links = links.as_array().unwrap().clone();
    assert_eq!(links.len(), 2, "only alice's");
    assert!(links.iter().all(|l| l["state"] == "active" && l["username"] == "alice"));
    assert_eq!(links[0]["reset_password"], true, "newest first");
    // The token (the credential) is never listed.
    let token = second.rsplit('/').next().unwrap();
    assert!(!serde_json::to_string(&links).unwrap().contains(token));

    let id = links[0]["id"].as_str().unwrap();
    app.clock.advance(Duration::from_secs(1));
    let (_, created) = api.post("/users/bob/qwc-link", json!({})).await;
    let (_, bobs) = api.get("/users/bob/qwc-links").await;
    assert_eq!(bobs[0]["id"], created["id"], "the id a link is created with is the one it is listed by");
    let (s, revoked) = api.send(reqwest::Method::DELETE, &format!("/qwc-links/{id}"), None).await;
    assert_eq!((s, revoked["state"].as_str()), (200, Some("revoked")), "{revoked}");
    for path in ["", "/file"] {
        let (s, _, page) = get(&format!("{second}{path}")).await;
        assert_eq!(s, 410, "{path}");
        assert!(page.contains("revoked"), "{page}");
    }
    assert_eq!(reqwest::Client::new().post(&second).send().await.unwrap().status().as_u16(), 410);
    assert_eq!(get(&first).await.0, 200, "the other link still works");
    let (s, again) = api.send(reqwest::Method::DELETE, &format!("/qwc-links/{id}"), None).await;
    assert_eq!((s, &again["revoked_at"]), (200, &revoked["revoked_at"]), "revoking twice keeps the first time");

    assert_eq!(api.send(reqwest::Method::DELETE, "/qwc-links/nope", None).await.0, 404);
    assert_eq!(api.get("/users/ghost/qwc-links").await.0, 404);
}

async fn the_link_commands_list_and_revoke(b: Backend) {
    let app = app_with_links(b, 3).await;
    let acme = app.company("acme", None).await;
    app.user("alice", &acme).await;
    let url = link(&app, "alice", json!({})).await;
    let db = app.db_share().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qbwcd"))
            .args(args)
            .env("QBWCD_DATABASE_URL", &db.url)
            .env("QBWCD_LOG_FORMAT", "json")
            .output()
            .expect("run qbwcd");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let listed: serde_json::Value = serde_json::from_str(&run(&["link", "list", "alice", "--json"])).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["state"], "active");
    assert!(run(&["link", "list"]).contains(&id), "the table lists every user's links");
    assert!(run(&["link", "revoke", &id]).contains("revoked"));

    assert!(run(&["link", "list", "alice"]).contains("revoked"));
    assert_eq!(get(&url).await.0, 410);
}
