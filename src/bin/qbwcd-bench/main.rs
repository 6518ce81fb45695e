//! `qbwcd-bench`: a load driver for qbwcd. It plays many QuickBooks Web
//! Connectors at once over real HTTP keep-alive connections, sending what
//! the real client sends, against a qbwcd it spawns (or one already
//! running), and reports exchanges per second, latency per method, the
//! server's CPU time per exchange and its peak RSS. BENCHMARKS.md has the
//! scenarios, the figures and what bounds them.

#![forbid(unsafe_code)]

mod big_answer;
mod claim_scale;
mod connector;
mod console;
mod console_seed;
mod http;
mod login_flood;
mod qbxml;
mod qbxml_json;
mod seed;
mod server;
mod stats;
mod throughput;
mod wire;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use server::{Backend, TargetArgs};

/// Load driver for qbwcd (see BENCHMARKS.md).
#[derive(Debug, Parser)]
#[command(name = "qbwcd-bench", version)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    /// Also print the figures as one JSON document at the end.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Connectors × sessions × jobs with answers of a given size.
    Throughput(throughput::ThroughputArgs),
    /// One very large answer: accepted, stored, and the server's peak RSS.
    BigAnswer(big_answer::BigAnswerArgs),
    /// Claim latency on a small queue versus a huge one.
    ClaimScale(claim_scale::ClaimScaleArgs),
    /// Concurrent logins while other connectors work.
    LoginFlood(login_flood::LoginFloodArgs),
    /// Schema validation and JSON conversion: a 1 MB request, a 64 MiB
    /// answer to JSON (peak RSS), enqueue with and without validation.
    QbxmlJson(qbxml_json::QbxmlJsonArgs),
    /// The operator console's pages on a large installation (SQLite).
    Console(console::ConsoleArgs),
    /// Every scenario of BENCHMARKS.md with its default figures, on SQLite
    /// and (throughput) Postgres.
    All,
}

/// A number unique to this invocation's set-ups, so names never collide
/// when `--url` points several runs at one database.
pub fn run_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() % 100_000);
    format!("{secs}x{}", N.fetch_add(1, Ordering::Relaxed))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One client thread: the driver shares the machine with the server,
    // and a single-threaded runtime keeps its own CPU cost small and steady.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("qbwcd-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&cli)) {
        Ok(report) => {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qbwcd-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<serde_json::Value> {
    let t = &cli.target;
    Ok(match &cli.scenario {
        Scenario::Throughput(a) => throughput::run(t, a).await?,
        Scenario::BigAnswer(a) => big_answer::run(t, a).await?,
        Scenario::ClaimScale(a) => claim_scale::run(t, a).await?,
        Scenario::LoginFlood(a) => login_flood::run(t, a).await?,
        Scenario::QbxmlJson(a) => qbxml_json::run(a).await?,
        Scenario::Console(a) => console::run(t, a).await?,
        Scenario::All => all(t).await?,
    })
}

/// The figures of BENCHMARKS.md, in order.
async fn all(t: &TargetArgs) -> anyhow::Result<serde_json::Value> {
    let sqlite = TargetArgs { backend: Backend::Sqlite, ..t.clone() };
    let pg = TargetArgs { backend: Backend::Postgres, ..t.clone() };
    // Sized to finish in a few minutes at today's rates (BENCHMARKS.md).
    let small =
        throughput::ThroughputArgs { connectors: 8, sessions: 2, jobs: 4000, answer_bytes: 1024, writes: false };
    let large = throughput::ThroughputArgs { sessions: 1, jobs: 1000, answer_bytes: 100 * 1024, ..small.clone() };
    let mut out = Vec::new();
    out.push(throughput::run(&sqlite, &small).await?);
    out.push(throughput::run(&pg, &small).await?);
    out.push(throughput::run(&sqlite, &large).await?);
    let writes = throughput::ThroughputArgs { sessions: 1, jobs: 2000, writes: true, ..small.clone() };
    out.push(throughput::run(&sqlite, &writes).await?);
    out.push(throughput::run(&pg, &throughput::ThroughputArgs { jobs: 1000, ..writes.clone() }).await?);
    out.push(big_answer::run(&sqlite, &big_answer::BigAnswerArgs { mib: 64 }).await?);
    let claims = claim_scale::ClaimScaleArgs {
        small_jobs: 1_000,
        small_companies: 10,
        large_jobs: 1_000_000,
        large_companies: 10_000,
        measured: 8,
    };
    out.push(claim_scale::run(&sqlite, &claims).await?);
    let flood = login_flood::LoginFloodArgs { logins: 50, workers: 4, pace_ms: 2, seconds: 8 };
    out.push(login_flood::run(&sqlite, &flood).await?);
    let console = console::ConsoleArgs {
        companies: 10_000,
        jobs: 1_000_000,
        events_per_company: 20,
        sessions_per_company: 5,
        requests: 50,
        skip_missing: false,
    };
    out.push(console::run(&sqlite, &console).await?);
    Ok(json!(out))
}
