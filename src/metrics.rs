//! Prometheus metrics, served as text on `GET /metrics`.
//!
//! Each [`AppState`](crate::app::AppState) owns its own recorder
//! ([`Metrics`]), so several servers in one process (the test suite) keep
//! separate counts; `serve` also installs it as the process-wide recorder
//! ([`Metrics::install_global`]) so `metrics::counter!` anywhere lands in
//! the same registry.
//!
//! Every label value comes from a fixed set (SOAP method names, outcomes,
//! job states, refusal reasons) or is a company slug, which is bounded by
//! the number of companies. Never a ticket, user name or other free text:
//! each distinct label value is a new time series kept forever.
//!
//! The protocol handlers do not hold a [`Metrics`]; they leave notes
//! ([`note_outcome`], [`note_auth_reason`], [`note_answer`]) in a
//! task-local slot that the SOAP route reads once the call is answered
//! ([`collect_notes`]), so one call is counted in one place.

use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// SOAP calls, by `method` and `outcome`.
pub const SOAP_CALLS: &str = "qbwcd_soap_calls_total";
/// SOAP call latency in seconds, by `method`.
pub const SOAP_CALL_SECONDS: &str = "qbwcd_soap_call_duration_seconds";
/// `authenticate` answers, by `outcome` and (for `nvu`) `reason`.
pub const AUTHENTICATIONS: &str = "qbwcd_authentications_total";
/// Jobs, by `company` and `state` (refreshed from the database on scrape).
pub const JOBS: &str = "qbwcd_jobs";
/// Seconds from enqueue to a job's final answer, by resulting `state`.
pub const JOB_SECONDS: &str = "qbwcd_job_duration_seconds";
/// Size in bytes of qbXML answers received from QuickBooks.
pub const ANSWER_BYTES: &str = "qbwcd_answer_bytes";
/// Leases that lapsed or were released by the reaper.
pub const LEASE_EXPIRIES: &str = "qbwcd_lease_expiries_total";
/// Idle sessions the reaper ended.
pub const SESSION_EXPIRIES: &str = "qbwcd_session_expiries_total";
/// Open (live) Web Connector sessions (refreshed on scrape).
pub const OPEN_SESSIONS: &str = "qbwcd_open_sessions";
/// Web Connector users not heard from for three scheduled intervals, by `company`.
pub const SILENT_CONNECTORS: &str = "qbwcd_silent_connectors";
/// Webhook deliveries, by `outcome` (see [`Metrics::webhook_delivery`]).
pub const WEBHOOK_DELIVERIES: &str = "qbwcd_webhook_deliveries_total";
/// Requests and connections refused by the HTTP limits, by `reason`
/// (`too_large`, `bytes_in_flight`, `body_timeout`, `connections`).
pub const HTTP_REFUSED: &str = "qbwcd_http_refused_total";
/// SOAP request body bytes held by in-flight requests (refreshed on scrape).
pub const BODY_BYTES_BUFFERED: &str = "qbwcd_soap_body_bytes_buffered";
/// Webhook delivery latency in seconds, by `outcome`.
pub const WEBHOOK_SECONDS: &str = "qbwcd_webhook_delivery_duration_seconds";

/// Calls that named a ticket of no session (`connectionError`,
/// `getLastError`, …), by `method`. Such calls leave no event row: anyone
/// can send them, so they are only counted.
pub const UNKNOWN_TICKETS: &str = "qbwcd_unknown_ticket_calls_total";
/// Rows the reaper pruned past their retention, by `table` (`event`,
/// `webhook_delivery`).
pub const PRUNED_ROWS: &str = "qbwcd_pruned_rows_total";

/// Every outcome label a SOAP call may carry; anything else is `other`.
const OUTCOMES: &[&str] = &[
    "busy",
    "cancelled",
    "client_too_old",
    "closed",
    "continued",
    "done",
    "error",
    "failed",
    "fault",
    "held",
    "hresult",
    "no_job",
    "no_work",
    "none",
    "nvu",
    "page",
    "postponed",
    "queued",
    "sent",
    "session",
    "session_ended",
    "stale",
    "stopped",
    "unknown",
    "unknown_ticket",
    "waiting",
    "wrong_file",
];

const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const JOB_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4.0 * 3600.0, 86_400.0];
const SIZE_BUCKETS: &[f64] =
    &[256.0, 1024.0, 4096.0, 16_384.0, 65_536.0, 262_144.0, 1_048_576.0, 4_194_304.0, 16_777_216.0, 67_108_864.0];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// A label value from the fixed outcome set: `other` for anything else.
pub fn outcome_label(raw: &str) -> &'static str {
    OUTCOMES.iter().find(|o| **o == raw).copied().unwrap_or("other")
}

/// This server's metrics registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// `(company, state)` pairs set last time, so a pair that vanished from
    /// the grouped count is set to 0 instead of keeping a stale value.
    job_labels: Mutex<HashSet<(String, String)>>,
    /// Companies with a silent-connector gauge, for the same reason.
    silent_labels: Mutex<HashSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with every metric described.
    pub fn new() -> Self {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in [
            (SOAP_CALL_SECONDS, LATENCY_BUCKETS),
            (WEBHOOK_SECONDS, LATENCY_BUCKETS),
            (JOB_SECONDS, JOB_BUCKETS),
            (ANSWER_BYTES, SIZE_BUCKETS),
        ] {
            // Non-empty constant buckets: set_buckets_for_metric cannot fail.
            builder = builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets).unwrap_or_else(|_| {
                unreachable!("bucket lists are non-empty constants");
            });
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let m = Metrics {
            inner: Arc::new(Inner { recorder, handle, job_labels: Mutex::default(), silent_labels: Mutex::default() }),
        };
        m.describe();
        m
    }

    fn describe(&self) {
        let r = &self.inner.recorder;
        let c = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            r.describe_counter(KeyName::from_const_str(name), unit, SharedString::const_str(help));
        };
        c(SOAP_CALLS, None, "Web Connector SOAP calls by method and outcome");
        c(
            AUTHENTICATIONS,
            None,
            "authenticate answers by outcome (ok, none, postponed, waiting, nvu, busy) and refusal reason",
        );
        c(LEASE_EXPIRIES, None, "job leases released because their session or lease lapsed");
        c(SESSION_EXPIRIES, None, "idle Web Connector sessions ended by the reaper");
        c(WEBHOOK_DELIVERIES, None, "webhook deliveries by outcome");
        c(HTTP_REFUSED, None, "requests and connections refused by the HTTP limits, by reason");
        c(UNKNOWN_TICKETS, None, "SOAP calls with a ticket of no session, by method (no event is recorded)");
        c(PRUNED_ROWS, None, "rows pruned past their retention, by table");
        let h = |name: &'static str, unit: Unit, help: &'static str| {
            r.describe_histogram(KeyName::from_const_str(name), Some(unit), SharedString::const_str(help));
        };
        h(SOAP_CALL_SECONDS, Unit::Seconds, "time to answer one SOAP call, by method");
        h(JOB_SECONDS, Unit::Seconds, "time from enqueue to a job's final answer, by state");
        h(ANSWER_BYTES, Unit::Bytes, "size of qbXML answers received from QuickBooks");
        h(WEBHOOK_SECONDS, Unit::Seconds, "time to deliver one webhook, by outcome");
        let g = |name: &'static str, help: &'static str| {
            r.describe_gauge(KeyName::from_const_str(name), None, SharedString::const_str(help));
        };
        g(JOBS, "jobs by company and state");
        g(OPEN_SESSIONS, "open Web Connector sessions");
        g(BODY_BYTES_BUFFERED, "SOAP request body bytes held by in-flight requests");
        g(SILENT_CONNECTORS, "Web Connector users not heard from for three scheduled intervals, by company");
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.inner.recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.inner.recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.inner.recorder.register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        self.inner.handle.render()
    }

    /// Folds recorded histogram samples into their buckets. The recorder
    /// keeps every sample until this runs (or `/metrics` is scraped), so a
    /// server nobody scrapes would otherwise grow by each SOAP call.
    pub fn upkeep(&self) {
        self.inner.handle.run_upkeep();
    }

    /// Makes this registry the process-wide `metrics` recorder, so the
    /// `metrics::counter!` family of macros records into it. Only the first
    /// call in a process succeeds; later ones return `false` and change
    /// nothing (tests run several servers in one process).
    pub fn install_global(&self) -> bool {
        metrics::set_global_recorder(Forward(self.inner.clone())).is_ok()
    }

    /// One SOAP call answered. `method` is the SOAP method name (or
    /// `unknown` for a request that named none).
    pub fn soap_call(&self, method: &'static str, outcome: &'static str, elapsed: Duration) {
        self.counter(
            SOAP_CALLS,
            vec![Label::from_static_parts("method", method), Label::from_static_parts("outcome", outcome)],
        )
        .increment(1);
        self.histogram(SOAP_CALL_SECONDS, vec![Label::from_static_parts("method", method)])
            .record(elapsed.as_secs_f64());
    }

    /// One `authenticate` answered: outcome `ok` (a session), `none`,
    /// `postponed`, `nvu` (with the refusal reason) or `busy`.
    pub fn authentication(&self, outcome: &'static str, reason: Option<&'static str>) {
        let labels = vec![
            Label::from_static_parts("outcome", outcome),
            Label::from_static_parts("reason", reason.unwrap_or("")),
        ];
        self.counter(AUTHENTICATIONS, labels).increment(1);
    }

    /// A job reached `state` `elapsed` after it was enqueued.
    pub fn job_finished(&self, state: &'static str, elapsed: Duration) {
        self.histogram(JOB_SECONDS, vec![Label::from_static_parts("state", state)]).record(elapsed.as_secs_f64());
    }

    /// A qbXML answer of `bytes` arrived.
    pub fn answer_received(&self, bytes: usize) {
        self.histogram(ANSWER_BYTES, Vec::new()).record(bytes as f64);
    }

    /// The reaper expired `sessions` sessions and released `leases` leases.
    pub fn expired(&self, sessions: u64, leases: u64) {
        self.counter(SESSION_EXPIRIES, Vec::new()).increment(sessions);
        self.counter(LEASE_EXPIRIES, Vec::new()).increment(leases);
    }

    /// A request or connection refused by an HTTP limit; `reason` is one of
    /// `too_large`, `bytes_in_flight`, `body_timeout`, `connections`.
    pub fn http_refused(&self, reason: &'static str) {
        self.counter(HTTP_REFUSED, vec![Label::from_static_parts("reason", reason)]).increment(1);
    }

    /// Sets the gauge of SOAP body bytes held by in-flight requests.
    pub fn set_body_bytes_buffered(&self, bytes: usize) {
        self.gauge(BODY_BYTES_BUFFERED, Vec::new()).set(bytes as f64);
    }

    /// The reaper pruned `rows` rows of `table` past their retention.
    pub fn pruned(&self, table: &'static str, rows: u64) {
        self.counter(PRUNED_ROWS, vec![Label::from_static_parts("table", table)]).increment(rows);
    }

    /// Sets the open-session gauge.
    pub fn set_open_sessions(&self, n: i64) {
        self.gauge(OPEN_SESSIONS, Vec::new()).set(n as f64);
    }

    /// Sets the job gauges from one grouped count; pairs absent from
    /// `counts` (every job of that state gone) drop to 0.
    pub fn set_job_counts<'a>(&self, counts: impl IntoIterator<Item = (&'a str, &'a str, i64)>) {
        let mut seen = HashSet::new();
        for (company, state, n) in counts {
            self.gauge(JOBS, job_labels(company, state)).set(n as f64);
            seen.insert((company.to_owned(), state.to_owned()));
        }
        let mut last = self.inner.job_labels.lock().unwrap_or_else(|e| e.into_inner());
        for (company, state) in last.difference(&seen) {
            self.gauge(JOBS, job_labels(company, state)).set(0.0);
        }
        *last = seen;
    }

    /// Sets the silent-connector gauges: `(company, count)`; companies not
    /// listed drop to 0.
    pub fn set_silent_connectors<'a>(&self, counts: impl IntoIterator<Item = (&'a str, usize)>) {
        let mut seen = HashSet::new();
        for (company, n) in counts {
            self.gauge(SILENT_CONNECTORS, vec![Label::new("company", company.to_owned())]).set(n as f64);
            seen.insert(company.to_owned());
        }
        let mut last = self.inner.silent_labels.lock().unwrap_or_else(|e| e.into_inner());
        for company in last.difference(&seen) {
            self.gauge(SILENT_CONNECTORS, vec![Label::new("company", company.clone())]).set(0.0);
        }
        *last = seen;
    }

    /// The hook for webhook delivery: call once per delivery attempt with
    /// an outcome from a fixed set (`delivered`, `http_error`,
    /// `timeout`, `connect_error`, `refused` (an internal address, see
    /// `webhook_allow_hosts`), `gave_up` — never a URL or response text)
    /// and how long it took.
    pub fn webhook_delivery(&self, outcome: &'static str, elapsed: Duration) {
        self.counter(WEBHOOK_DELIVERIES, vec![Label::from_static_parts("outcome", outcome)]).increment(1);
        self.histogram(WEBHOOK_SECONDS, vec![Label::from_static_parts("outcome", outcome)])
            .record(elapsed.as_secs_f64());
    }

    /// Counts what the handlers noted about one answered SOAP call.
    pub(crate) fn record_call(&self, method: &'static str, notes: &CallNotes, elapsed: Duration) {
        let outcome = if method == "connectionError" { "reported" } else { notes.outcome.unwrap_or("ok") };
        self.soap_call(method, outcome, elapsed);
        if notes.unknown_ticket || outcome == "unknown_ticket" {
            self.counter(UNKNOWN_TICKETS, vec![Label::from_static_parts("method", method)]).increment(1);
        }
        if method == "authenticate" {
            let auth = match outcome {
                "session" => "ok",
                "none" | "postponed" | "nvu" | "busy" | "waiting" => outcome,
                _ => "other",
            };
            self.authentication(auth, notes.auth_reason);
        }
        if let Some(bytes) = notes.answer_bytes {
            self.answer_received(bytes);
        }
        if let Some((state, elapsed)) = notes.job_finished {
            self.job_finished(state, elapsed);
        }
    }
}

fn job_labels(company: &str, state: &str) -> Vec<Label> {
    vec![Label::new("company", company.to_owned()), Label::new("state", state.to_owned())]
}

/// Delegates to a shared registry; what [`Metrics::install_global`] installs.
struct Forward(Arc<Inner>);

impl Recorder for Forward {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.recorder.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.recorder.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.recorder.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.recorder.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.recorder.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.recorder.register_histogram(key, metadata)
    }
}

/// What the handlers noted about one SOAP call.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallNotes {
    outcome: Option<&'static str>,
    auth_reason: Option<&'static str>,
    answer_bytes: Option<usize>,
    job_finished: Option<(&'static str, Duration)>,
    unknown_ticket: bool,
}

tokio::task_local! {
    static NOTES: RefCell<CallNotes>;
}

/// Runs `call` with a fresh notes slot and returns what it noted.
pub(crate) async fn collect_notes<F: Future>(call: F) -> (F::Output, CallNotes) {
    NOTES
        .scope(RefCell::new(CallNotes::default()), async move {
            let out = call.await;
            let notes = NOTES.with(|n| n.take());
            (out, notes)
        })
        .await
}

fn note(f: impl FnOnce(&mut CallNotes)) {
    // Outside collect_notes (the protocol tests in `qbwc::tests` call the
    // handlers directly) there is no slot.
    let _ = NOTES.try_with(|n| f(&mut n.borrow_mut()));
}

/// Notes the call's outcome (mapped to the fixed set).
pub(crate) fn note_outcome(raw: &str) {
    let label = outcome_label(raw);
    note(|n| n.outcome = Some(label));
}

/// Notes why `authenticate` refused (a fixed reason such as `bad_password`).
pub(crate) fn note_auth_reason(reason: &'static str) {
    note(|n| n.auth_reason = Some(reason));
}

/// Notes that the call named a ticket of no session.
pub(crate) fn note_unknown_ticket() {
    note(|n| n.unknown_ticket = true);
}

/// Notes a qbXML answer of `bytes`.
pub(crate) fn note_answer(bytes: usize) {
    note(|n| n.answer_bytes = Some(bytes));
}

/// Notes that a job reached `state` `elapsed` after it was enqueued.
pub(crate) fn note_job_finished(state: &'static str, elapsed: Duration) {
    note(|n| n.job_finished = Some((state, elapsed)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_outside_the_fixed_set_are_other() {
        assert_eq!(outcome_label("nvu"), "nvu");
        assert_eq!(outcome_label("0x80040408"), "other");
        assert_eq!(outcome_label("alice's ticket"), "other");
    }

    #[test]
    fn each_registry_counts_on_its_own_and_vanished_gauges_drop_to_zero() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.soap_call("authenticate", "nvu", Duration::from_millis(3));
        a.set_job_counts([("acme", "queued", 2)]);
        assert!(a.render().contains(r#"qbwcd_soap_calls_total{method="authenticate",outcome="nvu"} 1"#));
        assert!(!b.render().contains("qbwcd_soap_calls_total{"));
        a.set_job_counts([]);
        assert!(a.render().contains(r#"qbwcd_jobs{company="acme",state="queued"} 0"#), "{}", a.render());
    }

    #[test]
    fn upkeep_folds_samples_into_buckets_without_losing_them() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.soap_call("sendRequestXML", "sent", Duration::from_millis(2));
        }
        m.upkeep();
        m.soap_call("sendRequestXML", "sent", Duration::from_millis(2));
        let text = m.render();
        assert!(text.contains(r#"qbwcd_soap_call_duration_seconds_count{method="sendRequestXML"} 4"#), "{text}");
    }

    #[tokio::test]
    async fn notes_are_collected_per_call() {
        let ((), notes) = collect_notes(async {
            note_outcome("nvu");
            note_auth_reason("bad_password");
        })
        .await;
        assert_eq!(notes.outcome, Some("nvu"));
        assert_eq!(notes.auth_reason, Some("bad_password"));
        note_outcome("outside a call is ignored");
    }
}
