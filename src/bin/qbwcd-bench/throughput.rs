//! `throughput`: many Web Connectors, one per company, running whole
//! sessions at once; exchanges per second, latency per method, server CPU
//! per exchange and peak RSS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::connector::Connector;
use crate::qbxml::Answer;
use crate::seed::Seeder;
use crate::server::{Server, TargetArgs};
use crate::stats::{cpu_time, mb, print_table, status_bytes, Latencies};

/// Options of `throughput`.
#[derive(Clone, Debug, clap::Args)]
pub struct ThroughputArgs {
    /// Simulated Web Connectors, each serving its own company.
    #[arg(long, default_value_t = 8)]
    pub connectors: usize,
    /// Sessions per connector (rounds; jobs are queued before each round
    /// while the server is idle, so enqueueing is not timed).
    #[arg(long, default_value_t = 3)]
    pub sessions: usize,
    /// Jobs queued per company for each session (= exchanges per session).
    #[arg(long, default_value_t = 4000)]
    pub jobs: usize,
    /// Size of each qbXML answer in bytes (before SOAP escaping).
    #[arg(long, default_value_t = 1024)]
    pub answer_bytes: usize,
    /// Queue customer adds (writes: each sent with a message-set id, its
    /// claim synced to disk on SQLite) instead of customer queries.
    #[arg(long)]
    pub writes: bool,
}

/// Runs the scenario; returns its figures as JSON.
pub async fn run(target: &TargetArgs, a: &ThroughputArgs) -> anyhow::Result<serde_json::Value> {
    let mut server = Server::prepare(target).await?;
    let result = measure(target, a, &mut server).await;
    server.stop().await?;
    result
}

async fn measure(target: &TargetArgs, a: &ThroughputArgs, server: &mut Server) -> anyhow::Result<serde_json::Value> {
    let mut seeder = Seeder::connect(&server.database_url).await?;
    seeder.writes = a.writes;
    let run = crate::run_id();
    let accounts = seeder.accounts(&format!("t{run}c"), a.connectors, true).await?;
    server.start(target).await?;
    let answer = Arc::new(Answer::new(a.answer_bytes));
    let mut connectors = Vec::new();
    for acc in &accounts {
        connectors.push(Connector::new(&server.addr, acc.clone(), answer.clone()).await?);
    }
    let ids: Vec<i64> = accounts.iter().map(|x| x.company_id).collect();
    let (mut elapsed, mut server_cpu, mut client_cpu) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let me = std::process::id();
    for _ in 0..a.sessions {
        seeder.jobs(&ids, a.jobs).await?;
        let (s0, c0, t0) = (server.pid.and_then(cpu_time), cpu_time(me), Instant::now());
        let mut set = tokio::task::JoinSet::new();
        for mut c in connectors.drain(..) {
            set.spawn(async move {
                let r = c.session().await;
                (c, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (c, r) = joined?;
            r?;
            connectors.push(c);
        }
        elapsed += t0.elapsed();
        if let (Some(s0), Some(s1)) = (s0, server.pid.and_then(cpu_time)) {
            server_cpu += s1 - s0;
        }
        if let (Some(c0), Some(c1)) = (c0, cpu_time(me)) {
            client_cpu += c1 - c0;
        }
    }
    for id in &ids {
        let left = seeder.count(*id, "queued").await?;
        anyhow::ensure!(left == 0, "company {id} still has {left} queued jobs");
    }
    let exchanges: u64 = connectors.iter().map(|c| c.exchanges).sum();
    let expected = (a.connectors * a.sessions * a.jobs) as u64;
    anyhow::ensure!(exchanges == expected, "{exchanges} exchanges, expected {expected}");
    let mut lat = Latencies::default();
    for c in connectors {
        lat.merge(c.latencies);
    }
    seeder.close().await;
    let rate = exchanges as f64 / elapsed.as_secs_f64();
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / exchanges as f64;
    let peak = server.pid.and_then(|p| status_bytes(p, "VmHWM:"));
    println!(
        "throughput: {} connectors x {} sessions x {} {} jobs, {} B answers ({:?})",
        a.connectors,
        a.sessions,
        a.jobs,
        if a.writes { "write" } else { "read" },
        answer.qbxml_bytes,
        target.backend
    );
    println!("  {exchanges} exchanges in {:.2} s = {rate:.0} exchanges/s", elapsed.as_secs_f64());
    if server.pid.is_some() {
        println!(
            "  server CPU {:.4} ms/exchange ({:.2} s); client CPU {:.4} ms/exchange; server peak RSS {:.1} MB",
            per(server_cpu),
            server_cpu.as_secs_f64(),
            per(client_cpu),
            peak.map_or(0.0, mb)
        );
    }
    let stats = lat.summary();
    print_table(&stats);
    Ok(json!({
        "scenario": "throughput",
        "backend": target.backend,
        "connectors": a.connectors,
        "sessions": a.sessions,
        "jobs_per_session": a.jobs,
        "writes": a.writes,
        "answer_bytes": answer.qbxml_bytes,
        "exchanges": exchanges,
        "seconds": elapsed.as_secs_f64(),
        "exchanges_per_second": rate,
        "server_cpu_ms_per_exchange": server.pid.map(|_| per(server_cpu)),
        "client_cpu_ms_per_exchange": per(client_cpu),
        "server_peak_rss_bytes": peak,
        "latency": stats,
    }))
}
