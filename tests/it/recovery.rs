//! Exactly-once writes: a write whose answer was lost is settled with qbXML
//! error recovery, never resent blindly.

use std::time::Duration;

use qbwcd::queue::JobState;
use qbwcd::store::{AccountStore, JobStore, SessionStore};

use crate::both_backends;
use crate::fake_qbwc::Script;
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

both_backends!(
    writes_carry_a_message_set_id_and_clear_the_last_answered_one,
    a_lost_answer_is_recovered_from_quickbooks_record_and_not_resent,
    a_write_quickbooks_never_saw_is_held_for_an_operator_then_resolved,
);

async fn lose_session(app: &TestApp) {
    app.clock.advance(Duration::from_secs(app.settings.session_idle_seconds + 1));
    app.store.recover_expired(app.now()).await.unwrap();
}

async fn writes_carry_a_message_set_id_and_clear_the_last_answered_one(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let a = app.enqueue(&acme, &customer_add("A")).await;
    app.enqueue(&acme, &customer_query("read")).await;
    let c = app.enqueue(&acme, &customer_add("C")).await;
    let wc = app.connector("api");

    wc.run_session().await;

    let sets = wc.qb.message_sets();
    let a_id = app.job(&a).await.message_set_id.expect("a write has a message-set id");
    let c_id = app.job(&c).await.message_set_id.expect("a write has a message-set id");
    assert!(a_id.len() <= 23 && a_id.chars().all(|ch| ch.is_ascii_alphanumeric()), "{a_id}");
    assert_ne!(a_id, c_id);
    assert_eq!(sets[0], (Some(a_id.clone()), None));
    assert_eq!(sets[1], (None, None), "a query needs no recovery record");
    assert_eq!(sets[2], (Some(c_id.clone()), Some(a_id)), "the next write clears the last record");
    assert_eq!(wc.qb.stored_records(), 1);
    let company = app.store.company_by_id(acme.id).await.unwrap().unwrap();
    assert_eq!(company.last_message_set_id, Some(c_id));
}

async fn a_lost_answer_is_recovered_from_quickbooks_record_and_not_resent(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let invoice = app.enqueue(&acme, &customer_add("INV-1")).await;
    let wc = app.connector("api");

    // QuickBooks applies the write; the answer never reaches qbwcd.
    wc.qb.script(Script::Vanish);
    wc.run_session().await;
    lose_session(&app).await;
    assert_eq!(app.job(&invoice).await.state, JobState::Unknown);
    let later = app.enqueue(&acme, &customer_add("INV-2")).await;

    // The next session checks first, then goes on with the queue.
    let log = wc.run_session().await;

    let id = app.job(&invoice).await.message_set_id.unwrap();
    assert!(
        log.requests[0].contains(&format!("newMessageSetID=\"{id}\" oldMessageSetID=\"{id}\"")),
        "a status check goes first: {}",
        log.requests[0]
    );
    assert!(!log.requests[0].contains("CustomerAddRq"), "the write itself is not resent");
    let j = app.job(&invoice).await;
    assert_eq!(j.state, JobState::Done);
    assert!(j.response.unwrap().contains("CustomerAddRs"), "the stored answer is the job's answer");
    assert_eq!(app.job(&later).await.state, JobState::Done);
    let applied: Vec<_> = wc.qb.applied().into_iter().filter(|a| a.contains("INV-1")).collect();
    assert_eq!(applied.len(), 1, "INV-1 reached QuickBooks exactly once");
}

async fn a_write_quickbooks_never_saw_is_held_for_an_operator_then_resolved(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, &customer_add("X")).await;
    let wc = app.connector("api");

    wc.qb.script(Script::VanishBeforeApply);
    wc.run_session().await;
    lose_session(&app).await;
    wc.run_session().await;

    let j = app.job(&job).await;
    assert_eq!(j.state, JobState::Held, "QuickBooks could not tell: a person decides");
    assert_eq!(j.diagnostic.as_deref(), Some("session.answer_lost"));
    assert!(j.error.unwrap().contains("9002"));
    assert!(wc.qb.applied().is_empty());
    // Nothing more to do until someone decides.
    assert_eq!(wc.run_session().await.auth[1], "none");

    app.store.resolve_job(job.id, false, app.now()).await.unwrap();
    wc.run_session().await;
    assert_eq!(app.job(&job).await.state, JobState::Done);
    assert_eq!(wc.qb.applied(), ["CustomerAddRq:X"]);
}
