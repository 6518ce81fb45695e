//! `qbxml-json`: the cost of schema validation and JSON conversion, in
//! process (no server): a large JSON request checked and written as qbXML,
//! a large answer converted to JSON with the process's peak RSS against the
//! answer's size, and enqueue throughput with and without validation.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use qbwcd::qbxml::convert::{answer_to_json, check_requests, json_to_qbxml};
use qbwcd::qbxml::{parse_submission_tree, OnError, Schema};
use qbwcd::store::{AccountStore, NewCompany, PoolOptions, SqlStore};
use qbwcd::submit::{submit, SubmitOptions};
use qbwcd::types::CompanySlug;
use serde_json::json;

use crate::qbxml::Answer;
use crate::stats::mb;

/// Options of `qbxml-json`.
#[derive(Clone, Debug, clap::Args)]
pub struct QbxmlJsonArgs {
    /// Size of the JSON request's qbXML in KiB.
    #[arg(long, default_value_t = 1024)]
    pub request_kib: usize,
    /// Size of the answer converted to JSON, in MiB.
    #[arg(long, default_value_t = 64)]
    pub answer_mib: usize,
    /// Jobs enqueued per mode (validated, unvalidated) on a SQLite file.
    #[arg(long, default_value_t = 2000)]
    pub jobs: usize,
}

/// An invoice with enough lines for its qbXML to reach `bytes`.
fn big_invoice(bytes: usize) -> serde_json::Value {
    let line = |i: usize| {
        json!({"Desc": format!("Line {i}: Müller & Söhne <Nord> widgets"), "Rate": "12.50", "Quantity": 3,
               "ItemRef": {"FullName": format!("Widget {}", i % 50)}, "Amount": "37.50"})
    };
    // About 190 bytes of qbXML per line.
    let lines: Vec<serde_json::Value> = (0..bytes / 190).map(line).collect();
    json!({"InvoiceAddRq": {"InvoiceAdd": {"CustomerRef": {"FullName": "Bench & Co."}, "TxnDate": "2026-12-03",
        "RefNumber": "B-1", "InvoiceLineAdd": lines}}})
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The process's own status field, in bytes.
fn own(field: &str) -> Option<u64> {
    crate::stats::status_bytes(std::process::id(), field)
}

/// Runs the scenario.
pub async fn run(a: &QbxmlJsonArgs) -> anyhow::Result<serde_json::Value> {
    let schema = Schema::for_version(None);
    // 1. A large JSON request: converted, validated and written as qbXML.
    let request = [big_invoice(a.request_kib * 1024)];
    let xml = json_to_qbxml(schema, None, &request, OnError::Stop, true).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Runs alternate between the two paths, so a burst of noise from a
    // shared machine falls on both; the best run says what the code costs
    // when nothing else is running, the median what it costs here.
    // For a profiler: `QBWCD_BENCH_ONLY=json` (or `raw`) runs one path
    // `QBWCD_BENCH_N` times (400) and nothing else, and reports nothing.
    let json_path = || {
        let _ = json_to_qbxml(schema, None, &request, OnError::Stop, true);
    };
    // What `submit` does: one pass, then the schema check.
    let raw_path = || {
        let parsed = parse_submission_tree(&xml).ok();
        let _ = parsed.map(|(_, requests)| check_requests(schema, None, &requests));
    };
    if let Ok(which) = std::env::var("QBWCD_BENCH_ONLY") {
        anyhow::ensure!(which == "json" || which == "raw", "QBWCD_BENCH_ONLY is json or raw, not {which:?}");
        let n: usize = std::env::var("QBWCD_BENCH_N").ok().and_then(|n| n.parse().ok()).unwrap_or(400);
        for _ in 0..n {
            if which == "json" {
                json_path();
            } else {
                raw_path();
            }
        }
        return Ok(serde_json::Value::Null);
    }
    let runs = 41;
    let (mut json_times, mut raw_times) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        json_path();
        json_times.push(t.elapsed());
        let t = Instant::now();
        raw_path();
        raw_times.push(t.elapsed());
    }
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default().as_secs_f64() * 1e3;
    let (json_best, raw_best) = (best(&json_times), best(&raw_times));
    let (json_ms, raw_ms) = (median(json_times).as_secs_f64() * 1e3, median(raw_times).as_secs_f64() * 1e3);
    println!(
        "qbxml-json: a {:.2} MB invoice request ({} lines)",
        mb(xml.len() as u64),
        xml.matches("<InvoiceLineAdd>").count()
    );
    println!(
        "  JSON -> validated qbXML: median {json_ms:.2} ms (best {json_best:.2}); raw qbXML parsed and validated: median {raw_ms:.2} ms (best {raw_best:.2})"
    );

    // 2. A large answer converted to JSON; peak RSS of this process.
    let answer = {
        let a = Answer::new(a.answer_mib * 1024 * 1024);
        let mut escaped = Vec::new();
        a.write(&mut escaped, "1");
        crate::wire::unescape(std::str::from_utf8(&escaped)?)
    };
    // Resets VmHWM (Linux): the peak below is the conversion's.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = own("VmRSS:");
    let t = Instant::now();
    let out = answer_to_json(schema, &[&answer]).context("convert the answer")?;
    let took = t.elapsed();
    let peak = own("VmHWM:");
    let records = out.matches("\"ListID\"").count();
    anyhow::ensure!(records > 0 && out.starts_with("[{\"CustomerQueryRs\""), "the answer did not convert");
    let ratio = peak.map(|p| p as f64 / answer.len() as f64);
    println!(
        "  a {:.1} MiB answer ({records} records) -> {:.1} MB of JSON in {:.2} s; RSS before {:.1} MB (answer held), peak {:.1} MB = {:.2}x the answer{}",
        answer.len() as f64 / 1048576.0,
        mb(out.len() as u64),
        took.as_secs_f64(),
        rss_before.map_or(0.0, mb),
        peak.map_or(0.0, mb),
        ratio.unwrap_or(0.0),
        if reset { "" } else { " (peak not reset: includes set-up)" }
    );
    let (answer_len, json_len) = (answer.len(), out.len());
    drop(out);
    drop(answer);

    // 3. Enqueue throughput on a SQLite file, validated and not.
    let dir = tempfile_dir()?;
    let url = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    let store = SqlStore::connect(&url, &PoolOptions::default()).await.context("open SQLite")?;
    store.migrate().await?;
    let company = store
        .create_company(
            NewCompany {
                slug: CompanySlug::parse("bench")?,
                name: "Bench".into(),
                file_path: None,
                file_id: uuid::Uuid::new_v4(),
                webhook_url: None,
            },
            Utc::now(),
        )
        .await?;
    let mut rates = [0.0f64; 2];
    // Alternating rounds, so drift in the machine's load hits both modes.
    for round in 0..4 {
        for (mode, skip) in [(0usize, false), (1, true)] {
            let t = Instant::now();
            let n = a.jobs / 4;
            for i in 0..n {
                let q = crate::qbxml::request_of((round * 2 + mode) as u64 * 1_000_000 + i as u64, true);
                let opts = SubmitOptions { skip_validation: skip, ..SubmitOptions::default() };
                submit(&store, &company, &q, opts, 16 << 20, 5, Utc::now())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            rates[mode] += n as f64 / t.elapsed().as_secs_f64() / 4.0;
        }
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    let slower = 100.0 * (1.0 - rates[0] / rates[1]);
    println!(
        "  enqueue (SQLite, CustomerAdd, one at a time): {:.0} jobs/s validated, {:.0} jobs/s unvalidated ({slower:.1}% slower)",
        rates[0], rates[1]
    );
    Ok(json!({
        "scenario": "qbxml-json",
        "request_bytes": xml.len(),
        "json_to_qbxml_median_ms": json_ms,
        "json_to_qbxml_best_ms": json_best,
        "raw_validate_median_ms": raw_ms,
        "raw_validate_best_ms": raw_best,
        "answer_bytes": answer_len,
        "answer_json_bytes": json_len,
        "answer_seconds": took.as_secs_f64(),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "peak_rss_over_answer": ratio,
        "enqueue_validated_per_s": rates[0],
        "enqueue_unvalidated_per_s": rates[1],
        "validation_slowdown_percent": slower,
    }))
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("qbwcd-bench-qbxml-{}", crate::run_id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
