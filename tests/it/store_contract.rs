//! The store contract, written once against the traits and run on both
//! backends: claim exclusivity, ordering, fencing, dependencies,
//! idempotency, and one session per company.

use std::sync::Arc;

use chrono::Duration;
use qbwcd::qbxml::OnError;
use qbwcd::queue::{Completion, Enqueued, JobKind, JobState, NewJob};
use qbwcd::store::{
    AccountStore, AnswerCompletion, Company, CompanyChanges, ExchangeStore, JobStore, NewSession, NewUser, SessionOpen,
    SessionStore, SqlStore, StoreError, WebhookStore,
};
use qbwcd::types::{JobId, Ticket, Username};

use crate::both_backends;
use crate::helpers::{Backend, TestDb};

both_backends!(
    claims_are_exclusive_under_concurrency,
    claims_follow_priority_then_arrival,
    completion_is_fenced_on_job_attempt_and_ticket,
    dependencies_hold_release_and_cascade,
    an_idempotency_key_returns_the_existing_job,
    only_one_session_per_company_is_open,
    a_touch_extends_a_live_session_at_most_once_a_second,
    an_answer_completes_its_job_only_when_the_caller_accepts_it,
    operator_actions_follow_the_state_rules,
    login_failures_count_atomically_per_name_and_address,
    a_call_that_fails_midway_keeps_nothing,
    a_company_edit_applies_whole_and_leaves_what_it_does_not_name,
);

struct Fixture {
    _db: TestDb,
    store: Arc<SqlStore>,
    company: Company,
    user_id: i64,
    now: chrono::DateTime<chrono::Utc>,
}

async fn fixture(b: Backend) -> Fixture {
    let db = TestDb::new(b).await;
    let store = db.store.clone();
    let now = chrono::Utc::now();
    let company = crate::helpers::seed_company(&store, "acme", now).await;
    let user = store
        .create_user(
            NewUser {
                username: Username::parse("api").unwrap(),
                company_id: company.id,
                password_hash: "x".into(),
                owner_id: uuid::Uuid::new_v4(),
            },
            now,
        )
        .await
        .unwrap();
    Fixture { _db: db, store, company, user_id: user.id, now }
}

fn job(company_id: i64, name: &str, kind: JobKind, priority: i32, deps: Vec<JobId>) -> NewJob {
    NewJob {
        id: JobId::new(),
        company_id,
        request: format!("<{name}/>"),
        qbxml_version: None,
        on_error: OnError::Stop,
        request_names: vec![name.to_owned()],
        kind,
        priority,
        max_attempts: 3,
        idempotency_key: None,
        submission_hash: None,
        depends_on: deps,
        webhook_url: None,
        iterates: false,
        now: chrono::Utc::now(),
    }
}

async fn add(f: &Fixture, name: &str, priority: i32, deps: Vec<JobId>) -> JobId {
    f.store.enqueue(job(f.company.id, name, JobKind::Write, priority, deps)).await.unwrap().job().id
}

fn done() -> Completion {
    Completion {
        state: JobState::Done,
        response: Some("<QBXML/>".into()),
        statuses: vec![],
        diagnostic: None,
        error: None,
    }
}

async fn claims_are_exclusive_under_concurrency(b: Backend) {
    let f = fixture(b).await;
    for i in 0..40 {
        add(&f, &format!("J{i}Rq"), 0, vec![]).await;
    }
    let lease = f.now + Duration::minutes(5);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = f.store.clone();
        let company = f.company.id;
        let now = f.now;
        tasks.push(tokio::spawn(async move {
            let ticket = Ticket::generate().hash();
            let mut got = Vec::new();
            while let Some(j) = store.claim_next(company, &ticket, now, lease).await.unwrap() {
                got.push(j.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (40, 40), "every job claimed exactly once");
}

async fn claims_follow_priority_then_arrival(b: Backend) {
    let f = fixture(b).await;
    let a = add(&f, "ARq", 0, vec![]).await;
    let b2 = add(&f, "BRq", 1, vec![]).await;
    let c = add(&f, "CRq", 0, vec![]).await;
    let d = add(&f, "DRq", 1, vec![]).await;
    let t = Ticket::generate().hash();
    let mut order = Vec::new();
    while let Some(j) = f.store.claim_next(f.company.id, &t, f.now, f.now + Duration::minutes(1)).await.unwrap() {
        assert_eq!((j.state, j.attempt), (JobState::Sent, 1));
        order.push(j.id);
    }
    assert_eq!(order, [b2, d, a, c]);
}

async fn completion_is_fenced_on_job_attempt_and_ticket(b: Backend) {
    let f = fixture(b).await;
    let id = add(&f, "ARq", 0, vec![]).await;
    let t1 = Ticket::generate().hash();
    let claimed = f.store.claim_next(f.company.id, &t1, f.now, f.now + Duration::minutes(1)).await.unwrap().unwrap();
    let lease = claimed.lease().unwrap();

    let mut wrong_ticket = lease.clone();
    wrong_ticket.ticket_hash = Ticket::generate().hash();
    let mut wrong_attempt = lease.clone();
    wrong_attempt.attempt += 1;
    assert!(!f.store.complete_job(&wrong_ticket, done(), f.now).await.unwrap());
    assert!(!f.store.complete_job(&wrong_attempt, done(), f.now).await.unwrap());
    assert_eq!(f.store.job(id).await.unwrap().unwrap().state, JobState::Sent);

    assert!(f.store.complete_job(&lease, done(), f.now).await.unwrap());
    assert_eq!(f.store.job(id).await.unwrap().unwrap().state, JobState::Done);
    // The same answer twice does not complete twice.
    assert!(!f.store.complete_job(&lease, done(), f.now).await.unwrap());
}

async fn dependencies_hold_release_and_cascade(b: Backend) {
    let f = fixture(b).await;
    let parent = add(&f, "ParentRq", 0, vec![]).await;
    let child = add(&f, "ChildRq", 5, vec![parent]).await;
    let grandchild = add(&f, "GrandRq", 5, vec![child]).await;
    let other_parent = add(&f, "OtherRq", 0, vec![]).await;
    let orphan = add(&f, "OrphanRq", 0, vec![other_parent]).await;
    let state = |id| {
        let s = f.store.clone();
        async move { s.job(id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(child).await, JobState::Held);
    assert_eq!(f.store.queue_depth(f.company.id, f.now).await.unwrap(), 2);

    // Completing the parent releases the child, which then goes first.
    let t = Ticket::generate().hash();
    let lease_until = f.now + Duration::minutes(1);
    let p = f.store.claim_next(f.company.id, &t, f.now, lease_until).await.unwrap().unwrap();
    assert_eq!(p.id, parent);
    f.store.complete_job(&p.lease().unwrap(), done(), f.now).await.unwrap();
    assert_eq!(state(child).await, JobState::Queued);
    assert_eq!(state(grandchild).await, JobState::Held);
    let next = f.store.claim_next(f.company.id, &t, f.now, lease_until).await.unwrap().unwrap();
    assert_eq!(next.id, child);

    // Cancelling a parent fails its dependents.
    f.store.cancel_job(other_parent, f.now).await.unwrap();
    assert_eq!(state(orphan).await, JobState::Failed);
    let o = f.store.job(orphan).await.unwrap().unwrap();
    assert_eq!(o.diagnostic.as_deref(), Some("job.dependency_failed"));

    // A failed child fails its whole chain.
    let failed = Completion { state: JobState::Failed, diagnostic: Some("qbxml.3100".into()), ..done() };
    f.store.complete_job(&next.lease().unwrap(), failed, f.now).await.unwrap();
    assert_eq!(state(grandchild).await, JobState::Failed);

    // Depending on a job of another company, or none at all, is refused.
    let missing = f.store.enqueue(job(f.company.id, "XRq", JobKind::Read, 0, vec![JobId::new()])).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    // Depending on a failed job fails at once.
    let late = add(&f, "LateRq", 0, vec![orphan]).await;
    assert_eq!(state(late).await, JobState::Failed);
}

async fn an_idempotency_key_returns_the_existing_job(b: Backend) {
    let f = fixture(b).await;
    let mut first = job(f.company.id, "ARq", JobKind::Write, 0, vec![]);
    first.idempotency_key = Some("order-42".into());
    let mut again = job(f.company.id, "ARq", JobKind::Write, 0, vec![]);
    again.idempotency_key = Some("order-42".into());
    let a = f.store.enqueue(first).await.unwrap();
    let b2 = f.store.enqueue(again).await.unwrap();
    assert!(matches!(a, Enqueued::Created(_)));
    assert!(matches!(b2, Enqueued::Existing(_)));
    assert_eq!(a.job().id, b2.job().id);
    assert_eq!(f.store.queue_depth(f.company.id, f.now).await.unwrap(), 1);
}

async fn only_one_session_per_company_is_open(b: Backend) {
    let f = fixture(b).await;
    let other = f
        .store
        .create_user(
            NewUser {
                username: Username::parse("pc2").unwrap(),
                company_id: f.company.id,
                password_hash: "x".into(),
                owner_id: uuid::Uuid::new_v4(),
            },
            f.now,
        )
        .await
        .unwrap();
    let new = |user_id, addr: &str, now| NewSession {
        ticket_hash: Ticket::generate().hash(),
        user_id,
        company_id: f.company.id,
        remote_addr: Some(addr.to_owned()),
        now,
        expires_at: now + Duration::minutes(15),
        queue_at_start: 1,
    };
    let first = new(f.user_id, "10.0.0.1", f.now);
    let first_ticket = first.ticket_hash.clone();
    assert!(matches!(f.store.open_session(first).await.unwrap(), SessionOpen::Opened { replaced: None }));
    // Another user is told the company is busy, with the holder named.
    match f.store.open_session(new(other.id, "10.0.0.2", f.now)).await.unwrap() {
        SessionOpen::Busy { holder, .. } => assert_eq!(holder, "api"),
        other => panic!("expected busy, got {other:?}"),
    }
    // The same user from the same address starts over: the old one ends.
    match f.store.open_session(new(f.user_id, "10.0.0.1", f.now)).await.unwrap() {
        SessionOpen::Opened { replaced } => assert_eq!(replaced, Some(first_ticket)),
        other => panic!("expected a takeover, got {other:?}"),
    }
    // After the idle expiry anyone may start.
    let later = f.now + Duration::minutes(16);
    assert!(matches!(
        f.store.open_session(new(other.id, "10.0.0.2", later)).await.unwrap(),
        SessionOpen::Opened { .. }
    ));
}

/// The idle expiry of the sessions [`open_live_session`] opens.
const IDLE: Duration = Duration::minutes(15);

/// Opens a session for the fixture's user at `f.now`; its ticket hash.
async fn open_live_session(f: &Fixture, queue_at_start: i64) -> qbwcd::types::TicketHash {
    let ticket = Ticket::generate().hash();
    let open = NewSession {
        ticket_hash: ticket.clone(),
        user_id: f.user_id,
        company_id: f.company.id,
        remote_addr: None,
        now: f.now,
        expires_at: f.now + IDLE,
        queue_at_start,
    };
    assert!(matches!(f.store.open_session(open).await.unwrap(), SessionOpen::Opened { .. }));
    ticket
}

async fn a_touch_extends_a_live_session_at_most_once_a_second(b: Backend) {
    let f = fixture(b).await;
    let (ticket, idle) = (open_live_session(&f, 0).await, IDLE);
    let close_to =
        |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| (a - b).abs() < Duration::milliseconds(1);
    // Within a second of the last write the session is returned unchanged.
    let soon = f.now + Duration::milliseconds(400);
    let s = f.store.touch_live_session(&ticket, soon, soon + idle).await.unwrap().expect("live");
    assert!(close_to(s.last_seen_at, f.now) && close_to(s.expires_at, f.now + idle), "{s:?}");
    // Later, it is written and returned as written.
    let later = f.now + Duration::seconds(3);
    let s = f.store.touch_live_session(&ticket, later, later + idle).await.unwrap().expect("live");
    assert!(close_to(s.last_seen_at, later) && close_to(s.expires_at, later + idle), "{s:?}");
    let stored = f.store.session(&ticket).await.unwrap().unwrap();
    assert!(close_to(stored.last_seen_at, later) && close_to(stored.expires_at, later + idle));
    // Past its expiry it is not live, and a touch does not revive it.
    let gone = later + idle + Duration::seconds(1);
    assert!(f.store.touch_live_session(&ticket, gone, gone + idle).await.unwrap().is_none());
    assert!(close_to(f.store.session(&ticket).await.unwrap().unwrap().expires_at, later + idle));
}

async fn an_answer_completes_its_job_only_when_the_caller_accepts_it(b: Backend) {
    let f = fixture(b).await;
    let (ticket, idle) = (open_live_session(&f, 2).await, IDLE);
    let first = f.store.enqueue(job(f.company.id, "CustomerQueryRq", JobKind::Read, 0, vec![])).await.unwrap().job().id;
    f.store.enqueue(job(f.company.id, "ItemQueryRq", JobKind::Read, 0, vec![])).await.unwrap();
    let lease = f.now + Duration::minutes(1);
    let claimed = f.store.claim_next(f.company.id, &ticket, f.now, lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, first);

    // Declined: nothing is written, and the completion comes back whole.
    let answered = f.store.answer(&ticket, f.now, f.now + idle, done(), Box::new(|_| false), 100).await.unwrap();
    match answered {
        Some(AnswerCompletion::Declined { start, completion }) => {
            assert_eq!(start.job.map(|j| j.id), Some(first));
            assert!(start.live);
            assert_eq!(completion.response.as_deref(), Some("<QBXML/>"));
        }
        other => panic!("expected a decline, got {other:?}"),
    }
    assert_eq!(f.store.job(first).await.unwrap().unwrap().state, JobState::Sent);

    // Accepted: completed and counted in the same call, with what is left.
    let answered = f.store.answer(&ticket, f.now, f.now + idle, done(), Box::new(move |j| j.id == first), 100).await;
    match answered.unwrap() {
        Some(AnswerCompletion::Completed { start, remaining }) => {
            assert_eq!(start.job.map(|j| j.id), Some(first));
            assert_eq!(remaining, Some(1));
        }
        other => panic!("expected a completion, got {other:?}"),
    }
    let stored = f.store.job(first).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.response.as_deref()), (JobState::Done, Some("<QBXML/>")));
    assert_eq!(f.store.session(&ticket).await.unwrap().unwrap().jobs_done, 1);

    // An unknown ticket has no session.
    let stranger = Ticket::generate().hash();
    assert!(f.store.answer(&stranger, f.now, f.now + idle, done(), Box::new(|_| true), 100).await.unwrap().is_none());
}

async fn operator_actions_follow_the_state_rules(b: Backend) {
    let f = fixture(b).await;
    let id = add(&f, "ARq", 0, vec![]).await;
    assert!(matches!(f.store.retry_job(id, f.now).await, Err(StoreError::Conflict(_))));
    assert!(matches!(f.store.resolve_job(id, true, f.now).await, Err(StoreError::Conflict(_))));
    let c = f.store.cancel_job(id, f.now).await.unwrap();
    assert_eq!(c.state, JobState::Cancelled);
    let r = f.store.retry_job(id, f.now).await.unwrap();
    assert_eq!(r.state, JobState::Queued);

    // A write whose lease was released becomes unknown; only resolve moves it.
    let t = Ticket::generate().hash();
    let j = f.store.claim_next(f.company.id, &t, f.now, f.now + Duration::minutes(1)).await.unwrap().unwrap();
    assert_eq!(j.id, id);
    f.store.release_leases(&t, f.now).await.unwrap();
    assert_eq!(f.store.job(id).await.unwrap().unwrap().state, JobState::Unknown);
    let err = f.store.retry_job(id, f.now).await.unwrap_err().to_string();
    assert!(err.contains("resolve"), "{err}");
    assert!(matches!(f.store.cancel_job(id, f.now).await, Err(StoreError::Conflict(_))));
    let back = f.store.resolve_job(id, false, f.now).await.unwrap();
    assert_eq!(back.state, JobState::Queued);
    let j = f.store.claim_next(f.company.id, &t, f.now, f.now + Duration::minutes(1)).await.unwrap().unwrap();
    f.store.release_leases(&t, f.now).await.unwrap();
    let applied = f.store.resolve_job(j.id, true, f.now).await.unwrap();
    assert_eq!(applied.state, JobState::Done);
}

/// Concurrent failures for one (name, address) are each counted once and
/// lock at the threshold; another address and another name stay free; a
/// success forgets the pair and takes its failures back from the address,
/// not other names' guesses; a new password forgets the name everywhere.
async fn login_failures_count_atomically_per_name_and_address(b: Backend) {
    use qbwcd::store::{LockoutRule, LoginFailure};
    let f = fixture(b).await;
    let rule = LockoutRule { threshold: 20, base_seconds: 60, max_seconds: 3600 };
    let failure = |name: &str, addr: &str, now| LoginFailure {
        username: name.into(),
        addr: addr.into(),
        guess: true,
        now,
        window_start: now - chrono::Duration::seconds(900),
        user_rule: rule,
        addr_rule: LockoutRule { threshold: 0, ..rule },
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..19 {
        let (store, fl) = (f.store.clone(), failure("api", "203.0.113.1", f.now));
        tasks.spawn(async move { store.record_login_failure(fl).await.unwrap() });
    }
    while let Some(locks) = tasks.join_next().await {
        assert_eq!(locks.unwrap().user_until, None, "19 failures do not lock");
    }
    let locks = f.store.record_login_failure(failure("api", "203.0.113.1", f.now)).await.unwrap();
    assert_eq!(locks.user_until, Some(f.now + chrono::Duration::seconds(60)), "the 20th does: each was counted once");
    assert_eq!(locks.addr_until, None, "the address rule is off");
    let locked = |name: &'static str, addr: &'static str| {
        let store = f.store.clone();
        async move { store.login_locked_until(name, addr, f.now).await.unwrap() }
    };
    assert!(locked("api", "203.0.113.1").await.is_some());
    assert_eq!(locked("api", "198.51.100.2").await, None, "another address is not locked");
    assert_eq!(locked("other", "203.0.113.1").await, None, "another name is not locked");
    // A failure after a quiet window starts over.
    let later = f.now + chrono::Duration::seconds(4000);
    let fresh = f.store.record_login_failure(failure("api", "203.0.113.1", later)).await.unwrap();
    assert_eq!(fresh.user_until, None, "the counter started over after the window");
    f.store.record_login(f.user_id, "api", "203.0.113.1", later).await.unwrap();
    for _ in 0..20 {
        f.store.record_login_failure(failure("api", "192.0.2.9", f.now)).await.unwrap();
    }
    assert!(locked("api", "192.0.2.9").await.is_some());
    f.store.set_password(&Username::parse("api").unwrap(), "y", f.now).await.unwrap();
    assert_eq!(locked("api", "192.0.2.9").await, None, "a new password clears the name's lockouts");
    // A spray of names from one address: a valid login in between (a user
    // of the attacker's own, say) does not make the address start over.
    let spray = |name: &str| LoginFailure {
        addr_rule: LockoutRule { threshold: 3, ..rule },
        ..failure(name, "198.51.100.7", f.now)
    };
    for name in ["x1", "x2"] {
        assert_eq!(f.store.record_login_failure(spray(name)).await.unwrap().addr_until, None);
    }
    f.store.record_login(f.user_id, "api", "198.51.100.7", f.now).await.unwrap();
    let locks = f.store.record_login_failure(spray("x3")).await.unwrap();
    assert!(locks.addr_until.is_some(), "the third guess locks the address, the login between notwithstanding");
    assert!(locked("api", "198.51.100.7").await.is_some(), "the address lock holds for every name");
    // A user's own typos, at an address it shares (one office NAT), are
    // taken back by its login: they do not add up with its neighbours'.
    let office = |name: &str| LoginFailure {
        addr_rule: LockoutRule { threshold: 3, ..rule },
        ..failure(name, "192.0.2.50", f.now)
    };
    for _ in 0..2 {
        f.store.record_login_failure(office("api")).await.unwrap();
    }
    f.store.record_login(f.user_id, "api", "192.0.2.50", f.now).await.unwrap();
    for name in ["clerk", "api"] {
        let locks = f.store.record_login_failure(office(name)).await.unwrap();
        assert_eq!(locks.addr_until, None, "{name}: the login took its own two failures back");
    }
    assert!(f.store.record_login_failure(office("third")).await.unwrap().addr_until.is_some(), "then three count");
}

/// Makes every `event` (insert, update) on `table` fail, as a full disk or
/// a lost connection would, with a trigger that raises.
async fn inject_failure(f: &Fixture, b: Backend, table: &str, event: &str) {
    use sqlx::{Connection, Executor};
    match b {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&f._db.url).await.unwrap();
            let sql = format!(
                "create trigger fail_{table} before {event} on {table} begin select raise(abort, 'injected'); end"
            );
            conn.execute(sql.as_str()).await.unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&f._db.url).await.unwrap();
            conn.execute(
                "create or replace function fail_now() returns trigger language plpgsql \
                 as $$ begin raise exception 'injected'; end $$",
            )
            .await
            .unwrap();
            let sql = format!(
                "create trigger fail_{table} before {event} on {table} for each row execute function fail_now()"
            );
            conn.execute(sql.as_str()).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}

/// Removes [`inject_failure`]'s trigger on `table`.
async fn clear_failure(f: &Fixture, b: Backend, table: &str) {
    use sqlx::{Connection, Executor};
    match b {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&f._db.url).await.unwrap();
            conn.execute(format!("drop trigger fail_{table}").as_str()).await.unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&f._db.url).await.unwrap();
            conn.execute(format!("drop trigger fail_{table} on {table}").as_str()).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}

/// A store call that writes more than once keeps all of it or none: when
/// one of its later statements fails, what the earlier ones wrote is gone
/// too, on both backends (a call written without a transaction on
/// Postgres keeps its first writes and fails here).
async fn a_call_that_fails_midway_keeps_nothing(b: Backend) {
    let f = fixture(b).await;
    let store = &f.store;

    // enqueue: the job, then its dependencies.
    let first = add(&f, "CustomerQueryRq", 0, vec![]).await;
    inject_failure(&f, b, "job_dependency", "insert").await;
    let new = job(f.company.id, "InvoiceAddRq", JobKind::Write, 0, vec![first]);
    let id = new.id;
    assert!(store.enqueue(new).await.is_err());
    assert!(store.job(id).await.unwrap().is_none(), "the job was kept without its dependency");
    clear_failure(&f, b, "job_dependency").await;

    // complete_job: the job, then its session's counts.
    let ticket = open_live_session(&f, 1).await;
    let lease_until = f.now + Duration::minutes(5);
    let claimed = store.claim_next(f.company.id, &ticket, f.now, lease_until).await.unwrap().unwrap();
    assert_eq!(claimed.id, first);
    inject_failure(&f, b, "session", "update").await;
    assert!(store.complete_job(&claimed.lease().unwrap(), done(), f.now).await.is_err());
    assert_eq!(store.job(first).await.unwrap().unwrap().state, JobState::Sent, "completed without its count");
    clear_failure(&f, b, "session").await;

    // close_session: the session, then the leases it held.
    inject_failure(&f, b, "job", "update").await;
    assert!(store.close_session(&ticket, f.now).await.is_err());
    let session = store.session(&ticket).await.unwrap().unwrap();
    assert_eq!(session.state, "open", "closed without releasing its lease");
    clear_failure(&f, b, "job").await;
    assert_eq!(store.close_session(&ticket, f.now).await.unwrap().unwrap().state, "closed");
    // Released as a lease ends without an answer.
    let released = if claimed.kind == JobKind::Write { JobState::Unknown } else { JobState::Queued };
    assert_eq!(store.job(first).await.unwrap().unwrap().state, released);
}

/// One statement changes every field an edit names (so a failure leaves
/// none changed) and nothing it does not name.
async fn a_company_edit_applies_whole_and_leaves_what_it_does_not_name(b: Backend) {
    let f = fixture(b).await;
    let store = &f.store;
    let id = f.company.id;
    let all = CompanyChanges {
        name: Some("Acme Ltd"),
        file_path: Some(Some("C:\\QB\\acme.qbw")),
        webhook_url: Some(Some("https://hooks.example.com/qb")),
        enabled: Some(false),
    };
    store.update_company(id, &all, f.now).await.unwrap();
    let c = store.company_by_id(id).await.unwrap().unwrap();
    assert_eq!((c.name.as_str(), c.file_path.as_deref()), ("Acme Ltd", Some("C:\\QB\\acme.qbw")));
    assert_eq!(c.disabled_at.map(|t| t.timestamp()), Some(f.now.timestamp()));
    assert_eq!(store.company_webhook(id).await.unwrap().as_deref(), Some("https://hooks.example.com/qb"));

    // Disabling again keeps the first time; unnamed fields stay.
    let later = f.now + Duration::minutes(5);
    store
        .update_company(id, &CompanyChanges { name: Some("Acme"), enabled: Some(false), ..Default::default() }, later)
        .await
        .unwrap();
    let c = store.company_by_id(id).await.unwrap().unwrap();
    assert_eq!((c.name.as_str(), c.file_path.as_deref()), ("Acme", Some("C:\\QB\\acme.qbw")));
    assert_eq!(c.disabled_at.map(|t| t.timestamp()), Some(f.now.timestamp()));
    assert!(store.company_webhook(id).await.unwrap().is_some());

    // `Some(None)` clears; enabling clears the time.
    let clear =
        CompanyChanges { file_path: Some(None), webhook_url: Some(None), enabled: Some(true), ..Default::default() };
    store.update_company(id, &clear, later).await.unwrap();
    let c = store.company_by_id(id).await.unwrap().unwrap();
    assert_eq!((c.file_path, c.disabled_at), (None, None));
    assert_eq!(store.company_webhook(id).await.unwrap(), None);

    // A statement that fails changes nothing at all.
    inject_failure(&f, b, "company", "update").await;
    assert!(store.update_company(id, &all, later).await.is_err());
    clear_failure(&f, b, "company").await;
    let c = store.company_by_id(id).await.unwrap().unwrap();
    assert_eq!((c.name.as_str(), c.file_path, c.disabled_at), ("Acme", None, None));
    assert_eq!(store.company_webhook(id).await.unwrap(), None);

    let missing = store.update_company(id + 1000, &CompanyChanges::default(), later).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}
