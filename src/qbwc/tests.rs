//! The protocol's rules, tested on [`Qbwc::handle`] itself: calls as the
//! SOAP layer hands them over, a real (SQLite) store, a clock that moves
//! only when told to. The end-to-end tests (`tests/it`) drive the same
//! rules over HTTP with a simulated Web Connector.

use std::sync::Arc;

use secrecy::SecretString;

use super::receive::{answer_rule, AnswerTo};
use super::{CallContext, Qbwc};
use crate::auth::{hash_password, Verifier};
use crate::clock::{Clock, ManualClock};
use crate::config::Settings;
use crate::queue::JobState;
use crate::soap::{Call, Reply};
use crate::store::{AccountStore, Company, JobStore, NewCompany, NewUser, PoolOptions, SessionStore, SqlStore, Store};
use crate::submit::{submit, SubmitOptions};
use crate::types::{CompanySlug, JobId, Ticket, Username};

const PASSWORD: &str = "correct horse";
const FILE: &str = r"C:\Company\acme.qbw";

/// A protocol service over a fresh SQLite store with one company and one
/// user (`alice`).
struct Harness {
    qbwc: Qbwc,
    store: Arc<SqlStore>,
    clock: Arc<ManualClock>,
    company: Company,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new(settings: Settings) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/qbwcd.db?mode=rwc", dir.path().display());
        let store = Arc::new(SqlStore::connect(&url, &PoolOptions::default()).await.unwrap());
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new());
        let new = NewCompany {
            slug: CompanySlug::parse("acme").unwrap(),
            name: "Acme".into(),
            file_path: Some(FILE.into()),
            file_id: uuid::Uuid::new_v4(),
            webhook_url: None,
        };
        let company = store.create_company(new, clock.now()).await.unwrap();
        let user = NewUser {
            username: Username::parse("alice").unwrap(),
            company_id: company.id,
            password_hash: hash_password(&SecretString::from(PASSWORD.to_owned())).unwrap(),
            owner_id: uuid::Uuid::new_v4(),
        };
        store.create_user(user, clock.now()).await.unwrap();
        let dyn_store: Arc<dyn Store> = store.clone();
        let qbwc = Qbwc::new(dyn_store, clock.clone(), Arc::new(settings), Verifier::new(1, 8).unwrap());
        Harness { qbwc, store, clock, company, _dir: dir }
    }

    async fn enqueue(&self, qbxml: &str) -> JobId {
        let store: &dyn Store = self.store.as_ref();
        let done = submit(store, &self.company, qbxml, SubmitOptions::default(), 1 << 20, 3, self.clock.now());
        done.await.unwrap().job().id
    }

    async fn call(&self, call: Call) -> Reply {
        self.qbwc.handle(call, &CallContext { remote_addr: Some("127.0.0.1".into()) }).await
    }

    async fn authenticate(&self, password: &str) -> Vec<String> {
        let call = Call::Authenticate { username: "alice".into(), password: SecretString::from(password.to_owned()) };
        match self.call(call).await {
            Reply::Authenticate(v) => v,
            other => panic!("{other:?}"),
        }
    }

    /// `sendRequestXML`; `hcp` only on the first call, as the Web
    /// Connector sends it.
    async fn send(&self, ticket: &str, hcp: &str, major: i32) -> String {
        let call = Call::SendRequestXml {
            ticket: Ticket::from_wire(ticket),
            hcp_response: hcp.into(),
            company_file_name: FILE.into(),
            country: "US".into(),
            major_version: major,
            minor_version: 0,
        };
        match self.call(call).await {
            Reply::SendRequestXml(xml) => xml,
            other => panic!("{other:?}"),
        }
    }

    async fn receive(&self, ticket: &str, response: &str, hresult: &str) -> i32 {
        let call = Call::ReceiveResponseXml {
            ticket: Ticket::from_wire(ticket),
            response: response.into(),
            hresult: hresult.into(),
            message: if hresult.is_empty() { String::new() } else { "QuickBooks says no".into() },
        };
        match self.call(call).await {
            Reply::ReceiveResponseXml(p) => p,
            other => panic!("{other:?}"),
        }
    }

    async fn last_error(&self, ticket: &str) -> String {
        match self.call(Call::GetLastError { ticket: Ticket::from_wire(ticket) }).await {
            Reply::GetLastError(s) => s,
            other => panic!("{other:?}"),
        }
    }

    async fn close(&self, ticket: &str) {
        self.call(Call::CloseConnection { ticket: Ticket::from_wire(ticket) }).await;
    }

    async fn state(&self, id: JobId) -> JobState {
        self.store.job(id).await.unwrap().unwrap().state
    }
}

fn read(name: &str) -> String {
    format!(
        r#"<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerQueryRq requestID="1"><FullName>{name}</FullName></CustomerQueryRq></QBXMLMsgsRq></QBXML>"#
    )
}

fn write(name: &str) -> String {
    format!(
        r#"<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerAddRq requestID="1"><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq></QBXMLMsgsRq></QBXML>"#
    )
}

fn answer(rs: &str, status: u32, message_set: Option<&str>) -> String {
    let set = message_set.map(|id| format!(r#" newMessageSetID="{id}" messageSetStatusCode="0""#)).unwrap_or_default();
    format!(
        r#"<?xml version="1.0" ?><QBXML><QBXMLMsgsRs{set}><{rs} requestID="1" statusCode="{status}" statusSeverity="{}" statusMessage="m"/></QBXMLMsgsRs></QBXML>"#,
        if status == 0 { "Info" } else { "Error" }
    )
}

/// The message-set id a write was sent with.
fn message_set_id(request: &str) -> String {
    let start = request.find("newMessageSetID=\"").expect("a write carries a message set") + 17;
    request[start..].split('"').next().unwrap().to_owned()
}

// --- authenticate ---

#[tokio::test]
async fn authenticate_answers_a_ticket_with_work_none_without_and_nvu_for_a_wrong_password() {
    let h = Harness::new(Settings::default()).await;
    assert_eq!(h.authenticate("wrong").await[1], "nvu");
    let idle = h.authenticate(PASSWORD).await;
    assert_eq!(idle[1], "none", "nothing queued: {idle:?}");
    h.enqueue(&read("A")).await;
    let auth = h.authenticate(PASSWORD).await;
    assert_eq!(auth[1], FILE, "work queued: the company file QuickBooks is to open");
    assert!(h.store.session(&Ticket::from_wire(&auth[0]).hash()).await.unwrap().is_some(), "a session was opened");
}

// --- sendRequestXML ---

#[tokio::test]
async fn the_first_call_checks_the_file_and_later_calls_send_the_queue_in_order() {
    let h = Harness::new(Settings::default()).await;
    let (a, b) = (h.enqueue(&read("A")).await, h.enqueue(&read("B")).await);
    let ticket = h.authenticate(PASSWORD).await[0].clone();
    // The first call (FirstCall): the file is recorded, then the head is sent.
    let first = h.send(&ticket, "", 13).await;
    assert!(first.contains("<FullName>A</FullName>"), "{first}");
    let session = h.store.session(&Ticket::from_wire(&ticket).hash()).await.unwrap().unwrap();
    assert_eq!(session.company_file_name.as_deref(), Some(FILE));
    assert_eq!(h.state(a).await, JobState::Sent);
    assert!(h.receive(&ticket, &answer("CustomerQueryRs", 0, None), "").await > 0);
    // A later call (Ready): the next job came with the touch.
    let second = h.send(&ticket, "", 13).await;
    assert!(second.contains("<FullName>B</FullName>"), "{second}");
    assert_eq!(h.receive(&ticket, &answer("CustomerQueryRs", 0, None), "").await, 100);
    assert_eq!((h.state(a).await, h.state(b).await), (JobState::Done, JobState::Done));
}

#[tokio::test]
async fn a_job_above_the_session_version_is_refused_and_the_next_is_sent_in_the_same_call() {
    let h = Harness::new(Settings::default()).await;
    let high = h.enqueue(&read("High").replace("13.0", "16.0")).await;
    let next = h.enqueue(&read("Next")).await;
    let ticket = h.authenticate(PASSWORD).await[0].clone();
    let sent = h.send(&ticket, "", 13).await;
    assert!(sent.contains("<FullName>Next</FullName>"), "{sent}");
    let refused = h.store.job(high).await.unwrap().unwrap();
    assert_eq!(refused.state, JobState::Failed);
    assert_eq!(refused.diagnostic.as_deref(), Some("version.qbxml_above_ceiling"));
    assert_eq!(h.state(next).await, JobState::Sent);
}

#[tokio::test]
async fn with_nothing_to_send_a_live_session_answers_noop_and_an_ordinary_one_closes() {
    let live = Harness::new(Settings { live_idle_seconds: 60, ..Settings::default() }).await;
    live.enqueue(&read("A")).await;
    let ticket = live.authenticate(PASSWORD).await[0].clone();
    live.send(&ticket, "", 13).await;
    live.receive(&ticket, &answer("CustomerQueryRs", 0, None), "").await;
    assert_eq!(live.send(&ticket, "", 13).await, "");
    assert_eq!(live.last_error(&ticket).await, "NoOp", "the Web Connector waits and asks again");

    let plain = Harness::new(Settings::default()).await;
    plain.enqueue(&read("A")).await;
    let ticket = plain.authenticate(PASSWORD).await[0].clone();
    plain.send(&ticket, "", 13).await;
    plain.receive(&ticket, &answer("CustomerQueryRs", 0, None), "").await;
    assert_eq!(plain.send(&ticket, "", 13).await, "");
    let closing = plain.last_error(&ticket).await;
    assert!(closing.contains("session.no_more_work"), "{closing}");
}

// --- receiveResponseXML ---

#[test]
fn the_answer_rule_completes_only_plain_answers() {
    assert_eq!(answer_rule(false, false, "", Some(false)), AnswerTo::Completion);
    assert_eq!(answer_rule(false, false, "", None), AnswerTo::Completion, "unreadable: completed as such");
    assert_eq!(answer_rule(false, true, "", Some(false)), AnswerTo::IteratorPage);
    assert_eq!(answer_rule(false, true, "", Some(true)), AnswerTo::Completion, "an iterator's error ends it");
    assert_eq!(answer_rule(false, true, "", None), AnswerTo::Completion);
    assert_eq!(answer_rule(false, false, "0x80040400", None), AnswerTo::Hresult);
    assert_eq!(answer_rule(true, false, "0x80040400", None), AnswerTo::RecoveryCheck, "recovery decides first");
    assert_eq!(answer_rule(true, false, "", Some(false)), AnswerTo::RecoveryCheck);
}

#[tokio::test]
async fn an_hresult_stops_the_session_and_an_unreadable_answer_requeues_a_read_and_loses_a_write() {
    let h = Harness::new(Settings::default()).await;
    let (r, w) = (h.enqueue(&read("R")).await, h.enqueue(&write("W")).await);
    let ticket = h.authenticate(PASSWORD).await[0].clone();
    h.send(&ticket, "", 13).await;
    assert!(h.receive(&ticket, "<not qbxml", "").await >= 0, "the session goes on");
    assert_eq!(h.state(r).await, JobState::Queued);
    // The read is the head again; then the write.
    assert!(h.send(&ticket, "", 13).await.contains("<FullName>R</FullName>"));
    h.receive(&ticket, &answer("CustomerQueryRs", 0, None), "").await;
    assert!(h.send(&ticket, "", 13).await.contains("CustomerAddRq"));
    assert!(h.receive(&ticket, "<not qbxml", "").await >= 0);
    assert_eq!(h.state(w).await, JobState::Unknown, "a write that may have been applied is never sent again");

    let h = Harness::new(Settings::default()).await;
    let w = h.enqueue(&write("W")).await;
    let ticket = h.authenticate(PASSWORD).await[0].clone();
    h.send(&ticket, "", 13).await;
    assert_eq!(h.receive(&ticket, "", "0x80040400").await, -1, "the session stops");
    assert_eq!(h.state(w).await, JobState::Failed);
    assert!(h.last_error(&ticket).await.contains("0x80040400"));
}

// --- error recovery ---

#[tokio::test]
async fn a_lost_write_is_checked_before_anything_else_and_settled_by_quickbooks_stored_answer() {
    let h = Harness::new(Settings::default()).await;
    let w = h.enqueue(&write("W")).await;
    let ticket = h.authenticate(PASSWORD).await[0].clone();
    let sent = h.send(&ticket, "", 13).await;
    let id = message_set_id(&sent);
    // The answer is lost: the session ends with the write in flight.
    h.close(&ticket).await;
    assert_eq!(h.state(w).await, JobState::Unknown);
    let later = h.enqueue(&read("Later")).await;

    let ticket = h.authenticate(PASSWORD).await[0].clone();
    let check = h.send(&ticket, "", 13).await;
    assert!(check.contains(&format!(r#"oldMessageSetID="{id}""#)) && !check.contains("CustomerAddRq"), "{check}");
    assert_eq!(h.state(later).await, JobState::Queued, "nothing overtakes the check");
    h.receive(&ticket, &answer("CustomerAddRs", 0, Some(&id)), "").await;
    assert_eq!(h.state(w).await, JobState::Done, "QuickBooks' stored answer is the write's outcome");
    assert!(h.send(&ticket, "", 13).await.contains("<FullName>Later</FullName>"));
}

#[tokio::test]
async fn a_lost_write_quickbooks_kept_no_answer_for_is_held_for_an_operator() {
    let h = Harness::new(Settings::default()).await;
    let w = h.enqueue(&write("W")).await;
    let ticket = h.authenticate(PASSWORD).await[0].clone();
    h.send(&ticket, "", 13).await;
    h.close(&ticket).await;

    let ticket = h.authenticate(PASSWORD).await[0].clone();
    h.send(&ticket, "", 13).await;
    let no_record = r#"<?xml version="1.0" ?><QBXML><QBXMLMsgsRs messageSetStatusCode="9002" /></QBXML>"#;
    h.receive(&ticket, no_record, "").await;
    let held = h.store.job(w).await.unwrap().unwrap();
    assert_eq!(held.state, JobState::Held);
    assert_eq!(held.diagnostic.as_deref(), Some("session.answer_lost"));
    assert!(held.error.as_deref().is_some_and(|e| e.contains("9002")), "{:?}", held.error);
}
