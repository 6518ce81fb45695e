//! An installation the console tests look at, made the way it happens in
//! production: the CLI adds a company, its Web Connector user and a console
//! admin; a real `qbwcd serve` runs; a simulated Web Connector runs
//! sessions against it in which QuickBooks refuses a write for lack of
//! permission (status 3260) and another write's answer is lost so that
//! only a person can settle it (held).

use std::str::FromStr;

use qbwcd::queue::JobState;
use qbwcd::store::{JobStore, SessionStore};
use qbwcd::types::JobId;

use super::harness::{qbwcd, Browser, Serve};
use crate::fake_qbwc::{FakeWebConnector, Script};
use crate::helpers::{customer_add, Backend, TestDb, PASSWORD};

/// The console admin's name and password.
pub const ADMIN: &str = "ops";
pub const ADMIN_PASSWORD: &str = "console-admin-passw0rd";

/// The company, its user, the server, and the two jobs that need a person.
pub struct Installation {
    pub db: TestDb,
    pub serve: Serve,
    pub wc: FakeWebConnector,
    /// An invoice QuickBooks refused with 3260 (failed).
    pub failed: JobId,
    /// A customer add whose fate QuickBooks could not tell (held).
    pub held: JobId,
}

fn enqueue(db: &str, qbxml: &str) -> JobId {
    let out = qbwcd(db, &["enqueue", "acme", "-"], qbxml);
    let id = out.split_whitespace().find_map(|w| uuid::Uuid::from_str(w).ok()).expect("enqueue prints the job id");
    JobId(id)
}

impl Installation {
    pub async fn new(b: Backend) -> Installation {
        let db = TestDb::new(b).await;
        qbwcd(&db.url, &["company", "add", "acme"], "");
        qbwcd(&db.url, &["user", "add", "pc1", "--company", "acme", "--password-stdin"], &format!("{PASSWORD}\n"));
        qbwcd(&db.url, &["admin", "add", ADMIN, "--password-stdin"], &format!("{ADMIN_PASSWORD}\n"));
        // Onboarding links need a secret to sign them.
        let serve = Serve::start(&db.url, &[("QBWCD_LINK_SECRET", &"5e".repeat(32))]).await;
        let wc = FakeWebConnector::new(&format!("{}/qbwc", serve.base), "pc1", PASSWORD);

        // QuickBooks refuses the invoice: the user lacks the permission.
        let failed = enqueue(&db.url, "<InvoiceAddRq requestID=\"7\"><InvoiceAdd><CustomerRef><FullName>Ann</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq>");
        wc.qb.script(Script::Status(3260, "Error", "Insufficient permission level to perform this action."));
        wc.run_session().await;

        // The connection dies before QuickBooks sees the next write; the
        // session lapses (the reaper's work, run here an idle timeout
        // early), and the next session's check finds no record: held.
        let held = enqueue(&db.url, &customer_add("Held Customer"));
        wc.qb.script(Script::VanishBeforeApply);
        wc.run_session().await;
        db.store.recover_expired(chrono::Utc::now() + chrono::Duration::hours(2)).await.expect("recover");
        wc.run_session().await;

        let inst = Installation { db, serve, wc, failed, held };
        assert_eq!(inst.state(failed).await, JobState::Failed, "{}", inst.serve.logs());
        assert_eq!(inst.state(held).await, JobState::Held, "{}", inst.serve.logs());
        inst
    }

    pub async fn state(&self, id: JobId) -> JobState {
        self.db.store.job(id).await.expect("read job").expect("job exists").state
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.serve.base)
    }
}

/// Logs in through the form and lands on the company list.
pub async fn log_in(browser: &mut Browser, inst: &Installation) {
    browser.goto(&inst.url("/admin")).await;
    // Not logged in: the console sends the browser to its login page.
    assert_eq!(browser.path().await, "/admin/login");
    browser.shot("login").await;
    browser.fill("Name", ADMIN).await;
    browser.fill("Password", ADMIN_PASSWORD).await;
    browser.press("Log in").await;
    browser.wait_for_text("acme").await;
    assert_eq!(browser.path().await, "/admin");
}
