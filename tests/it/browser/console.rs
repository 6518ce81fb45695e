//! The operator console in a real browser, as the issue lists it: log in;
//! see a company whose job failed with 3260 and its steps; add a user,
//! download its `.qwc` and check the file; create a link; retry the failed
//! job; resolve a held write; a forged cross-site POST is refused; log out.

use std::time::Duration;

use fantoccini::Locator;
use qbwcd::queue::JobState;

use super::fixture::{log_in, Installation};
use super::harness::Browser;
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(an_admin_fixes_a_company_and_settles_its_jobs_from_the_console);

async fn an_admin_fixes_a_company_and_settles_its_jobs_from_the_console(b: Backend) {
    let name = format!("console-{b:?}").to_lowercase();
    let Some(mut browser) = Browser::start(&name).await else { return };
    let inst = Installation::new(b).await;

    // Log in; the company list shows acme needing attention.
    log_in(&mut browser, &inst).await;
    let list = browser.text().await;
    assert!(list.contains("attention"), "acme's failed job needs attention:\n{list}");
    browser.shot("companies").await;

    // The company page: the open permission problem and its steps.
    browser.follow("acme").await;
    let company = browser.wait_for_text("3260").await;
    assert!(company.contains("Insufficient permission"), "{company}");
    assert!(company.contains("Set Up Users"), "the steps that fix it:\n{company}");
    browser.shot("company").await;

    // Add a user: its password is shown once; download its .qwc.
    browser.fill("Add a user", "pc2").await;
    browser.press("Add user").await;
    browser.wait_for_text("User pc2 added").await;
    let password = browser.client.find(Locator::Css(".secret")).await.expect("the password").text().await.unwrap();
    assert!(password.trim().len() >= 12, "a generated password is shown: {password:?}");
    browser.shot("user-added").await;
    browser.follow("download its .qwc").await;
    let (file, qwc) = browser.downloaded_with_extension("qwc").await;
    let qwc = String::from_utf8(qwc).expect("a text file");
    assert!(file.contains("pc2"), "the file is named for its user: {file}");
    assert!(qwc.contains("<UserName>pc2</UserName>"), "{qwc}");
    assert!(qwc.contains("/qbwc</AppURL>"), "{qwc}");
    assert!(qwc.contains("<OwnerID>{") && qwc.contains("<FileID>{"), "{qwc}");
    assert!(!qwc.contains(password.trim()), "the password never goes into the file");

    // Create an onboarding link to send to the person at the QuickBooks PC.
    browser.goto(&inst.url("/admin/companies/acme")).await;
    browser.press("Create an onboarding link").await;
    browser.wait_for_text("Onboarding link for").await;
    let link = browser.field("Link").await.prop("value").await.expect("value").expect("the link");
    browser.shot("link-created").await;
    let landing = reqwest::get(&link).await.expect("open the link");
    assert_eq!(landing.status(), 200, "the link opens: {link}");

    // The failed job: the request as sent, the diagnostic with steps; retry.
    browser.goto(&inst.url(&format!("/admin/jobs/{}", inst.failed.0))).await;
    let job = browser.wait_for_text("3260").await;
    assert!(job.contains("InvoiceAdd"), "the request as sent:\n{job}");
    assert!(job.contains("What to do"), "the steps:\n{job}");
    browser.shot("failed-job").await;
    browser.press("Retry").await;
    browser.wait_for_text("queued").await;
    assert_eq!(inst.state(inst.failed).await, JobState::Queued);

    // The held write: the confirmation says what to check in QuickBooks;
    // settled as not applied, it is sent again.
    browser.goto(&inst.url(&format!("/admin/jobs/{}", inst.held.0))).await;
    browser.wait_for_text("held").await;
    browser.shot("held-job").await;
    browser.follow("Settle this write…").await;
    let confirm = browser.wait_for_text("Check in QuickBooks first").await;
    assert!(confirm.contains("Held Customer") || confirm.contains("Customer"), "what to look for:\n{confirm}");
    browser.shot("resolve-confirm").await;
    browser.press("It is not in QuickBooks (send it again)").await;
    browser.wait_for_text("queued").await;
    assert_eq!(inst.state(inst.held).await, JobState::Queued);

    // A forged POST from another site is refused and changes nothing.
    forged_cross_site_post_is_refused(&mut browser, &inst).await;

    // Log out: the console needs a login again.
    browser.goto(&inst.url("/admin")).await;
    browser.press("Log out").await;
    browser.wait_for_text("Password").await;
    browser.goto(&inst.url("/admin")).await;
    assert_eq!(browser.path().await, "/admin/login", "logged out");
    browser.shot("logged-out").await;
    browser.close().await;
}

/// A page on another site (`localhost` is another site than `127.0.0.1`)
/// that submits a form to the console, as an attacker's page would; then
/// the same form without a token from the console's own origin.
async fn forged_cross_site_post_is_refused(browser: &mut Browser, inst: &Installation) {
    // Arrange: fail the job again so a retry would show.
    inst.wc.qb.script(crate::fake_qbwc::Script::Status(
        3260,
        "Error",
        "Insufficient permission level to perform this action.",
    ));
    inst.wc.run_session().await;
    assert_eq!(inst.state(inst.failed).await, JobState::Failed);
    let target = inst.url(&format!("/admin/jobs/{}/retry", inst.failed.0));
    let evil = evil_site(&target).await;

    // Act: the attacker's page posts the form.
    browser.goto(&evil).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.shot("forged-cross-site").await;

    // Assert: refused, nothing changed.
    assert_eq!(inst.state(inst.failed).await, JobState::Failed, "the forged retry did nothing");

    // The same form from the console's own origin with a wrong token.
    browser.goto(&inst.url("/admin")).await;
    let script = format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = {target:?}; \
         const i = document.createElement('input'); i.name = 'csrf'; i.value = 'forged'; f.appendChild(i); \
         document.body.appendChild(f); f.submit();"
    );
    browser.client.execute(&script, vec![]).await.expect("submit the forged form");
    let refused = browser.wait_for_text("403").await;
    browser.shot("forged-same-origin").await;
    assert!(refused.to_lowercase().contains("forbidden") || refused.contains("403"), "{refused}");
    assert_eq!(inst.state(inst.failed).await, JobState::Failed, "the forged retry did nothing");
}

/// Serves one page on `localhost` (another site than the console's
/// `127.0.0.1`) that posts a form to `target` as soon as it loads.
async fn evil_site(target: &str) -> String {
    let html = format!(
        "<!doctype html><title>prize</title><form id=f method=post action=\"{target}\">\
         <input name=csrf value=guess></form><script>document.getElementById('f').submit()</script>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://localhost:{port}/")
}
