//! The real binary killed with SIGKILL at chosen and at random points, then
//! restarted on the same database: no job is lost and no write reaches
//! QuickBooks twice.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use qbwcd::queue::JobState;
use qbwcd::store::{AccountStore, JobStore, NewUser};
use qbwcd::submit::SubmitOptions;
use qbwcd::types::Username;
use rand::Rng;

use crate::both_backends;
use crate::fake_qbwc::{Answer, FakeQuickBooks, FakeWebConnector};
use crate::helpers::{customer_add, customer_query, Backend, TestDb, PASSWORD};

both_backends!(a_server_killed_at_any_point_loses_no_job_and_applies_no_write_twice);

/// `qbwcd serve` as a child process on a fixed port.
struct Server {
    child: Option<Child>,
    port: u16,
    db_url: String,
}

impl Server {
    async fn start(db_url: &str, port: u16) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("QBWCD_DATABASE_URL", db_url)
            .env("QBWCD_SESSION_IDLE_SECONDS", "2")
            .env("QBWCD_LEASE_SECONDS", "2")
            .env("QBWCD_REAPER_INTERVAL_SECONDS", "1")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start qbwcd");
        let server = Server { child: Some(child), port, db_url: db_url.to_owned() };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let ok = http.get(format!("http://127.0.0.1:{}/readyz", self.port)).send().await;
            if ok.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("qbwcd did not come up");
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn restart(&mut self) {
        self.kill();
        *self = Server::start(&self.db_url.clone(), self.port).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

async fn a_server_killed_at_any_point_loses_no_job_and_applies_no_write_twice(b: Backend) {
    // Arrange: one company file (one simulated QuickBooks shared by every
    // connector), three Web Connector users.
    let db = TestDb::new(b).await;
    let store = db.store.clone();
    let now = chrono::Utc::now();
    let company = crate::helpers::seed_company(&store, "acme", now).await;
    let hash = qbwcd::auth::hash_password(&secrecy::SecretString::from(PASSWORD)).unwrap();
    for u in ["pc1", "pc2", "pc3"] {
        let new = NewUser {
            username: Username::parse(u).unwrap(),
            company_id: company.id,
            password_hash: hash.clone(),
            owner_id: uuid::Uuid::new_v4(),
        };
        store.create_user(new, now).await.unwrap();
    }
    let port = free_port();
    let mut server = Server::start(&db.url, port).await;
    let qb = FakeQuickBooks::default();
    let connector = |user: &str| {
        let mut wc = FakeWebConnector::new(&format!("http://127.0.0.1:{port}/qbwc"), user, PASSWORD);
        wc.qb = qb.clone();
        wc
    };
    let mut jobs = Vec::new();
    let enqueue = |text: String| {
        let store = store.clone();
        let company = company.clone();
        async move {
            let e = qbwcd::submit::submit(
                store.as_ref(),
                &company,
                &text,
                SubmitOptions::default(),
                1 << 20,
                3,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
            e.job().clone()
        }
    };

    // 1. Killed between authenticate and the first sendRequestXML: the
    //    session lives in the database and simply carries on.
    let w1 = enqueue(customer_add("W1")).await;
    jobs.push(w1.clone());
    let wc = connector("pc1");
    let ticket = wc.authenticate().await[0].clone();
    server.restart().await;
    let req = wc.send_request_xml(&ticket, &wc.hcp).await;
    let Answer::Xml(answer) = qb.process(&wc.username, &req) else { panic!("answer") };
    // 2. Killed after QuickBooks applied the write, before the answer was
    //    delivered: the restarted server takes the answer under the fence.
    server.restart().await;
    assert_eq!(wc.receive_response_xml(&ticket, &answer, "", "").await, 100);
    assert_eq!(store.job(w1.id).await.unwrap().unwrap().state, JobState::Done);

    // 3. Killed after QuickBooks applied a write, and the answer never
    //    arrives at all: the next session recovers it from QuickBooks' record.
    let w2 = enqueue(customer_add("W2")).await;
    jobs.push(w2.clone());
    let ticket = wc.authenticate().await[0].clone();
    let req = wc.send_request_xml(&ticket, &wc.hcp).await;
    let _lost = qb.process(&wc.username, &req);
    server.kill();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    server = Server::start(&db.url, port).await;
    wc.run_session().await;
    assert_eq!(store.job(w2.id).await.unwrap().unwrap().state, JobState::Done);

    // 3b. The same with two users: pc1's write is applied, the server dies
    //    before the answer, and pc2's connector comes back first. Only pc1's
    //    application can ask QuickBooks about it, so pc2 is sent nothing
    //    until pc1 has settled it; nothing is held for a person.
    let w3 = enqueue(customer_add("W3")).await;
    jobs.push(w3.clone());
    let ticket = wc.authenticate().await[0].clone();
    let req = wc.send_request_xml(&ticket, &wc.hcp).await;
    let _lost = qb.process(&wc.username, &req);
    server.kill();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    server = Server::start(&db.url, port).await;
    let pc2 = connector("pc2");
    let mut waited = pc2.run_session().await;
    for _ in 0..40 {
        // Postponed while pc1's lapsed session is not yet expired.
        if waited.auth.len() < 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited = pc2.run_session().await;
    }
    assert_eq!(waited.auth[1..], ["none"], "pc2 is told there is nothing for it");
    assert!(waited.requests.is_empty(), "pc2 sent {:?}", waited.requests);
    assert_eq!(store.job(w3.id).await.unwrap().unwrap().state, JobState::Unknown);
    wc.run_session().await;
    assert_eq!(store.job(w3.id).await.unwrap().unwrap().state, JobState::Done, "settled by pc1, no person");

    // 4. Chaos: connectors keep polling while the server is killed at
    //    random moments.
    for i in 0..16 {
        let text = if i % 3 == 0 { customer_query(&format!("R{i}")) } else { customer_add(&format!("C{i}")) };
        jobs.push(enqueue(text).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut pollers = Vec::new();
    for user in ["pc1", "pc2", "pc3"] {
        let wc = connector(user);
        let stop = stop.clone();
        pollers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = wc.try_run_session().await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }));
    }
    for _ in 0..3 {
        let pause = rand::thread_rng().gen_range(150..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        server.restart().await;
    }
    // Let the queue drain (leases and idle sessions lapse after 2 s).
    let mut settled = false;
    for _ in 0..300 {
        let mut open = 0;
        for j in &jobs {
            let s = store.job(j.id).await.unwrap().unwrap().state;
            if !matches!(s, JobState::Done | JobState::Held | JobState::Failed) {
                open += 1;
            }
        }
        if open == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        let _ = p.await;
    }
    assert!(settled, "every job reached done or a truthful held state");

    // Assert: each write reached QuickBooks once if done, never if held.
    let applied = qb.applied();
    for j in &jobs {
        let job = store.job(j.id).await.unwrap().unwrap();
        let rid = j.request.split("requestID=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
        let times = applied.iter().filter(|a| a.ends_with(&format!(":{rid}"))).count();
        match (job.kind, job.state) {
            (qbwcd::queue::JobKind::Write, JobState::Done) => assert_eq!(times, 1, "{rid} applied {times} times"),
            (qbwcd::queue::JobKind::Write, JobState::Held) => assert_eq!(times, 0, "{rid} held but applied"),
            (qbwcd::queue::JobKind::Read, JobState::Done) => assert!(times >= 1),
            (kind, state) => panic!("{rid}: {kind:?} ended {state:?}"),
        }
    }
    server.kill();
}
