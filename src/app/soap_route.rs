//! The `/qbwc` route: the SOAP body read within its limits, parsed, handed
//! to the protocol service ([`crate::qbwc::Qbwc::handle`]), and the reply
//! rendered, all under one `qbwc.call` span.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use tracing::{field, Instrument, Level};

use super::AppState;
use crate::config::Settings;
use crate::qbwc::CallContext;
use crate::soap::{self, Call, Limits, Method};

/// Bodies larger than this are parsed and rendered on the blocking pool,
/// so a 64 MB answer does not stall the async workers.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// Seconds a client refused for lack of buffer room is asked to wait.
const RETRY_AFTER_SECONDS: u64 = 5;

/// The largest body a SOAP call may send, decided from its `SOAPAction`
/// header before any of the body is read. The Web Connector always sends
/// one, quoted and in full (`"http://developer.intuit.com/receiveResponseXML"`,
/// see the captures); only `receiveResponseXML` carries QuickBooks' answers
/// and may be large. Any other or no `SOAPAction` gets the small limit, so
/// an unauthenticated client cannot make the server hold 128 MiB.
fn soap_body_limit(settings: &Settings, headers: &header::HeaderMap) -> usize {
    let action = headers.get("soapaction").and_then(|v| v.to_str().ok()).map(|v| v.trim().trim_matches('"').trim());
    let method = action.map(|a| a.rsplit('/').next().unwrap_or(a));
    if method.is_some_and(|m| m.eq_ignore_ascii_case(Method::ReceiveResponseXml.name())) {
        settings.soap_body_limit_bytes
    } else {
        settings.soap_small_body_limit_bytes.min(settings.soap_body_limit_bytes)
    }
}

/// Whether a body error is the router's idle timeout (the same limit as
/// [`read_soap_body`]'s, which it may reach first).
fn body_timed_out(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A SOAP body and its share of the bytes-in-flight budget, given back
/// when the call is answered.
struct SoapBody {
    bytes: Bytes,
    _held: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Why a body was not read to the end, as the answer to send.
fn refuse_body(state: &AppState, status: StatusCode, reason: &'static str, text: String) -> Response {
    state.metrics.http_refused(reason);
    tracing::info!(status = status.as_u16(), reason, "refused a SOAP request body");
    let mut r = (status, [(header::CONNECTION, "close")], text).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    r
}

/// Reads a SOAP body within its limit (see [`soap_body_limit`]):
/// a `Content-Length` above it is refused (413) before a byte is read;
/// the buffer grows as bytes arrive (a client's `Content-Length` reserves
/// nothing); every byte held takes a permit from the budget shared by all
/// requests (`soap_buffered_bytes_max`), and a request that finds it spent
/// is answered 503 with `Retry-After`; a body must keep arriving: no piece
/// may take longer than `body_read_timeout_seconds`, and after that grace
/// it must average `body_min_bytes_per_second` (408 otherwise).
/// Bytes of a body after which the rest of its declared length is
/// reserved at once (smaller bodies grow as they arrive).
const RESERVE_WHOLE_AFTER: usize = 1 << 20;

async fn read_soap_body(state: &AppState, request: Request) -> Result<SoapBody, Response> {
    let s = &state.settings;
    let limit = soap_body_limit(s, request.headers());
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let too_large = |state: &AppState| {
        refuse_body(
            state,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than this SOAP call may send ({limit} bytes)\n"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(state));
    }
    let grace = Duration::from_secs(s.body_read_timeout_seconds.max(1));
    let rate = s.body_min_bytes_per_second;
    let started = tokio::time::Instant::now();
    let mut body = request.into_body();
    let mut buf = Vec::new();
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    // Bytes of the budget held so far. Once a large body has sent its
    // first MiB, the rest it declared is taken from the budget and the
    // buffer reserved whole: growing it by doubling kept the old and the
    // new buffer alive at once, and the allocator kept the freed ones.
    let mut covered = 0usize;
    loop {
        let by_rate = match rate {
            0 => None,
            r => Some(started + grace + Duration::from_secs_f64(buf.len() as f64 / r as f64)),
        };
        let idle = tokio::time::Instant::now() + grace;
        let deadline = by_rate.map_or(idle, |d| d.min(idle));
        let timed_out = |state: &AppState| {
            refuse_body(
                state,
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body arrived too slowly\n".into(),
            )
        };
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(timed_out(state)),
            Ok(None) => break,
            // The router's idle timeout is the same limit and may come first.
            Ok(Some(Err(e))) if body_timed_out(&e) => return Err(timed_out(state)),
            Ok(Some(Err(e))) => {
                return Err((StatusCode::BAD_REQUEST, format!("Failed to read the request body: {e}")).into_response())
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        if buf.len() + data.len() > limit {
            return Err(too_large(state));
        }
        let arrived = buf.len() + data.len();
        let mut want = arrived;
        if let Some(d) = declared.and_then(|d| usize::try_from(d).ok()) {
            if covered < d && arrived >= RESERVE_WHOLE_AFTER && d >= arrived {
                want = d;
            }
        }
        let n = u32::try_from(want.saturating_sub(covered)).unwrap_or(u32::MAX);
        match state.body_budget.clone().try_acquire_many_owned(n) {
            Ok(p) => {
                match held.as_mut() {
                    Some(h) => h.merge(p),
                    None => held = Some(p),
                }
                if want > arrived {
                    buf.reserve_exact(want - buf.len());
                }
                covered = covered.max(want);
            }
            Err(_) => {
                return Err(refuse_body(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "bytes_in_flight",
                    "the server is holding as many request bytes as it may; try again shortly\n".into(),
                ))
            }
        }
        buf.extend_from_slice(&data);
    }
    Ok(SoapBody { bytes: Bytes::from(buf), _held: held })
}

/// `POST /qbwc`: one Web Connector call.
pub(super) async fn soap_call(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let client_ip = state.proxies.client_ip(peer.ip(), request.headers());
    let SoapBody { bytes: body, _held: held } = match read_soap_body(&state, request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let small_limit = state.settings.soap_small_body_limit_bytes;
    let started = Instant::now();
    let request_bytes = body.len();
    let span = tracing::info_span!(
        "qbwc.call",
        qbwc.method = field::Empty,
        qbwc.ticket = field::Empty,
        company.id = field::Empty,
        user = field::Empty,
        job.id = field::Empty,
        outcome = field::Empty,
        request_bytes = request_bytes,
        response_bytes = field::Empty,
        duration_ms = field::Empty,
    );
    let ctx = CallContext { remote_addr: Some(client_ip.to_string()) };
    async move {
        let span = tracing::Span::current();
        let limits = Limits { max_depth: state.settings.xml_max_depth };
        let parsed = if body.len() > BLOCKING_THRESHOLD {
            let b = body.clone();
            tokio::task::spawn_blocking(move || soap::parse_call(&b, &limits))
                .await
                .unwrap_or_else(|e| Err(soap::SoapError::Internal { message: e.to_string() }))
        } else {
            soap::parse_call(&body, &limits)
        };
        drop(body);
        let call: Call = match parsed {
            Ok(c) => c,
            Err(e) => {
                span.record("outcome", "fault");
                state.metrics.soap_call("unknown", "fault", started.elapsed());
                tracing::warn!(error = %e, "refused a request that is not a Web Connector call");
                return soap_response(StatusCode::INTERNAL_SERVER_ERROR, soap::render_fault(&e));
            }
        };
        let method = call.method();
        span.record("qbwc.method", method.name());
        // A SOAPAction may claim receiveResponseXML for another method's
        // body; only that method may be large.
        if request_bytes > small_limit && method != Method::ReceiveResponseXml {
            span.record("outcome", "fault");
            state.metrics.soap_call(method.name(), "fault", started.elapsed());
            return refuse_body(
                &state,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("{} may not send more than {small_limit} bytes\n", method.name()),
            );
        }
        if let Some(t) = call.ticket() {
            span.record("qbwc.ticket", t.short());
        }
        let (reply, notes) = crate::metrics::collect_notes(state.qbwc.handle(call, &ctx)).await;
        // Only a large reply is worth a trip to the blocking pool: for the
        // usual few hundred bytes the hand-off cost more than rendering.
        let rendered = if reply_len(&reply) > BLOCKING_THRESHOLD {
            tokio::task::spawn_blocking(move || soap::render_reply(&reply)).await
        } else {
            Ok(soap::render_reply(&reply))
        };
        let bytes = match rendered {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "rendering the reply failed");
                return soap_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    soap::render_fault(&soap::SoapError::Internal { message: "internal error".into() }),
                );
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        span.record("response_bytes", bytes.len());
        span.record("duration_ms", (ms * 1000.0).round() / 1000.0);
        state.metrics.record_call(method.name(), &notes, started.elapsed());
        drop(held);
        if matches!(method, Method::SendRequestXml | Method::ReceiveResponseXml) {
            tracing::event!(Level::DEBUG, "qbwc call");
        } else {
            tracing::event!(Level::INFO, "qbwc call");
        }
        soap_response(StatusCode::OK, bytes)
    }
    .instrument(span)
    .await
}

/// The size of a reply's text payload (before escaping).
fn reply_len(reply: &soap::Reply) -> usize {
    match reply {
        soap::Reply::SendRequestXml(s) => s.len(),
        soap::Reply::Authenticate(v) => v.iter().map(String::len).sum(),
        _ => 0,
    }
}

fn soap_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// `GET /qbwc` answers 200 (the Web Connector and admins probe it);
/// `GET /qbwc?wsdl` serves the WSDL with this server's address.
pub(super) async fn soap_get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    if query.is_some_and(|q| q.eq_ignore_ascii_case("wsdl") || q.to_ascii_lowercase().starts_with("wsdl")) {
        let endpoint = format!("{}/qbwc", state.settings.public_url.trim_end_matches('/'));
        return soap_response(StatusCode::OK, soap::wsdl_for(&endpoint).into_bytes());
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "qbwcd: QuickBooks Web Connector endpoint. The Web Connector POSTs SOAP here; ?wsdl gives the WSDL.\n",
    )
        .into_response()
}
