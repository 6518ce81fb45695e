//! Exactly-once writes: a write whose answer was lost is settled with qbXML
//! error recovery, never resent blindly.

use std::time::Duration;

use qbwcd::queue::{Job, JobState};
use qbwcd::store::{AccountStore, EventStore, JobStore, SessionStore};

use crate::both_backends;
use crate::fake_qbwc::{FakeWebConnector, Script};
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

both_backends!(
    writes_carry_a_message_set_id_and_clear_the_last_answered_one,
    a_lost_answer_is_recovered_from_quickbooks_record_and_not_resent,
    a_write_quickbooks_never_saw_is_held_for_an_operator_then_resolved,
    a_lost_write_is_checked_by_the_user_that_sent_it_and_other_users_send_nothing_meanwhile,
    each_user_clears_its_own_applications_last_answered_set,
    a_lost_write_whose_connector_does_not_return_is_held_naming_it_and_the_others_go_on,
);

/// Two users of one company file: two applications of one QuickBooks.
async fn two_users(app: &TestApp) -> (qbwcd::store::Company, FakeWebConnector, FakeWebConnector) {
    let acme = app.company("acme", None).await;
    app.user("pc1", &acme).await;
    app.user("pc2", &acme).await;
    let pc1 = app.connector("pc1");
    let mut pc2 = app.connector("pc2");
    pc2.qb = pc1.qb.clone();
    (acme, pc1, pc2)
}

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
    let user = app.store.user("api").await.unwrap().unwrap();
    assert_eq!(user.last_message_set_id, Some(c_id));
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

async fn a_lost_write_is_checked_by_the_user_that_sent_it_and_other_users_send_nothing_meanwhile(b: Backend) {
    // Arrange: pc1's write is applied by QuickBooks, its answer lost; a
    // query and a write that may depend on it come after it in the queue.
    let app = TestApp::spawn(b).await;
    let (acme, pc1, pc2) = two_users(&app).await;
    let w1 = app.enqueue(&acme, &customer_add("W1")).await;
    pc1.qb.script(Script::Vanish);
    pc1.run_session().await;
    lose_session(&app).await;
    let r = app.enqueue(&acme, &customer_query("after-W1")).await;
    let w2 = app.enqueue(&acme, &customer_add("W2")).await;

    // Act 1: the other user's connector comes first.
    let other = pc2.run_session().await;

    // Assert 1: it sends nothing at all (a status check from it would be
    // answered 9002: QuickBooks keeps the record for pc1's application).
    assert_eq!(other.auth[1], "none", "pc2 is told there is nothing to do");
    assert!(other.requests.is_empty(), "pc2 sent {:?}", other.requests);
    assert_eq!(app.job(&w1).await.state, JobState::Unknown);
    assert_eq!(app.job(&r).await.state, JobState::Queued, "nothing overtakes the unsettled write");
    assert_eq!(app.job(&w2).await.state, JobState::Queued);

    // Act 2: the sender's connector returns.
    let own = pc1.run_session().await;

    // Assert 2: it checks first, then the queue goes on in order.
    let j1 = app.job(&w1).await;
    let id = j1.message_set_id.clone().unwrap();
    assert!(own.requests[0].contains(&format!("newMessageSetID=\"{id}\" oldMessageSetID=\"{id}\"")));
    assert_eq!(j1.state, JobState::Done, "settled from pc1's record, no person needed: {:?}", j1.error);
    assert_eq!(app.job(&r).await.state, JobState::Done);
    assert_eq!(app.job(&w2).await.state, JobState::Done);
    let pc1_id = app.store.user("pc1").await.unwrap().unwrap().id;
    assert_eq!(app.job(&w2).await.sent_by, Some(pc1_id), "the claim records the sender");
    let applied = pc1.qb.applied();
    assert_eq!(applied.iter().filter(|a| a.ends_with(":W1")).count(), 1, "{applied:?}");
    assert_eq!(applied.iter().filter(|a| a.ends_with(":W2")).count(), 1, "{applied:?}");
}

async fn each_user_clears_its_own_applications_last_answered_set(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (acme, pc1, pc2) = two_users(&app).await;

    let a = app.enqueue(&acme, &customer_add("A")).await;
    pc1.run_session().await;
    let b_job = app.enqueue(&acme, &customer_add("B")).await;
    pc2.run_session().await;
    let c = app.enqueue(&acme, &customer_add("C")).await;
    pc1.run_session().await;

    let id = |j: Job| j.message_set_id.expect("a write has a message-set id");
    let (a_id, b_id, c_id) = (id(app.job(&a).await), id(app.job(&b_job).await), id(app.job(&c).await));
    let sets = pc1.qb.message_sets();
    assert_eq!(sets[1], (Some(b_id.clone()), None), "pc2's first write clears none of pc1's records");
    assert_eq!(sets[2], (Some(c_id.clone()), Some(a_id)), "pc1's next write clears pc1's last record");
    assert_eq!(pc1.qb.records_of("pc1"), std::slice::from_ref(&c_id), "no record piles up");
    assert_eq!(pc1.qb.records_of("pc2"), std::slice::from_ref(&b_id));
    let last = |u: &'static str| {
        let store = app.store.clone();
        async move { store.user(u).await.unwrap().unwrap().last_message_set_id }
    };
    assert_eq!(last("pc1").await, Some(c_id));
    assert_eq!(last("pc2").await, Some(b_id));
}

async fn a_lost_write_whose_connector_does_not_return_is_held_naming_it_and_the_others_go_on(b: Backend) {
    // Arrange: a reaper every second and an hour's wait.
    let app = TestApp::spawn_with(b, |s| {
        s.reaper_interval_seconds = 1;
        s.recovery_wait_seconds = 3600;
    })
    .await;
    let (acme, pc1, pc2) = two_users(&app).await;
    let w1 = app.enqueue(&acme, &customer_add("W1")).await;
    pc1.qb.script(Script::Vanish);
    pc1.run_session().await;
    lose_session(&app).await;
    let w2 = app.enqueue(&acme, &customer_add("W2")).await;
    assert!(pc2.run_session().await.requests.is_empty(), "pc2 waits for pc1's check");

    // Act: pc1's connector stays away past the wait.
    app.clock.advance(Duration::from_secs(3600));
    let mut held = app.job(&w1).await;
    for _ in 0..100 {
        if held.state != JobState::Unknown {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        held = app.job(&w1).await;
    }

    // Assert: held for a person, naming the connector; the others go on.
    assert_eq!(held.state, JobState::Held);
    assert_eq!(held.hold_reason.as_deref(), Some("operator"));
    assert_eq!(held.diagnostic.as_deref(), Some("session.recovery_connector_absent"));
    assert!(held.error.as_deref().unwrap_or_default().contains("user pc1"), "{:?}", held.error);
    assert!(qbwcd::diagnostics::catalog().get("session.recovery_connector_absent").is_some());
    let log = pc2.run_session().await;
    assert_eq!(log.requests.len(), 1, "pc2 sends W2 and not W1");
    assert_eq!(app.job(&w2).await.state, JobState::Done);
    assert_eq!(pc2.qb.applied(), ["CustomerAddRq:W1", "CustomerAddRq:W2"]);
    let events = app.store.list_events(Some(acme.id), 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.code.as_deref() == Some("session.recovery_connector_absent") && e.message.contains("pc1")),
        "the hold is an event naming the user"
    );
}
