//! Built-in TLS: a whole Web Connector session over https, and a renewed
//! certificate picked up without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use qbwcd::app::{self, AppState, TlsListener};
use qbwcd::clock::ManualClock;
use qbwcd::config::Settings;
use qbwcd::store::Store;
use qbwcd::tls::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

use crate::both_backends;
use crate::helpers::{customer_query, Backend, TestApp, TestDb, PASSWORD};

both_backends!(a_session_runs_over_https_and_a_renewed_certificate_is_picked_up);

/// A CA and a `localhost` certificate it signed, as PEM: (ca, leaf chain, key).
fn issue() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

fn client(ca_pem: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .resolve("localhost", addr)
        .build()
        .unwrap()
}

async fn a_session_runs_over_https_and_a_renewed_certificate_is_picked_up(b: Backend) {
    // Arrange: data through a plain test app, then a TLS server on the same database.
    let plain = TestApp::spawn(b).await;
    let acme = plain.company("acme", None).await;
    plain.user("api", &acme).await;
    let job = plain.enqueue(&acme, &customer_query("over-tls")).await;
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
    let (ca1, cert1, key1) = issue();
    std::fs::write(&files.cert, &cert1).unwrap();
    std::fs::write(&files.key, &key1).unwrap();
    let db: TestDb = plain.db_share().await;
    let settings = Arc::new(Settings { tls_reload_seconds: 1, header_read_timeout_seconds: 1, ..Settings::default() });
    let store: Arc<dyn Store> = db.store.clone();
    let state = AppState::new(store, settings, Arc::new(ManualClock::new())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve_all(
        app::Listeners { tls: Some(TlsListener { listener, files: files.clone() }), ..Default::default() },
        state,
        async move {
            let _ = rx.await;
        },
    ));

    // Act: a whole session over https.
    let mut wc =
        crate::fake_qbwc::FakeWebConnector::new(&format!("https://localhost:{}/qbwc", addr.port()), "api", PASSWORD);
    wc.client = client(&ca1, addr);
    let log = wc.run_session().await;
    assert_eq!(log.progress, [100]);
    assert_eq!(plain.job(&job).await.state, qbwcd::queue::JobState::Done);
    let metrics = wc.client.get(format!("https://localhost:{}/metrics", addr.port())).send().await.unwrap();
    assert_eq!(metrics.status(), 404, "/metrics is never served on tls_listen");
    // The TLS listener has the header read timeout too: a client that
    // connects and sends nothing (no handshake) is cut off.
    let started = std::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut sink = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read_to_end(&mut silent, &mut sink));
    assert!(closed.await.is_ok(), "a silent TLS client is closed after header_read_timeout_seconds");
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A renewed certificate from another CA replaces the old one on disk.
    let (ca2, cert2, key2) = issue();
    std::fs::write(&files.key, &key2).unwrap();
    std::fs::write(&files.cert, &cert2).unwrap();
    let new_client = client(&ca2, addr);
    let mut reloaded = false;
    for _ in 0..60 {
        if new_client.get(format!("https://localhost:{}/healthz", addr.port())).send().await.is_ok() {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the renewed certificate is served without a restart");
    assert!(client(&ca1, addr).get(format!("https://localhost:{}/healthz", addr.port())).send().await.is_err());

    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await.expect("graceful stop").unwrap().unwrap();
}
