//! Iterator queries continued inside one session, and live sessions that
//! stay open through the NoOp pattern.

use std::time::Duration;

use qbwcd::queue::JobState;
use qbwcd::store::{JobStore, SessionStore};

use crate::both_backends;
use crate::helpers::{customer_query, Backend, TestApp};

both_backends!(
    an_iterator_is_continued_over_three_pages_in_one_session,
    an_iterator_broken_by_a_lost_session_restarts_from_start,
    a_live_session_picks_up_a_job_enqueued_mid_session,
    a_live_session_ends_after_its_idle_time,
    an_iterator_past_its_page_limit_is_stopped_and_the_job_fails,
);

const ITERATE: &str =
    "<CustomerQueryRq requestID=\"it\" iterator=\"Start\"><MaxReturned>2</MaxReturned></CustomerQueryRq>";

async fn an_iterator_is_continued_over_three_pages_in_one_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, ITERATE).await;
    let after = app.enqueue(&acme, &customer_query("after")).await;
    let wc = app.connector("api");
    wc.qb.set_records(5);

    let log = wc.run_session().await;

    assert_eq!(
        wc.qb.applied(),
        [
            "CustomerQueryRq:it:Start",
            "CustomerQueryRq:it:Continue",
            "CustomerQueryRq:it:Continue",
            "CustomerQueryRq:after"
        ]
    );
    assert!(log.requests[1].contains("iterator=\"Continue\" iteratorID=\"{it-1}\""), "{}", log.requests[1]);
    assert!(log.progress[..3].iter().all(|p| *p < 100), "{:?}", log.progress);
    assert_eq!(log.progress.last(), Some(&100));
    let j = app.job(&job).await;
    assert_eq!(j.state, JobState::Done);
    let pages = app.store.pages(j.id, j.attempt).await.unwrap();
    assert_eq!(pages.iter().map(|p| p.page).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(pages[0].response.contains("Customer 0") && pages[0].response.contains("Customer 1"));
    assert!(pages[2].response.contains("Customer 4"));
    assert_eq!(pages[2].statuses[0].iterator_remaining_count, Some(0));
    assert_eq!(app.job(&after).await.state, JobState::Done);
}

async fn an_iterator_broken_by_a_lost_session_restarts_from_start(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, ITERATE).await;
    let wc = app.connector("api");
    wc.qb.set_records(5);

    // First session: one page, then the connection dies mid-iterator.
    wc.qb.script(crate::fake_qbwc::Script::Ok);
    wc.qb.script(crate::fake_qbwc::Script::Vanish);
    wc.run_session().await;
    app.clock.advance(Duration::from_secs(app.settings.session_idle_seconds + 1));
    app.store.recover_expired(app.now()).await.unwrap();
    let j = app.job(&job).await;
    assert_eq!((j.state, j.attempt), (JobState::Queued, 1));

    // The next session starts over; pages of the broken attempt are not mixed in.
    wc.run_session().await;
    let j = app.job(&job).await;
    assert_eq!((j.state, j.attempt), (JobState::Done, 2));
    let applied = wc.qb.applied();
    assert_eq!(applied.iter().filter(|a| a.ends_with(":Start")).count(), 2, "{applied:?}");
    let pages = app.store.pages(j.id, 2).await.unwrap();
    assert_eq!(pages.len(), 3);
    assert!(pages[0].response.contains("Customer 0"));
}

async fn a_live_session_picks_up_a_job_enqueued_mid_session(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.live_idle_seconds = 300).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("first")).await;
    let wc = app.connector("api");
    let runner = wc.clone();
    let session = tokio::spawn(async move { runner.run_session().await });

    // Wait until the first job is done and the session is idling on NoOp.
    let mut waited = 0;
    while wc.qb.applied().is_empty() && waited < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = app.enqueue(&acme, &customer_query("late")).await;
    let mut done = false;
    for _ in 0..200 {
        if app.job(&late).await.state == JobState::Done {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done, "the job enqueued mid-session was done by the same session");
    // Let the session end: past its idle window.
    app.clock.advance(Duration::from_secs(301));
    let log = tokio::time::timeout(Duration::from_secs(10), session).await.expect("session ends").unwrap();
    assert!(log.noops > 0, "the session idled on NoOp");
    assert_eq!(log.auth[1], "", "one session served both jobs");
    assert_eq!(wc.qb.applied(), ["CustomerQueryRq:first", "CustomerQueryRq:late"]);
    assert!(log.last_error.unwrap().contains("session.no_more_work"));
}

async fn a_live_session_ends_after_its_idle_time(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.live_idle_seconds = 60).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let wc = app.connector("api");
    let runner = wc.clone();
    let session = tokio::spawn(async move { runner.run_session().await });
    // Idle on NoOp for a while, then let the clock pass the idle window.
    while wc.qb.applied().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.clock.advance(Duration::from_secs(61));
    let log = tokio::time::timeout(Duration::from_secs(10), session).await.expect("the session ends").unwrap();
    assert_eq!(log.progress, [99], "a live session stays below 100");
    assert!(log.noops > 0);
    let last = log.last_error.unwrap();
    assert!(last.starts_with("[session.no_more_work]"), "{last}");
    assert!(log.close.is_some());
    // After it closed, getLastError never says NoOp.
    assert_ne!(wc.get_last_error(&log.auth[0]).await, "NoOp");
}

async fn an_iterator_past_its_page_limit_is_stopped_and_the_job_fails(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.iterator_max_pages = 2).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, ITERATE).await;
    let after = app.enqueue(&acme, &customer_query("after")).await;
    let wc = app.connector("api");
    wc.qb.set_records(9);

    let log = wc.run_session().await;

    // Two pages, then Stop instead of a third Continue; the next job runs.
    assert_eq!(
        wc.qb.applied(),
        ["CustomerQueryRq:it:Start", "CustomerQueryRq:it:Continue", "CustomerQueryRq:it:Stop", "CustomerQueryRq:after"]
    );
    assert!(log.requests[2].contains("iterator=\"Stop\" iteratorID=\"{it-1}\""), "{}", log.requests[2]);
    assert_eq!(wc.qb.open_iterators(), 0, "QuickBooks holds no iterator after the stop");
    let j = app.job(&job).await;
    assert_eq!(j.state, JobState::Failed);
    assert_eq!(j.diagnostic.as_deref(), Some("iterator.page_limit"));
    assert_eq!(app.store.pages(j.id, j.attempt).await.unwrap().len(), 2, "the pages so far are kept");
    assert_eq!(app.job(&after).await.state, JobState::Done);
}
