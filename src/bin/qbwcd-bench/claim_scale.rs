//! `claim-scale`: does claiming stay O(log n)? The same sessions are timed
//! on a small queue and on a huge one (same jobs per company, far more
//! companies and jobs), each on a fresh database.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::connector::Connector;
use crate::qbxml::Answer;
use crate::seed::Seeder;
use crate::server::{Server, TargetArgs};
use crate::stats::{print_table, Latencies, MethodStats};

/// Options of `claim-scale`.
#[derive(Clone, Debug, clap::Args)]
pub struct ClaimScaleArgs {
    /// Queued jobs in the small phase.
    #[arg(long, default_value_t = 1_000)]
    pub small_jobs: usize,
    /// Companies in the small phase.
    #[arg(long, default_value_t = 10)]
    pub small_companies: usize,
    /// Queued jobs in the large phase.
    #[arg(long, default_value_t = 1_000_000)]
    pub large_jobs: usize,
    /// Companies in the large phase.
    #[arg(long, default_value_t = 10_000)]
    pub large_companies: usize,
    /// Companies whose queues are drained (and timed) in each phase, by as
    /// many connectors at once.
    #[arg(long, default_value_t = 8)]
    pub measured: usize,
}

struct Phase {
    jobs: usize,
    sendrequest: MethodStats,
    exchange_rate: f64,
    stats: Vec<MethodStats>,
}

/// Runs both phases.
pub async fn run(target: &TargetArgs, a: &ClaimScaleArgs) -> anyhow::Result<serde_json::Value> {
    let small = phase(target, a, a.small_jobs, a.small_companies).await?;
    let large = phase(target, a, a.large_jobs, a.large_companies).await?;
    let ratio50 = large.sendrequest.p50_ms / small.sendrequest.p50_ms;
    let ratio99 = large.sendrequest.p99_ms / small.sendrequest.p99_ms;
    println!(
        "claim-scale ({:?}): sendRequestXML (the claim) p50 {:.3} ms at {} jobs vs {:.3} ms at {} jobs = {ratio50:.2}x; p99 {ratio99:.2}x",
        target.backend, small.sendrequest.p50_ms, small.jobs, large.sendrequest.p50_ms, large.jobs
    );
    for p in [&small, &large] {
        println!("  {} queued jobs: {:.0} exchanges/s", p.jobs, p.exchange_rate);
        print_table(&p.stats);
    }
    Ok(json!({
        "scenario": "claim-scale",
        "backend": target.backend,
        "small": {"jobs": small.jobs, "exchanges_per_second": small.exchange_rate, "latency": small.stats},
        "large": {"jobs": large.jobs, "exchanges_per_second": large.exchange_rate, "latency": large.stats},
        "send_request_p50_ratio": ratio50,
        "send_request_p99_ratio": ratio99,
    }))
}

async fn phase(target: &TargetArgs, a: &ClaimScaleArgs, jobs: usize, companies: usize) -> anyhow::Result<Phase> {
    let mut server = Server::prepare(target).await?;
    let result = measure(target, a, jobs, companies, &mut server).await;
    server.stop().await?;
    result
}

async fn measure(
    target: &TargetArgs,
    a: &ClaimScaleArgs,
    jobs: usize,
    companies: usize,
    server: &mut Server,
) -> anyhow::Result<Phase> {
    anyhow::ensure!(a.measured <= companies, "--measured must not exceed the companies of a phase");
    let mut seeder = Seeder::connect(&server.database_url).await?;
    let prefix = format!("s{}c", crate::run_id());
    // Users only for the measured companies; the others just hold jobs.
    let mut accounts = seeder.accounts(&prefix, a.measured, true).await?;
    accounts.extend(seeder.accounts(&format!("{prefix}x"), companies - a.measured, false).await?);
    let ids: Vec<i64> = accounts.iter().map(|x| x.company_id).collect();
    let t = Instant::now();
    let per_company = jobs / companies;
    seeder.jobs(&ids, per_company).await?;
    eprintln!(
        "  seeded {} jobs over {companies} companies in {:.1} s",
        per_company * companies,
        t.elapsed().as_secs_f64()
    );
    seeder.close().await;
    server.start(target).await?;
    let answer = Arc::new(Answer::new(1024));
    let mut set = tokio::task::JoinSet::new();
    let t0 = Instant::now();
    for acc in accounts.iter().take(a.measured) {
        let mut c = Connector::new(&server.addr, acc.clone(), answer.clone()).await?;
        set.spawn(async move {
            let r = c.session().await;
            (c, r)
        });
    }
    let mut lat = Latencies::default();
    let mut exchanges = 0;
    while let Some(j) = set.join_next().await {
        let (c, r) = j?;
        r?;
        exchanges += c.exchanges;
        lat.merge(c.latencies);
    }
    let rate = exchanges as f64 / t0.elapsed().as_secs_f64();
    let stats = lat.summary();
    let sendrequest = stats
        .iter()
        .find(|s| s.method == "sendRequestXML")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no sendRequestXML measured"))?;
    Ok(Phase { jobs: per_company * companies, sendrequest, exchange_rate: rate, stats })
}
