//! Several `qbwcd serve` replicas on one database.

use qbwcd::queue::JobState;

use crate::both_backends;
use crate::fake_qbwc::FakeQuickBooks;
use crate::helpers::{customer_add, Backend, TestApp};

both_backends!(sixteen_connectors_over_two_replicas_never_get_a_job_twice_and_keep_order);

async fn sixteen_connectors_over_two_replicas_never_get_a_job_twice_and_keep_order(b: Backend) {
    let a = TestApp::spawn(b).await;
    let r = a.replica().await;
    let acme = a.company("acme", None).await;
    let users: Vec<String> = (0..16).map(|i| format!("pc{i:02}")).collect();
    for u in &users {
        a.user(u, &acme).await;
    }
    let qb = FakeQuickBooks::default();
    let connectors: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let mut wc = if i % 2 == 0 { a.connector(u) } else { r.connector(u) };
            wc.qb = qb.clone();
            wc
        })
        .collect();

    // Work arrives in batches; all sixteen connectors poll at once each round.
    let mut jobs = Vec::new();
    let mut served = Vec::new();
    for batch in 0..4 {
        for i in 0..10 {
            jobs.push(a.enqueue(&acme, &customer_add(&format!("c{:02}", batch * 10 + i))).await);
        }
        for _ in 0..10 {
            let logs = futures::future::join_all(connectors.iter().map(|c| c.run_session())).await;
            let sessions: Vec<usize> =
                logs.iter().enumerate().filter(|(_, l)| !l.requests.is_empty()).map(|(i, _)| i).collect();
            assert!(sessions.len() <= 1, "one session per company at a time, got {sessions:?}");
            served.extend(sessions);
            let mut pending = false;
            for j in &jobs {
                pending |= a.job(j).await.state != JobState::Done;
            }
            if !pending {
                break;
            }
        }
    }
    assert!(served.len() >= 4, "several sessions took turns: {served:?}");

    let want: Vec<String> = (0..40).map(|i| format!("CustomerAddRq:c{i:02}")).collect();
    assert_eq!(qb.applied(), want, "each job once, in order");
}
