//! `[brand]`: the operator's product name and support contact on the
//! support page, the onboarding link page and in the `.qwc` texts, through
//! the real binary and a config file; and one wording for a reset link.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::both_backends;
use crate::helpers::{Backend, TestDb};
use crate::qwc::qwc_elements;

both_backends!(the_brand_names_the_pages_and_the_qwc_texts);

const BRAND: &str = "[brand]\nname = \"Acme Sync\"\nsupport_url = \"https://help.acme.test/qb\"\n\
                     support_email = \"help@acme.test\"\n";

fn qbwcd(db: &str, config: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .env_remove("QBWCD_PUBLIC_URL")
        .env_remove("QBWCD_LISTEN")
        .envs(envs.iter().copied())
        .output()
        .expect("run qbwcd")
}

fn ok(out: Output) -> (String, String) {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "qbwcd failed: {stdout}\n{stderr}");
    (stdout.into_owned(), stderr.into_owned())
}

/// A `qbwcd serve` child, killed when dropped.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn the_brand_names_the_pages_and_the_qwc_texts(b: Backend) {
    // Arrange: a config with a brand and links, a company and a user.
    let db = TestDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let config = dir.path().join("qbwcd.toml");
    std::fs::write(
        &config,
        format!("listen = \"{listen}\"\nlink_secret = \"0123456789abcdef0123456789abcdef\"\n{BRAND}"),
    )
    .unwrap();
    ok(qbwcd(&db.url, &config, &[], &["company", "add", "acme", "--name", "Acme Ltd"]));
    ok(qbwcd(&db.url, &config, &[], &["user", "add", "alice", "--company", "acme"]));

    // The .qwc texts carry the brand.
    let (file, _) = ok(qbwcd(&db.url, &config, &[], &["qwc", "alice"]));
    let e = qwc_elements(&file);
    assert_eq!(e["AppName"], "Acme Sync \u{2013} Acme Ltd (alice)");
    assert_eq!(e["AppDescription"], "Acme Sync QuickBooks connector");
    assert_eq!(e["AppURL"], format!("http://localhost:{port}/qbwc"));

    // A reset link: the CLI says what the button does, in the shared words.
    let (url, said) = ok(qbwcd(&db.url, &config, &[], &["qwc", "alice", "--link", "--reset-password"]));
    assert!(said.contains(qbwcd::onboarding::RESET_PASSWORD_WORDING), "{said}");
    assert!(!said.contains("opening it sets"), "{said}");
    let url = url.trim().to_owned();
    assert!(url.starts_with(&format!("http://localhost:{port}/qwc/")), "{url}");

    // Serve with the same config; read the pages.
    let server = Serving(
        Command::new(env!("CARGO_BIN_EXE_qbwcd"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("QBWCD_DATABASE_URL", &db.url)
            .env_remove("QBWCD_PUBLIC_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    let mut up = false;
    for _ in 0..200 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve came up");
    let get = |u: String| {
        let http = http.clone();
        async move { http.get(u).send().await.unwrap().text().await.unwrap() }
    };
    let support = get(format!("{base}/qbwc/support")).await;
    let page = get(url.replace(&format!("http://localhost:{port}"), &base)).await;
    drop(server);

    // Assert: both pages in the brand's name, with its contact.
    for (name, html) in [("support page", &support), ("link page", &page)] {
        assert!(html.contains("Connect QuickBooks to Acme Sync"), "{name}: {html}");
        assert!(!html.contains("qbwcd"), "{name} names qbwcd: {html}");
        assert!(html.contains("<a href=\"https://help.acme.test/qb\">"), "{name}: {html}");
        assert!(html.contains("<a href=\"mailto:help@acme.test\">help@acme.test</a>"), "{name}: {html}");
    }
    assert!(page.contains("user <strong>alice</strong> of Acme Sync"), "{page}");
    // The link page says which button comes first, and what it does.
    let first = page.find("First press <strong>Set and show my new password</strong>").expect("first step");
    let then = page.find("Then press <strong>Download the .qwc file</strong>").expect("second step");
    assert!(first < then, "{page}");
    assert!(page.contains("the button below sets it and shows it once") && page.contains("changed nothing"), "{page}");
}

#[test]
fn pinning_app_name_keeps_installed_files_through_a_rebrand() {
    // `[qwc] app_name` set beside a new brand: the pages take the brand,
    // AppName (the Web Connector's identity of an installed file) keeps it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("qbwcd.toml");
    std::fs::write(&config, format!("{BRAND}[qwc]\napp_name = \"qbwcd\"\n")).unwrap();
    let settings = qbwcd::config::Settings::load(Some(&config), &[]).unwrap();
    assert_eq!(settings.qwc.app_name, "qbwcd", "AppName keeps its pinned prefix");
    assert_eq!(settings.brand.name, "Acme Sync");
    let page = qbwcd::qwc::support_page_html(&settings.qwc, &settings.brand.contact());
    assert!(page.contains("Connect QuickBooks to Acme Sync"));
}

#[test]
fn the_api_documents_a_reset_link_in_the_same_words() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(qbwcd::api::ApiDoc::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    for schema in ["LinkBody", "CreatedLink"] {
        let text = schemas[schema]["properties"]["reset_password"]["description"].as_str().unwrap_or_default();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains(qbwcd::onboarding::RESET_PASSWORD_WORDING.trim_start_matches("the link's page ")),
            "{schema}: {text}"
        );
    }
}
