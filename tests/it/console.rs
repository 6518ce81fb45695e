//! The operator console over HTTP, as a browser without scripts uses it
//! (a cookie jar, forms, redirects): login with lockout, idle expiry and
//! logout; the CSRF refusal; each company, user and job action's effect;
//! the events naming the admin; the `.qwc` download. (Real-browser tests
//! are in the browser suite.)

use std::time::Duration;

use qbwcd::queue::JobState;
use qbwcd::store::{AccountStore, EventFilter, EventStore, JobStore};
use reqwest::redirect::Policy;
use secrecy::SecretString;

use crate::both_backends;
use crate::fake_qbwc::{FakeWebConnector, Script};
use crate::helpers::{customer_add, Backend, TestApp};
use crate::qwc::qwc_elements;

both_backends!(
    login_locks_out_expires_when_idle_and_logs_out,
    a_valid_login_does_not_reset_an_address_spraying_names,
    forms_without_the_session_token_are_refused,
    company_and_user_actions_take_effect_and_name_the_admin,
    the_job_page_retries_a_failed_job_and_settles_a_lost_write,
    admin_accounts_are_one_surface_in_the_cli_and_the_api,
);

const ADMIN_PASSWORD: &str = "a long console password";

/// A browser: a cookie jar, no redirects followed (so each 303 is seen).
struct Browser {
    base: String,
    http: reqwest::Client,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        let http = reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap();
        Browser { base: app.url.clone(), http }
    }

    async fn get(&self, path: &str) -> (u16, String, Option<String>) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        (status, r.text().await.unwrap(), location)
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let r = self.http.post(format!("{}{path}", self.base)).form(form).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        (status, r.text().await.unwrap(), location)
    }

    /// A POST from a page of `path`, with that page's CSRF token.
    async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let (status, html, _) = self.get(page).await;
        assert_eq!(status, 200, "{page}: {html}");
        let csrf = csrf_in(&html);
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    async fn login(&self, name: &str, password: &str) -> (u16, String, Option<String>) {
        let (_, html, _) = self.get("/admin/login").await;
        let csrf = csrf_in(&html);
        self.post("/admin/login", &[("csrf", &csrf), ("name", name), ("password", password), ("next", "/admin")]).await
    }
}

/// The company list's row (`<tr>…</tr>`) of `slug`.
fn row_of<'a>(html: &'a str, slug: &str) -> &'a str {
    let link = format!("href=\"/admin/companies/{slug}\"");
    let at = html.find(&link).unwrap_or_else(|| panic!("no row for {slug}: {html}"));
    let start = html[..at].rfind("<tr").expect("a row");
    let end = at + html[at..].find("</tr>").expect("the row's end");
    &html[start..end]
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a csrf token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn admin(app: &TestApp, name: &str) {
    qbwcd::admins::add(app.store.as_ref(), name, SecretString::from(ADMIN_PASSWORD), app.now()).await.unwrap();
}

async fn console_events(app: &TestApp) -> Vec<qbwcd::store::Event> {
    let all = app.store.events(&EventFilter { limit: 200, ..EventFilter::default() }).await.unwrap();
    all.into_iter().filter(|e| e.kind.starts_with("console.")).collect()
}

async fn login_locks_out_expires_when_idle_and_logs_out(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.auth.lockout_threshold = 2;
        s.console_idle_timeout_seconds = 600;
    })
    .await;
    admin(&app, "olga").await;
    let browser = Browser::new(&app);

    // Without a session every page sends the browser to the login.
    let (s, _, to) = browser.get("/admin/companies/x?state=held").await;
    assert_eq!((s, to.as_deref()), (303, Some("/admin/login?next=%2Fadmin%2Fcompanies%2Fx%3Fstate%3Dheld")));
    // An API token does not open the console.
    let token = app.token().await;
    let r = browser.http.get(format!("{}/admin", app.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);

    // Two wrong passwords lock the name at this address, the right one included.
    assert_eq!(browser.login("olga", "wrong password!").await.0, 401);
    assert_eq!(browser.login("olga", "wrong password!").await.0, 401);
    let (s, html, _) = browser.login("olga", ADMIN_PASSWORD).await;
    assert_eq!(s, 429, "{html}");
    assert!(html.contains("too many failed logins"), "{html}");
    app.clock.advance(Duration::from_secs(3601));

    let (s, html, to) = browser.login("olga", ADMIN_PASSWORD).await;
    assert_eq!((s, to.as_deref()), (303, Some("/admin")), "{html}");
    let (s, html, _) = browser.get("/admin").await;
    assert_eq!(s, 200);
    assert!(html.contains("olga") && html.contains("No companies yet"), "{html}");
    let failed = app.store.events(&EventFilter { limit: 50, ..EventFilter::default() }).await.unwrap();
    assert_eq!(failed.iter().filter(|e| e.kind == "console.login_failed").count(), 2);
    assert!(console_events(&app).await.iter().any(|e| e.kind == "console.login" && e.message.contains("\"olga\"")));

    // Used within the idle time it stays; idle longer, it has ended.
    app.clock.advance(Duration::from_secs(500));
    assert_eq!(browser.get("/admin").await.0, 200);
    app.clock.advance(Duration::from_secs(601));
    assert_eq!(browser.get("/admin").await.0, 303);

    // Logout ends the session in the database, not only in the browser.
    browser.login("olga", ADMIN_PASSWORD).await;
    let (s, _, to) = browser.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!((s, to.as_deref()), (303, Some("/admin/login")));
    assert_eq!(browser.get("/admin").await.0, 303);
    // A new password ends every session of the admin.
    browser.login("olga", ADMIN_PASSWORD).await;
    assert_eq!(browser.get("/admin").await.0, 200);
    qbwcd::admins::passwd(app.store.as_ref(), "olga", SecretString::from("another long password"), app.now())
        .await
        .unwrap();
    assert_eq!(browser.get("/admin").await.0, 303);
}

/// Guesses of other names from one address are counted across a valid
/// login from it: an admin (or anyone holding one account) logging in
/// between guesses does not make the address start over.
async fn a_valid_login_does_not_reset_an_address_spraying_names(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.auth.address_lockout_threshold = 3).await;
    admin(&app, "olga").await;
    let browser = Browser::new(&app);
    for name in ["nobody1", "nobody2"] {
        assert_eq!(browser.login(name, "wrong password!").await.0, 401);
    }
    let (s, html, _) = browser.login("olga", ADMIN_PASSWORD).await;
    assert_eq!(s, 303, "{html}");
    assert_eq!(browser.login("nobody3", "wrong password!").await.0, 401, "the third guess locks the address");
    let (s, html, _) = Browser::new(&app).login("olga", ADMIN_PASSWORD).await;
    assert_eq!(s, 429, "the address is locked for every name: {html}");
}

async fn forms_without_the_session_token_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    admin(&app, "olga").await;
    let browser = Browser::new(&app);
    // The login form needs its own cookie's token.
    let (s, _, _) =
        browser.post("/admin/login", &[("csrf", "x"), ("name", "olga"), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(s, 403);
    browser.login("olga", ADMIN_PASSWORD).await;
    let (_, html, _) = browser.get("/admin").await;
    let csrf = csrf_in(&html);

    let missing = browser.post("/admin/companies", &[("slug", "evil")]).await;
    let forged = browser.post("/admin/companies", &[("csrf", "0123"), ("slug", "evil")]).await;
    let cross_site = browser
        .http
        .post(format!("{}/admin/companies", app.url))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("slug", "evil")])
        .send()
        .await
        .unwrap();
    let fetch_site = browser
        .http
        .post(format!("{}/admin/companies", app.url))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str()), ("slug", "evil")])
        .send()
        .await
        .unwrap();

    assert_eq!(missing.0, 403);
    assert!(missing.1.contains("missing or wrong form token"), "{}", missing.1);
    assert_eq!(forged.0, 403);
    assert_eq!(cross_site.status().as_u16(), 403);
    assert_eq!(fetch_site.status().as_u16(), 403);
    // A made-up session cookie with the token derived from it: refused for
    // want of a session before the body is read, however large.
    let made_up = reqwest::Client::new()
        .post(format!("{}/admin/companies", app.url))
        .header("cookie", "qbwcd_console=made-up")
        .form(&[("csrf", qbwcd::console::session::csrf_of("made-up").as_str()), ("slug", "evil")])
        .send()
        .await
        .unwrap();
    assert_eq!(made_up.status().as_u16(), 403);
    assert!(made_up.text().await.unwrap().contains("no console session"));
    // A logged-in form past the small-form limit is refused whole.
    let (s, _, _) = browser.post("/admin/companies", &[("csrf", csrf.as_str()), ("slug", &"x".repeat(70_000))]).await;
    assert_eq!(s, 400);
    assert!(app.store.list_companies().await.unwrap().is_empty(), "nothing was created");
    // The same form with the page's token works.
    let (s, _, to) = browser.post("/admin/companies", &[("csrf", &csrf), ("slug", "good")]).await;
    assert_eq!((s, to.as_deref()), (303, Some("/admin/companies/good")));
}

async fn company_and_user_actions_take_effect_and_name_the_admin(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.link_secret = qbwcd::onboarding::LinkSecret::new("0123456789abcdef0123456789abcdef");
    })
    .await;
    admin(&app, "olga").await;
    let browser = Browser::new(&app);
    browser.login("olga", ADMIN_PASSWORD).await;

    // A company, from the form on /admin.
    let fields = [("slug", "acme"), ("name", "Acme & Sons"), ("file_path", ""), ("webhook_url", "")];
    let (s, _, to) = browser.submit("/admin", "/admin/companies", &fields).await;
    assert_eq!((s, to.as_deref()), (303, Some("/admin/companies/acme")));
    let (_, page, _) = browser.get("/admin/companies/acme").await;
    assert!(page.contains("Company acme created"), "the flash: {page}");
    assert!(page.contains("No Web Connector user yet"), "{page}");
    let (_, home, _) = browser.get("/admin?q=ac").await;
    assert!(home.contains("Sons") && home.contains("never connected"), "{home}");
    assert!(!browser.get("/admin?q=zz").await.1.contains("Acme"));

    // A user: its password is shown once and logs its Web Connector in.
    let (s, shown, _) =
        browser.submit("/admin/companies/acme", "/admin/companies/acme/users", &[("username", "pc1")]).await;
    assert_eq!(s, 200);
    let marker = "class=\"secret\" aria-label=\"Password\">";
    let at = shown.find(marker).unwrap() + marker.len();
    let password = shown[at..].split('<').next().unwrap().to_owned();
    assert_eq!(password.len(), 24, "{shown}");
    let wc = FakeWebConnector::new(&format!("{}/qbwc", app.url), "pc1", &password);
    assert_ne!(wc.authenticate().await[1], "nvu", "the shown password works");
    let (_, page, _) = browser.get("/admin/companies/acme").await;
    assert!(page.contains("pc1"), "{page}");

    // Its .qwc.
    let r = browser.http.get(format!("{}/admin/users/pc1/qwc", app.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(".qwc"));
    let qwc = r.text().await.unwrap();
    assert_eq!(qwc_elements(&qwc)["UserName"], "pc1");

    // An onboarding link, shown to copy; it downloads the same file.
    let (s, linked, _) = browser.submit("/admin/companies/acme", "/admin/users/pc1/link", &[]).await;
    assert_eq!(s, 200, "{linked}");
    let marker = "id=\"link\" class=\"secret\" readonly value=\"";
    let at = linked.find(marker).unwrap() + marker.len();
    let url = linked[at..].split('"').next().unwrap().replace("&#x2f;", "/").replace("&#47;", "/");
    let token = url.rsplit('/').next().unwrap();
    let via_link = reqwest::get(format!("{}/qwc/{token}/file", app.url)).await.unwrap();
    assert_eq!(via_link.status().as_u16(), 200, "{url}");

    // Schedule, disable, enable, unlock, a new password.
    let (s, _, _) = browser
        .submit("/admin/companies/acme", "/admin/users/pc1/schedule", &[("every", "15"), ("unit", "minutes")])
        .await;
    assert_eq!(s, 303);
    assert_eq!(app.store.user("pc1").await.unwrap().unwrap().run_every_minutes, Some(15));
    let bad = browser
        .submit("/admin/companies/acme", "/admin/users/pc1/schedule", &[("every", "0"), ("unit", "minutes")])
        .await;
    assert_eq!(bad.0, 400, "{}", bad.1);
    browser.submit("/admin/companies/acme", "/admin/users/pc1/enabled", &[("enabled", "false")]).await;
    assert!(!app.store.user("pc1").await.unwrap().unwrap().enabled);
    assert_eq!(wc.authenticate().await[1], "nvu");
    browser.submit("/admin/companies/acme", "/admin/users/pc1/enabled", &[("enabled", "true")]).await;
    assert!(app.store.user("pc1").await.unwrap().unwrap().enabled);
    let (s, _, _) = browser.submit("/admin/companies/acme", "/admin/users/pc1/unlock", &[]).await;
    assert_eq!(s, 303);
    let (s, reset, _) = browser.submit("/admin/companies/acme", "/admin/users/pc1/password", &[]).await;
    assert_eq!(s, 200);
    assert!(reset.contains("The old password stops working now"), "{reset}");
    assert_eq!(wc.authenticate().await[1], "nvu", "the old password no longer works");

    // The company's settings.
    let fields =
        [("name", "Acme Ltd"), ("file_path", "C:\\Books\\acme.QBW"), ("webhook_url", ""), ("enabled", "enabled")];
    browser.submit("/admin/companies/acme", "/admin/companies/acme/edit", &fields).await;
    let c = app.store.company(&qbwcd::types::CompanySlug::parse("acme").unwrap()).await.unwrap().unwrap();
    assert_eq!((c.name.as_str(), c.file_path.as_deref()), ("Acme Ltd", Some("C:\\Books\\acme.QBW")));

    // Every action is an event naming the admin, on the company.
    let kinds: Vec<String> = console_events(&app)
        .await
        .into_iter()
        .filter(|e| e.company_id == Some(c.id))
        .inspect(|e| assert!(e.message.contains("admin \"olga\""), "{}", e.message))
        .map(|e| e.kind)
        .collect();
    for kind in [
        "console.company_created",
        "console.user_added",
        "console.qwc_downloaded",
        "console.link_created",
        "console.schedule_changed",
        "console.user_disabled",
        "console.user_enabled",
        "console.user_unlocked",
        "console.password_reset",
        "console.company_updated",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

async fn the_job_page_retries_a_failed_job_and_settles_a_lost_write(b: Backend) {
    let app = TestApp::spawn(b).await;
    admin(&app, "olga").await;
    let acme = app.company("acme", None).await;
    app.user("pc1", &acme).await;
    let browser = Browser::new(&app);
    browser.login("olga", ADMIN_PASSWORD).await;

    // A write refused for permission (3260): the company shows it with its steps.
    let failed = app.enqueue(&acme, &customer_add("A")).await;
    let wc = app.connector("pc1");
    wc.qb.script(Script::Status(3260, "Error", "Insufficient permission level to perform this action."));
    wc.run_session().await;
    let (_, page, _) = browser.get("/admin/companies/acme?state=failed").await;
    assert!(page.contains("qbxml.3260"), "{page}");
    assert!(page.contains("Integrated Applications"), "the steps: {page}");
    assert!(page.contains("Authenticated as pc1"), "the session timeline: {page}");
    // Each row of the company list has its own company's queue and
    // problems (the page reads them for all its rows at once).
    let bolt = app.company("bolt", None).await;
    app.enqueue(&bolt, &customer_add("B")).await;
    let (_, home, _) = browser.get("/admin").await;
    let acme_row = row_of(&home, "acme");
    assert!(acme_row.contains("attention") && acme_row.contains("qbxml.3260"), "{acme_row}");
    assert!(acme_row.contains("failed</span> 1") && !acme_row.contains("queued"), "{acme_row}");
    let bolt_row = row_of(&home, "bolt");
    assert!(bolt_row.contains("queued</span> 1") && !bolt_row.contains("failed"), "{bolt_row}");
    assert!(!bolt_row.contains("qbxml.3260") && !bolt_row.contains("attention"), "{bolt_row}");

    let job_page = format!("/admin/jobs/{}", failed.id);
    let (s, html, _) = browser.get(&job_page).await;
    assert_eq!(s, 200);
    assert!(html.contains("CustomerAddRq") && html.contains("Insufficient permission"), "{html}");
    assert!(html.contains("Retry"), "{html}");
    let (s, _, to) = browser.submit(&job_page, &format!("{job_page}/retry"), &[]).await;
    assert_eq!((s, to.as_deref()), (303, Some(job_page.as_str())));
    assert_eq!(app.job(&failed).await.state, JobState::Queued);
    assert!(browser.get(&job_page).await.1.contains("Job queued again."));
    // Retrying a queued job is a conflict, said on a page.
    assert_eq!(
        browser.post(&format!("{job_page}/retry"), &[("csrf", &csrf_in(&browser.get(&job_page).await.1))]).await.0,
        409
    );
    let (s, _, _) = browser.submit(&job_page, &format!("{job_page}/cancel"), &[]).await;
    assert_eq!(s, 303);
    assert_eq!(app.job(&failed).await.state, JobState::Cancelled);

    // A write whose outcome is unknown, then held: settled from its page.
    let lost = app.enqueue(&acme, &customer_add("B")).await;
    wc.qb.script(Script::Hresult("0x80040402", "Unexpected error."));
    wc.run_session().await;
    wc.run_session().await;
    assert_eq!(app.job(&lost).await.state, JobState::Held);
    let lost_page = format!("/admin/jobs/{}", lost.id);
    assert!(browser.get(&lost_page).await.1.contains("Settle this write"));
    let (s, confirm, _) = browser.get(&format!("{lost_page}/resolve")).await;
    assert_eq!(s, 200);
    assert!(confirm.contains("Check in QuickBooks first"), "{confirm}");
    let (s, _, _) = browser
        .submit(&format!("{lost_page}/resolve"), &format!("{lost_page}/resolve"), &[("verdict", "applied")])
        .await;
    assert_eq!(s, 303);
    assert_eq!(app.job(&lost).await.state, JobState::Done);
    assert_eq!(browser.get(&format!("{lost_page}/resolve")).await.0, 409, "a settled write has nothing to settle");

    let events = console_events(&app).await;
    for kind in ["console.job_retried", "console.job_cancelled", "console.job_resolved"] {
        let e = events.iter().find(|e| e.kind == kind).unwrap_or_else(|| panic!("{kind}"));
        assert!(e.message.contains("admin \"olga\"") && e.job_id.is_some(), "{}", e.message);
    }
    assert!(app.store.job(lost.id).await.unwrap().is_some());
}

fn qbwcd(db: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run qbwcd");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

async fn admin_accounts_are_one_surface_in_the_cli_and_the_api(b: Backend) {
    let app = TestApp::spawn(b).await;
    let db = app.settings.database_url.clone();
    let api = app.api().await;

    // Added by the CLI, listed by the API, and the reverse.
    let added = qbwcd(&db, &["admin", "add", "olga", "--password-stdin"], &format!("{ADMIN_PASSWORD}\n"));
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let short = qbwcd(&db, &["admin", "add", "bob", "--password-stdin"], "short\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let (s, made) = api.post("/admins", serde_json::json!({"name": "petra", "password": ADMIN_PASSWORD})).await;
    assert_eq!((s, made["name"].as_str()), (201, Some("petra")));
    assert_eq!(api.post("/admins", serde_json::json!({"name": "petra", "password": ADMIN_PASSWORD})).await.0, 409);
    assert_eq!(api.post("/admins", serde_json::json!({"name": "x", "password": "short"})).await.0, 400);
    let (_, listed) = api.get("/admins").await;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["olga", "petra"]);
    let cli = qbwcd(&db, &["admin", "list", "--json"], "");
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(cli.as_array().unwrap().len(), 2);
    assert!(cli[0].get("password_hash").is_none(), "never the hash");

    // Both log in; a new password (API) ends the console session.
    let browser = Browser::new(&app);
    assert_eq!(browser.login("petra", ADMIN_PASSWORD).await.0, 303);
    assert_eq!(browser.get("/admin").await.0, 200);
    let (s, _) = api.post("/admins/petra/password", serde_json::json!({"password": "a different long one"})).await;
    assert_eq!(s, 204);
    assert_eq!(browser.get("/admin").await.0, 303);
    assert_eq!(browser.login("petra", "a different long one").await.0, 303);

    // Removed by the CLI: the session ends and the login is refused.
    let removed = qbwcd(&db, &["admin", "remove", "petra"], "");
    assert!(removed.status.success());
    assert_eq!(browser.get("/admin").await.0, 303);
    assert_eq!(browser.login("petra", "a different long one").await.0, 401);
    let r = reqwest::Client::new()
        .delete(format!("{}/api/v1/admins/nobody", app.url))
        .bearer_auth(app.token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}
