//! HTTP limits against hostile clients: SOAP body limits decided from
//! `SOAPAction` before reading, the bytes-in-flight budget, header and body
//! read timeouts, the connection cap, and where `/metrics` is served.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp};

const MIB: usize = 1024 * 1024;

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

/// A request head for `/qbwc` with the given SOAPAction and length.
fn head(action: Option<&str>, content_length: usize) -> String {
    let action = action.map(|a| format!("SOAPAction: \"http://developer.intuit.com/{a}\"\r\n")).unwrap_or_default();
    format!(
        "POST /qbwc HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml; charset=utf-8\r\n{action}Content-Length: {content_length}\r\n\r\n"
    )
}

/// Reads what the server sends until it closes or `wait` passes.
async fn read_reply(stream: &mut TcpStream, wait: Duration) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
        if got.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn envelope(method: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><{method} xmlns=\"http://developer.intuit.com/\">{inner}</{method}></soap:Body></soap:Envelope>"
    )
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", app.url)).await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// A 100 MB body for any call but receiveResponseXML (or for none) is
/// answered 413 from its headers: the client has sent 1 KB and never
/// sends the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_body_is_refused_from_its_headers_before_it_is_read() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for action in [Some("authenticate"), Some("sendRequestXML"), None] {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(head(action, 100_000_000).as_bytes()).await.unwrap();
        s.write_all(&[b'x'; 1024]).await.unwrap();
        let reply = read_reply(&mut s, Duration::from_secs(5)).await;
        assert!(reply.starts_with("HTTP/1.1 413"), "{action:?}: {reply:?}");
    }
    // receiveResponseXML keeps the large limit; past it, the same 413.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(head(Some("receiveResponseXML"), 200 * MIB).as_bytes()).await.unwrap();
    assert!(read_reply(&mut s, Duration::from_secs(5)).await.starts_with("HTTP/1.1 413"));
    assert!(metric(&app, "qbwcd_http_refused_total{reason=\"too_large\"}").await >= 4.0);
}

/// receiveResponseXML may send more than the small limit; a body that
/// claims receiveResponseXML but is another call may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_receive_response_xml_may_be_large() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let big = "x".repeat(2 * MIB);
    let post = |action: &'static str, body: String| {
        http.post(format!("{}/qbwc", app.url))
            .header("SOAPAction", format!("\"http://developer.intuit.com/{action}\""))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body)
            .send()
    };
    let answer = envelope(
        "receiveResponseXML",
        &format!("<ticket>{}</ticket><response>{big}</response><hresult/><message/>", "0".repeat(32)),
    );
    let r = post("receiveResponseXML", answer).await.unwrap();
    assert_eq!(r.status(), 200, "a large answer is read and handled");
    assert!(r.text().await.unwrap().contains("receiveResponseXMLResult"));
    let login = envelope("authenticate", &format!("<strUserName>{big}</strUserName><strPassword>x</strPassword>"));
    let r = post("receiveResponseXML", login).await.unwrap();
    assert_eq!(r.status(), 413, "a large authenticate posing as receiveResponseXML is refused");
}

/// Past `soap_buffered_bytes_max` held across requests, another request
/// is answered 503 with Retry-After; once the bytes are freed, it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_bytes_in_flight_budget_get_503() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.soap_buffered_bytes_max = 256 * 1024).await;
    let mut hog = TcpStream::connect(addr(&app)).await.unwrap();
    hog.write_all(head(Some("receiveResponseXML"), MIB).as_bytes()).await.unwrap();
    hog.write_all(&vec![b'x'; 200 * 1024]).await.unwrap();
    let started = Instant::now();
    while metric(&app, "qbwcd_soap_body_bytes_buffered").await < (200 * 1024) as f64 {
        assert!(started.elapsed() < Duration::from_secs(10), "the server never buffered the first body");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = reqwest::Client::new();
    let login = envelope(
        "authenticate",
        &format!("<strUserName>{}</strUserName><strPassword>x</strPassword>", "u".repeat(100 * 1024)),
    );
    let send = || {
        http.post(format!("{}/qbwc", app.url))
            .header("SOAPAction", "\"http://developer.intuit.com/authenticate\"")
            .body(login.clone())
            .send()
    };
    let r = send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    drop(hog);
    let started = Instant::now();
    loop {
        let r = send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(started.elapsed() < Duration::from_secs(10), "the budget was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&app, "qbwcd_soap_body_bytes_buffered").await, 0.0);
}

/// A connection that sends half a request head is closed after
/// `header_read_timeout_seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_header_is_closed_after_the_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.header_read_timeout_seconds = 1).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"POST /qbwc HTTP/1.1\r\nHost: localhost\r\nSOAPAct").await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection is still open after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", started.elapsed());
}

/// A body that stops arriving is answered 408 after
/// `body_read_timeout_seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.body_read_timeout_seconds = 1).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(head(Some("authenticate"), 1000).as_bytes()).await.unwrap();
    s.write_all(b"<soap:Envelope").await.unwrap();
    let reply = read_reply(&mut s, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
}

/// Past `max_connections` open connections a new one is closed at once;
/// when one closes, connections are accepted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.max_connections = 2).await;
    let first = TcpStream::connect(addr(&app)).await.unwrap();
    let _second = TcpStream::connect(addr(&app)).await.unwrap();
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), third.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection past the cap was not closed");
    drop(first);
    let started = Instant::now();
    loop {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
        if read_reply(&mut s, Duration::from_secs(2)).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "a freed place was never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With `metrics_listen` set, `/metrics` is served there and not on `listen`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_to_metrics_listen() {
    use std::sync::Arc;

    use qbwcd::app::{self, AppState, Listeners};
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    let settings = qbwcd::config::Settings {
        database_url: db.url.clone(),
        metrics_listen: Some(metrics_addr.to_string()),
        ..Default::default()
    };
    let store: Arc<dyn qbwcd::store::Store> = db.store.clone();
    let state = AppState::new(store, Arc::new(settings), Arc::new(qbwcd::clock::ManualClock::new())).unwrap();
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve_all(
        Listeners { plain: Some(plain), metrics: Some(metrics), ..Default::default() },
        state,
        async move {
            let _ = rx.await;
        },
    ));
    let get = |a: std::net::SocketAddr, path: &'static str| async move {
        reqwest::get(format!("http://{a}{path}")).await.unwrap().status().as_u16()
    };
    assert_eq!(get(metrics_addr, "/metrics").await, 200);
    assert_eq!(get(plain_addr, "/metrics").await, 404);
    assert_eq!(get(plain_addr, "/healthz").await, 200);
    assert_eq!(get(metrics_addr, "/healthz").await, 404, "the metrics listener serves nothing else");
    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await.expect("graceful stop").unwrap().unwrap();
}

/// Without `metrics_listen`, `/metrics` is on `listen` only when that is
/// loopback.
#[test]
fn metrics_stay_off_a_public_listen_by_default() {
    let s = qbwcd::config::Settings::default();
    assert!(qbwcd::app::metrics_on_listen(&s, "127.0.0.1:8080".parse().unwrap()));
    assert!(qbwcd::app::metrics_on_listen(&s, "[::1]:8080".parse().unwrap()));
    assert!(!qbwcd::app::metrics_on_listen(&s, "0.0.0.0:8080".parse().unwrap()));
    assert!(!qbwcd::app::metrics_on_listen(&s, "192.0.2.7:8080".parse().unwrap()));
    let moved = qbwcd::config::Settings { metrics_listen: Some("127.0.0.1:9090".into()), ..Default::default() };
    assert!(!qbwcd::app::metrics_on_listen(&moved, "127.0.0.1:8080".parse().unwrap()));
}
