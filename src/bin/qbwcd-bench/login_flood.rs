//! `login-flood`: many concurrent logins (argon2 each) while other Web
//! Connectors work; the p99 of those other calls, without and with the flood.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::connector::Connector;
use crate::qbxml::Answer;
use crate::seed::Seeder;
use crate::server::{Server, TargetArgs};
use crate::stats::{print_table, Latencies, MethodStats};

/// Options of `login-flood`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoginFloodArgs {
    /// Logins in flight at once during the flood (each a different user).
    #[arg(long, default_value_t = 50)]
    pub logins: usize,
    /// Working connectors whose calls are timed.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Pause between a worker's exchanges, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub pace_ms: u64,
    /// Length of each phase (without, then with the flood), in seconds.
    #[arg(long, default_value_t = 8)]
    pub seconds: u64,
}

/// Runs the scenario.
pub async fn run(target: &TargetArgs, a: &LoginFloodArgs) -> anyhow::Result<serde_json::Value> {
    let mut server = Server::prepare(target).await?;
    let result = measure(target, a, &mut server).await;
    server.stop().await?;
    result
}

async fn measure(target: &TargetArgs, a: &LoginFloodArgs, server: &mut Server) -> anyhow::Result<serde_json::Value> {
    let mut seeder = Seeder::connect(&server.database_url).await?;
    let run = crate::run_id();
    let workers = seeder.accounts(&format!("w{run}c"), a.workers, true).await?;
    // Flood users have nothing queued: each login is verified, then "none".
    let flooders = seeder.accounts(&format!("f{run}c"), a.logins, true).await?;
    let ids: Vec<i64> = workers.iter().map(|w| w.company_id).collect();
    // Enough work for both phases at any pace.
    let per_phase = (a.seconds * 1000 / a.pace_ms.max(1)) as usize + 1000;
    seeder.jobs(&ids, 2 * per_phase).await?;
    seeder.close().await;
    server.start(target).await?;
    let answer = Arc::new(Answer::new(1024));
    let (quiet, _) = work(server, &workers, &answer, a, None).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = tokio::task::JoinSet::new();
    for acc in flooders {
        let mut c = Connector::new(&server.addr, acc, answer.clone()).await?;
        let stop = stop.clone();
        flood.spawn(async move {
            let (mut logins, mut busy) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let r = c.authenticate().await?;
                // `busy`: the password queue was full and the login was
                // refused before any hashing (the bounded queue at work).
                match r[1].as_str() {
                    "none" => logins += 1,
                    "busy" => busy += 1,
                    other => anyhow::bail!("a flood login answered {other:?}"),
                }
            }
            Ok::<_, anyhow::Error>((logins, busy, c.latencies))
        });
    }
    let (flooded, worker_busy) = work(server, &workers, &answer, a, Some(stop.clone())).await?;
    let (mut logins, mut flood_busy) = (0, 0);
    let mut login_lat = Latencies::default();
    while let Some(j) = flood.join_next().await {
        let (n, b, l) = j??;
        logins += n;
        flood_busy += b;
        login_lat.merge(l);
    }
    let login_stats = login_lat.summary();
    let worst =
        |s: &[MethodStats]| s.iter().filter(|m| m.method != "authenticate").map(|m| m.p99_ms).fold(0.0, f64::max);
    println!(
        "login-flood ({:?}): {} workers pacing {} ms; {} logins at once",
        target.backend, a.workers, a.pace_ms, a.logins
    );
    println!("  without the flood (worst p99 of other calls {:.2} ms):", worst(&quiet));
    print_table(&quiet);
    println!(
        "  with the flood: {logins} logins and {flood_busy} answered busy in {} s; the workers' own logins \
         answered busy {worker_busy} times (worst p99 of other calls {:.2} ms):",
        a.seconds,
        worst(&flooded)
    );
    print_table(&flooded);
    print_table(&login_stats);
    Ok(json!({
        "scenario": "login-flood",
        "backend": target.backend,
        "logins_in_flight": a.logins,
        "logins": logins,
        "flood_busy": flood_busy,
        "worker_busy": worker_busy,
        "quiet": quiet,
        "flooded": flooded,
        "flood_logins": login_stats,
        "worst_other_p99_ms_quiet": worst(&quiet),
        "worst_other_p99_ms_flooded": worst(&flooded),
    }))
}

/// Runs the workers for one phase (plus a serverVersion prober), then
/// raises `stop` for the flood. Returns the latencies and how often the
/// workers' logins answered `busy` (each retried after 100 ms, as the Web
/// Connector tries again).
async fn work(
    server: &Server,
    workers: &[crate::seed::Account],
    answer: &Arc<Answer>,
    a: &LoginFloodArgs,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<(Vec<MethodStats>, u64)> {
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut set = tokio::task::JoinSet::new();
    for acc in workers {
        let mut c = Connector::new(&server.addr, acc.clone(), answer.clone()).await?;
        c.pace = Some(Duration::from_millis(a.pace_ms));
        c.deadline = Some(deadline);
        c.busy_retry = Some(Duration::from_millis(100));
        set.spawn(async move {
            c.session().await?;
            Ok::<_, anyhow::Error>((c.latencies, c.busy_answers))
        });
    }
    let mut prober = Connector::new(&server.addr, workers[0].clone(), answer.clone()).await?;
    set.spawn(async move {
        while Instant::now() < deadline {
            prober.server_version().await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok((prober.latencies, 0))
    });
    let (mut lat, mut busy) = (Latencies::default(), 0);
    while let Some(j) = set.join_next().await {
        let (l, b) = j??;
        lat.merge(l);
        busy += b;
    }
    if let Some(s) = stop {
        s.store(true, Ordering::Relaxed);
    }
    Ok((lat.summary(), busy))
}
