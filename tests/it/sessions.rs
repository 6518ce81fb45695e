//! Whole Web Connector sessions against the live server.

use std::time::Duration;

use qbwcd::queue::JobState;
use qbwcd::store::{EventStore, SessionStore};
use qbwcd::submit::SubmitOptions;

use crate::both_backends;
use crate::fake_qbwc::Script;
use crate::helpers::{customer_add, customer_query, Backend, TestApp};

both_backends!(
    queued_jobs_are_done_in_order_with_their_answers_stored,
    a_company_with_no_work_is_told_none,
    a_bad_password_gets_nvu_and_the_reason_goes_to_events_only,
    a_connection_error_is_recorded_with_its_diagnostic_and_answered_done,
    an_hresult_fails_a_read_and_stops_the_session,
    an_hresult_that_may_have_applied_a_write_makes_it_unknown,
    an_error_status_fails_its_job_and_the_session_goes_on,
    an_abandoned_session_requeues_reads_and_marks_writes_unknown,
    two_connectors_of_one_company_never_get_the_same_job,
    a_stale_answer_after_a_reclaim_is_dropped,
    dependents_wait_for_their_dependencies_and_fail_with_them,
    another_company_file_open_means_nothing_is_sent,
    the_registered_company_file_path_is_returned_by_authenticate,
    bare_requests_are_wrapped_with_the_version_the_client_reports,
);

async fn queued_jobs_are_done_in_order_with_their_answers_stored(b: Backend) {
    // Arrange
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let low = app.enqueue(&acme, &customer_add("low")).await;
    let first = app.enqueue(&acme, &customer_add("first")).await;
    let urgent =
        app.enqueue_with(&acme, &customer_query("urgent"), SubmitOptions { priority: 5, ..Default::default() }).await;
    let wc = app.connector("api");

    // Act
    let log = wc.run_session().await;

    // Assert: priority first, then arrival order; progress rises to 100.
    assert_eq!(wc.qb.applied(), ["CustomerQueryRq:urgent", "CustomerAddRq:low", "CustomerAddRq:first"]);
    assert_eq!(log.progress, [33, 66, 100]);
    assert_eq!(log.close.as_deref(), Some("qbwcd: 3 requests done."));
    for job in [&low, &first, &urgent] {
        let j = app.job(job).await;
        assert_eq!(j.state, JobState::Done, "{}", j.request_names);
        assert_eq!(j.attempt, 1);
        let response = j.response.expect("answer stored");
        assert!(response.contains("Caf\u{e9} &amp; Sons &lt;x&gt;"), "answer kept verbatim: {response}");
        assert_eq!(j.statuses.len(), 1);
        assert_eq!(j.statuses[0].status_code, 0);
    }
    // The HCP taught the server the company's qbXML ceiling and name.
    let c = app.store.company_by_id(acme.id).await.unwrap().unwrap();
    assert_eq!(c.qbxml_version.as_deref(), Some("5.0"));
    assert_eq!(c.qb_company_name.as_deref(), Some("Test Company"));
}

use qbwcd::store::AccountStore;

async fn a_company_with_no_work_is_told_none(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let log = app.connector("api").run_session().await;
    assert_eq!(log.auth.len(), 2);
    assert_eq!(log.auth[1], "none");
    assert!(!log.auth[0].is_empty());
    assert!(log.requests.is_empty());
}

async fn a_bad_password_gets_nvu_and_the_reason_goes_to_events_only(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let user = app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let mut wc = app.connector("api");
    wc.password = "wrong".into();

    let bad = wc.authenticate().await;
    wc.username = "nobody".into();
    let unknown = wc.authenticate().await;

    assert_eq!(bad[1], "nvu");
    assert_eq!(unknown[1], "nvu");
    assert_eq!(bad.len(), 2, "nothing but the ticket and nvu on the wire");
    let events = app.store.list_events(None, 10).await.unwrap();
    let codes: Vec<_> = events.iter().filter_map(|e| e.code.clone()).collect();
    assert!(codes.contains(&"auth.bad_password".to_owned()), "{codes:?}");
    assert!(codes.contains(&"auth.unknown_user".to_owned()), "{codes:?}");
    let u = app.store.user("api").await.unwrap().unwrap();
    assert_eq!(u.id, user.id);
}

async fn a_connection_error_is_recorded_with_its_diagnostic_and_answered_done(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, &customer_query("1")).await;
    let wc = app.connector("api");
    let auth = wc.authenticate().await;

    let answer = wc.connection_error(&auth[0], "0x80040420", "The QuickBooks user has denied access.").await;
    let last = wc.get_last_error(&auth[0]).await;

    assert_eq!(answer, "done");
    assert!(last.starts_with("[0x80040420]"), "{last}");
    let events = app.store.list_events(Some(acme.id), 10).await.unwrap();
    let ev = events.iter().find(|e| e.kind == "connection.error").expect("event");
    assert_eq!(ev.code.as_deref(), Some("0x80040420"));
    assert!(ev.message.contains("denied access"), "{}", ev.message);
    // Nothing was sent, so the job simply waits.
    assert_eq!(app.job(&job).await.state, JobState::Queued);
}

async fn an_hresult_fails_a_read_and_stops_the_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, &customer_query("1")).await;
    let wc = app.connector("api");
    wc.qb.script(Script::Hresult("0x80040400", "QuickBooks found an error when parsing the provided XML text stream."));

    let log = wc.run_session().await;

    assert_eq!(log.progress, [-1]);
    let last = log.last_error.expect("getLastError after -1");
    assert!(last.starts_with("[0x80040400]"), "{last}");
    assert!(last.contains("(ref E"), "{last}");
    let j = app.job(&job).await;
    assert_eq!(j.state, JobState::Failed);
    assert_eq!(j.diagnostic.as_deref(), Some("0x80040400"));
}

async fn an_hresult_that_may_have_applied_a_write_makes_it_unknown(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let job = app.enqueue(&acme, &customer_add("A")).await;
    let wc = app.connector("api");
    wc.qb.script(Script::Hresult("0x80040402", "Unexpected error."));

    wc.run_session().await;
    assert_eq!(app.job(&job).await.state, JobState::Unknown);
    let again = wc.run_session().await;

    // The next session asks QuickBooks about it (error recovery) instead of
    // resending it; QuickBooks has no record, so a person decides.
    assert_eq!(again.requests.len(), 1);
    assert!(!again.requests[0].contains("CustomerAddRq"), "never resent blindly: {}", again.requests[0]);
    assert!(again.requests[0].contains("oldMessageSetID"), "{}", again.requests[0]);
    assert_eq!(app.job(&job).await.state, JobState::Held);
    assert!(wc.qb.applied().is_empty());
}

async fn an_error_status_fails_its_job_and_the_session_goes_on(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let bad = app.enqueue(&acme, &customer_add("dup")).await;
    let good = app.enqueue(&acme, &customer_add("fine")).await;
    let wc = app.connector("api");
    wc.qb.script(Script::Status(3100, "Error", "The name \"dup\" of the list element is already in use."));

    let log = wc.run_session().await;

    assert_eq!(log.progress, [50, 100]);
    let b = app.job(&bad).await;
    assert_eq!(b.state, JobState::Failed);
    assert_eq!(b.diagnostic.as_deref(), Some("qbxml.3100"));
    assert_eq!(b.statuses[0].message, "The name \"dup\" of the list element is already in use.");
    assert_eq!(app.job(&good).await.state, JobState::Done);
    let close = log.close.unwrap();
    assert!(close.contains("1 failed") && close.contains("qbxml.3100"), "{close}");
}

async fn an_abandoned_session_requeues_reads_and_marks_writes_unknown(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.user("pc2", &acme).await;
    let read = app.enqueue(&acme, &customer_query("r")).await;
    let write = app.enqueue(&acme, &customer_add("w")).await;
    let (wc1, wc2) = (app.connector("api"), app.connector("pc2"));

    // The first connector takes the read and dies.
    wc1.qb.script(Script::Vanish);
    wc1.run_session().await;
    assert_eq!(app.job(&read).await.state, JobState::Sent);
    // The second connector takes the write and dies too.
    app.clock.advance(Duration::from_secs(app.settings.session_idle_seconds + 1));
    wc2.qb.script(Script::Vanish);
    let second = wc2.run_session().await;
    assert_eq!(second.requests.len(), 1, "the lapsed session let another connector in");
    assert!(second.requests[0].contains("CustomerQueryRq"), "the read went back to the queue first");

    app.clock.advance(Duration::from_secs(app.settings.session_idle_seconds + 1));
    app.store.recover_expired(app.now()).await.unwrap();

    let r = app.job(&read).await;
    assert_eq!((r.state, r.attempt), (JobState::Queued, 2));
    let w = app.job(&write).await;
    assert_eq!(w.state, JobState::Queued, "the write was never sent: it just waits");
    // Now let the write be sent and lost.
    let wc3 = app.connector("api");
    wc3.qb.script(Script::Ok);
    wc3.qb.script(Script::Vanish);
    wc3.run_session().await;
    app.clock.advance(Duration::from_secs(app.settings.lease_seconds + 1));
    app.store.recover_expired(app.now()).await.unwrap();
    let w = app.job(&write).await;
    assert_eq!(w.state, JobState::Unknown);
    assert_eq!(w.diagnostic.as_deref(), Some("session.answer_lost"));
    assert_eq!(app.job(&read).await.state, JobState::Done);
    // The next session settles it from QuickBooks' recovery record instead
    // of sending it again.
    let next = app.connector("api");
    next.qb.script(Script::Ok);
    let log = next.run_session().await;
    assert!(log.requests.iter().all(|r| !r.contains("CustomerAddRq")), "not resent");
    assert_eq!(app.job(&write).await.state, JobState::Held, "this connector's QuickBooks has no record of it");
    assert_eq!(wc3.qb.applied().iter().filter(|a| a.contains("CustomerAddRq")).count(), 1);
}

async fn two_connectors_of_one_company_never_get_the_same_job(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    for u in ["pc1", "pc2", "pc3", "pc4"] {
        app.user(u, &acme).await;
    }
    for i in 0..12 {
        app.enqueue(&acme, &customer_add(&format!("c{i}"))).await;
    }
    let connectors: Vec<_> = ["pc1", "pc2", "pc3", "pc4"].iter().map(|u| app.connector(u)).collect();

    // Four connectors poll at once, several rounds.
    for _ in 0..6 {
        let runs = connectors.iter().map(|c| c.run_session());
        let logs = futures::future::join_all(runs).await;
        let sessions = logs.iter().filter(|l| !l.requests.is_empty()).count();
        assert!(sessions <= 1, "at most one session per company at a time");
        for l in logs.iter().filter(|l| l.requests.is_empty() && l.auth.len() == 3) {
            assert_eq!(l.auth[1], "none", "a waiting connector is told none with a postpone");
            assert_eq!(l.auth[2], app.settings.postpone_seconds.to_string());
        }
    }

    let mut applied: Vec<String> = connectors.iter().flat_map(|c| c.qb.applied()).collect();
    let order = applied.clone();
    applied.sort();
    applied.dedup();
    assert_eq!(applied.len(), 12, "every job once: {order:?}");
    assert_eq!(order.len(), 12, "no job twice: {order:?}");
    let want: Vec<String> = (0..12).map(|i| format!("CustomerAddRq:c{i}")).collect();
    assert_eq!(order, want, "in order");
}

async fn a_stale_answer_after_a_reclaim_is_dropped(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("slow", &acme).await;
    app.user("fast", &acme).await;
    let job = app.enqueue(&acme, &customer_query("q")).await;
    let (slow, fast) = (app.connector("slow"), app.connector("fast"));

    // The slow connector takes the job and goes quiet past its lease.
    let t1 = slow.authenticate().await[0].clone();
    let req1 = slow.send_request_xml(&t1, &slow.hcp).await;
    assert!(req1.contains("CustomerQueryRq"));
    app.clock.advance(Duration::from_secs(app.settings.lease_seconds + 1));
    // The fast one gets the session and the job again (attempt 2).
    let t2 = fast.authenticate().await[0].clone();
    let req2 = fast.send_request_xml(&t2, &fast.hcp).await;
    assert!(req2.contains("CustomerQueryRq"));
    assert_eq!(app.job(&job).await.attempt, 2);

    // The slow answer arrives late: dropped, the session told to stop.
    let late = slow.receive_response_xml(&t1, "<QBXML><QBXMLMsgsRs><CustomerQueryRs requestID=\"q\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"LATE\"/></QBXMLMsgsRs></QBXML>", "", "").await;
    assert!(late < 0);
    assert_eq!(app.job(&job).await.state, JobState::Sent);

    // The fast answer completes it.
    let pct = fast.receive_response_xml(&t2, "<QBXML><QBXMLMsgsRs><CustomerQueryRs requestID=\"q\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"FRESH\"/></QBXMLMsgsRs></QBXML>", "", "").await;
    assert_eq!(pct, 100);
    let j = app.job(&job).await;
    assert_eq!(j.state, JobState::Done);
    assert_eq!(j.statuses[0].message, "FRESH");
}

async fn dependents_wait_for_their_dependencies_and_fail_with_them(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    let customer = app.enqueue(&acme, &customer_add("cust")).await;
    let dep = |ids: Vec<_>| SubmitOptions { depends_on: ids, priority: 9, ..Default::default() };
    let invoice = app
        .enqueue_with(&acme, "<InvoiceAddRq requestID=\"inv\"><InvoiceAdd><CustomerRef><FullName>Ann</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq>", dep(vec![customer.id]))
        .await;
    let doomed_parent = app.enqueue(&acme, &customer_add("bad")).await;
    let doomed = app
        .enqueue_with(
            &acme,
            "<InvoiceAddRq requestID=\"inv2\"><InvoiceAdd><CustomerRef><FullName>Ann</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq>",
            dep(vec![doomed_parent.id]),
        )
        .await;
    let grandchild = app.enqueue_with(&acme, &customer_query("gc"), dep(vec![doomed.id])).await;
    assert_eq!(app.job(&invoice).await.state, JobState::Held);

    let wc = app.connector("api");
    wc.qb.script(Script::Ok);
    wc.qb.script(Script::Ok);
    wc.qb.script(Script::Status(3100, "Error", "in use"));
    wc.run_session().await;

    // The invoice has priority 9 but waited for its customer, then went
    // ahead of the older priority-0 job.
    assert_eq!(wc.qb.applied(), ["CustomerAddRq:cust", "InvoiceAddRq:inv", "CustomerAddRq:bad"]);
    assert_eq!(app.job(&invoice).await.state, JobState::Done);
    for j in [&doomed, &grandchild] {
        let j = app.job(j).await;
        assert_eq!(j.state, JobState::Failed);
        assert_eq!(j.diagnostic.as_deref(), Some("job.dependency_failed"));
    }
}

async fn another_company_file_open_means_nothing_is_sent(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    let user = app.user("api", &acme).await;
    let job = app.enqueue(&acme, &customer_add("x")).await;
    let mut wc = app.connector("api");
    wc.hcp =
        crate::fake_qbwc::hcp_response(Some(&user.owner_id.to_string()), Some("0b5e5c5e-0000-4000-8000-000000000000"));

    let log = wc.run_session().await;

    assert!(log.requests.is_empty(), "no request reaches the wrong books");
    let last = log.last_error.unwrap();
    assert!(last.starts_with("[company.wrong_file]"), "{last}");
    assert_eq!(app.job(&job).await.state, JobState::Queued);
}

async fn the_registered_company_file_path_is_returned_by_authenticate(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", Some("Q:\\Books\\Acme.QBW")).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let auth = app.connector("api").authenticate().await;
    assert_eq!(auth[1], "Q:\\Books\\Acme.QBW");
    assert_eq!(auth[0].len(), 32);
}

async fn bare_requests_are_wrapped_with_the_version_the_client_reports(b: Backend) {
    let app = TestApp::spawn(b).await;
    let acme = app.company("acme", None).await;
    app.user("api", &acme).await;
    app.enqueue(&acme, &customer_query("1")).await;
    let mut wc = app.connector("api");
    wc.major = 13;
    let log = wc.run_session().await;
    assert_eq!(wc.qb.versions(), ["13.0"]);
    assert!(log.requests[0].contains("<QBXMLMsgsRq onError=\"stopOnError\"><CustomerQueryRq"), "{}", log.requests[0]);
}
