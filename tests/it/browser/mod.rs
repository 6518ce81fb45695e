//! Tests in a real browser: headless Chromium driven over WebDriver
//! against a real `qbwcd serve` (see `harness`).

mod console;
mod fixture;
mod harness;
mod pages;

use harness::{Browser, Serve};

/// The harness itself: a page the server renders, seen through Chromium,
/// and a screenshot of it on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_support_page_and_a_screenshot_is_saved() {
    let Some(mut browser) = Browser::start("support").await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("qbwcd.db").display());
    let serve = Serve::start(&db, &[]).await;

    browser.goto(&format!("{}/qbwc/support", serve.base)).await;
    browser.shot("support").await;

    let title = browser.client.title().await.expect("title");
    assert!(!title.trim().is_empty(), "the page has a title");
    assert!(browser.text().await.contains("Web Connector"), "{}", browser.text().await);
    let shot = harness::screenshot_dir().join("support-01-support.png");
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    browser.close().await;
}
