//! `big-answer`: one very large qbXML answer, accepted and stored; the
//! server's peak RSS against the answer's size.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::connector::{Connector, Ended};
use crate::qbxml::Answer;
use crate::seed::Seeder;
use crate::server::{Server, TargetArgs};
use crate::stats::{cpu_time, mb, print_table, status_bytes};

/// Options of `big-answer`.
#[derive(Clone, Debug, clap::Args)]
pub struct BigAnswerArgs {
    /// Size of the answer in MiB (qbXML bytes, before SOAP escaping).
    #[arg(long, default_value_t = 64)]
    pub mib: usize,
}

/// Runs the scenario.
pub async fn run(target: &TargetArgs, a: &BigAnswerArgs) -> anyhow::Result<serde_json::Value> {
    let mut server = Server::prepare(target).await?;
    let result = measure(target, a, &mut server).await;
    server.stop().await?;
    result
}

async fn measure(target: &TargetArgs, a: &BigAnswerArgs, server: &mut Server) -> anyhow::Result<serde_json::Value> {
    let mut seeder = Seeder::connect(&server.database_url).await?;
    let accounts = seeder.accounts(&format!("b{}c", crate::run_id()), 1, true).await?;
    let answer = Arc::new(Answer::new(a.mib * 1024 * 1024));
    seeder.jobs(&[accounts[0].company_id], 1).await?;
    server.start(target).await?;
    let pid = server.pid;
    let rss_before = pid.and_then(|p| status_bytes(p, "VmRSS:"));
    let mut c = Connector::new(&server.addr, accounts[0].clone(), answer.clone()).await?;
    let (cpu0, t0) = (pid.and_then(cpu_time), Instant::now());
    let ended = c.session().await?;
    let took = t0.elapsed();
    anyhow::ensure!(ended == Ended::Done && c.exchanges == 1, "the session did not complete the job");
    let cpu = match (cpu0, pid.and_then(cpu_time)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let stored = seeder.stored_response_bytes(accounts[0].company_id).await?;
    seeder.close().await;
    // The one job seeded on a fresh database has request id 1.
    let sent = answer.qbxml_len("1");
    anyhow::ensure!(usize::try_from(stored).unwrap_or(0) == sent, "stored {stored} bytes, sent {sent}");
    let peak = pid.and_then(|p| status_bytes(p, "VmHWM:"));
    let ratio = peak.map(|p| p as f64 / answer.qbxml_bytes as f64);
    println!("big-answer: one {:.1} MiB answer ({:?})", mb(answer.qbxml_bytes as u64), target.backend);
    println!(
        "  stored {stored} bytes in {:.2} s; server RSS before {:.1} MB, peak {:.1} MB = {:.2}x the answer; CPU {:.2} s",
        took.as_secs_f64(),
        rss_before.map_or(0.0, mb),
        peak.map_or(0.0, mb),
        ratio.unwrap_or(0.0),
        cpu.map_or(0.0, |c| c.as_secs_f64())
    );
    let stats = c.latencies.summary();
    print_table(&stats);
    Ok(json!({
        "scenario": "big-answer",
        "backend": target.backend,
        "answer_bytes": answer.qbxml_bytes,
        "stored_bytes": stored,
        "seconds": took.as_secs_f64(),
        "server_rss_before_bytes": rss_before,
        "server_peak_rss_bytes": peak,
        "peak_rss_over_answer": ratio,
        "server_cpu_seconds": cpu.map(|c| c.as_secs_f64()),
        "latency": stats,
    }))
}
