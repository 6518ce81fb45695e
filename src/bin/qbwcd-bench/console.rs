//! `console`: how fast the operator console's pages answer on a large
//! installation (10,000 companies, 1,000,000 jobs by default). The database
//! is seeded in bulk, a console admin is added with the CLI, the bench logs
//! in through the login form like a browser, then fetches each page one
//! request at a time and reports p50/p99 per page. The target is under
//! 50 ms per page.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::json;

use crate::console_seed::{seed, Shape};
use crate::server::{Backend, Server, TargetArgs};
use crate::stats::{print_table, Latencies};

/// The console admin the bench logs in as.
const ADMIN: &str = "bench";
/// Its password (12 characters or more, as the console requires).
const ADMIN_PASSWORD: &str = "bench-console-password";

/// Options of `console`.
#[derive(Clone, Debug, clap::Args)]
pub struct ConsoleArgs {
    /// Companies (each with one Web Connector user).
    #[arg(long, default_value_t = 10_000)]
    pub companies: usize,
    /// Jobs, spread evenly over the companies.
    #[arg(long, default_value_t = 1_000_000)]
    pub jobs: usize,
    /// Events per company.
    #[arg(long, default_value_t = 20)]
    pub events_per_company: usize,
    /// Closed sessions per company.
    #[arg(long, default_value_t = 5)]
    pub sessions_per_company: usize,
    /// Timed requests per page (after 3 untimed ones).
    #[arg(long, default_value_t = 50)]
    pub requests: usize,
    /// Report a page the server does not serve (404) as missing instead
    /// of failing the run (for a console whose pages are not all built).
    #[arg(long)]
    pub skip_missing: bool,
}

/// Runs the scenario on a fresh SQLite database.
pub async fn run(target: &TargetArgs, a: &ConsoleArgs) -> anyhow::Result<serde_json::Value> {
    if target.backend != Backend::Sqlite || target.url.is_some() {
        bail!("the console scenario seeds a fresh SQLite database: use --backend sqlite without --url");
    }
    let mut server = Server::prepare(target).await?;
    let result = measure(target, a, &mut server).await;
    server.stop().await?;
    result
}

async fn measure(target: &TargetArgs, a: &ConsoleArgs, server: &mut Server) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(a.companies > 0 && a.jobs >= a.companies * 10, "--jobs must be at least 10 per company");
    // Migrate through the library, as the server would on start.
    let store = qbwcd::store::SqlStore::connect(&server.database_url, &qbwcd::store::PoolOptions::default())
        .await
        .context("cannot open the database")?;
    store.migrate().await.context("cannot migrate the database")?;
    store.close().await;
    let hash = {
        let pw = secrecy::SecretString::from(crate::seed::PASSWORD.to_owned());
        tokio::task::spawn_blocking(move || qbwcd::auth::hash_password(&pw)).await??
    };
    let shape = Shape {
        companies: a.companies,
        jobs: a.jobs,
        events_per_company: a.events_per_company,
        sessions_per_company: a.sessions_per_company,
    };
    let t = Instant::now();
    let seeded = seed(&server.database_url, shape, &hash).await?;
    let seed_secs = t.elapsed().as_secs_f64();
    eprintln!("  seeded {} companies and {} jobs in {seed_secs:.1} s", a.companies, a.jobs);
    add_admin(target, &server.database_url)?;
    server.start(target).await?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let cookie = login(&client, &base).await?;

    let slug = &seeded.troubled_slug;
    // Paging is by slug: the page after a slug deep in the list.
    let deep = format!("co{}", a.companies * 3 / 4);
    let pages: Vec<(&'static str, String, String)> = vec![
        ("/admin", "/admin".into(), "co1".into()),
        ("/admin?after=", format!("/admin?after={deep}"), "Company".into()),
        ("/admin?q=", "/admin?q=co4242".into(), "co4242".into()),
        ("/admin/companies/{slug}", format!("/admin/companies/{slug}"), slug.clone()),
        ("company ?state=failed", format!("/admin/companies/{slug}?state=failed"), "failed".into()),
        ("/admin/jobs/{failed}", format!("/admin/jobs/{}", seeded.failed_job), "3260".into()),
        ("/admin/jobs/{held}", format!("/admin/jobs/{}", seeded.held_job), "held".into()),
        ("/admin/events", "/admin/events".into(), "session".into()),
        ("events ?company=", format!("/admin/events?company={slug}"), slug.clone()),
        ("events ?kind=", "/admin/events?kind=job.failed".into(), "qbxml.3260".into()),
        ("events ?since=", "/admin/events?since=1h".into(), "session".into()),
        ("/admin/diagnostics?code=", "/admin/diagnostics?code=0x80040420".into(), "0x80040420".into()),
    ];
    let mut lat = Latencies::default();
    let mut missing = Vec::new();
    'pages: for (name, path, expect) in &pages {
        for i in 0..a.requests + 3 {
            let started = Instant::now();
            let resp = client.get(format!("{base}{path}")).header("Cookie", &cookie).send().await?;
            let status = resp.status();
            let body = resp.text().await?;
            let took = started.elapsed();
            if a.skip_missing && status == 404 && i == 0 {
                missing.push(*name);
                continue 'pages;
            }
            if status != 200 || !body.contains(expect.as_str()) {
                bail!("GET {path}: {status}, expected a page containing {expect:?}:\n{}", clip(&body));
            }
            if i >= 3 {
                lat.record(name, took);
            }
        }
    }
    let stats = lat.summary();
    println!(
        "console (SQLite): {} companies, {} jobs, {} events; each page {} times",
        a.companies,
        a.jobs,
        a.companies * a.events_per_company,
        a.requests
    );
    print_table(&stats);
    let over: Vec<_> = stats.iter().filter(|s| s.p99_ms >= 50.0).map(|s| s.method).collect();
    if over.is_empty() {
        println!("every page measured under 50 ms at p99");
    } else {
        println!("over 50 ms at p99: {}", over.join(", "));
    }
    if !missing.is_empty() {
        println!("not served (404), not measured: {}", missing.join(", "));
    }
    Ok(json!({
        "scenario": "console",
        "backend": target.backend,
        "companies": a.companies,
        "jobs": a.jobs,
        "seed_seconds": seed_secs,
        "pages": stats,
        "missing": missing,
    }))
}

/// Adds the bench's console admin with the CLI (`qbwcd admin add`).
fn add_admin(target: &TargetArgs, database_url: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let exe = match &target.qbwcd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("qbwcd"),
    };
    let mut child = std::process::Command::new(&exe)
        .args(["admin", "add", ADMIN, "--password-stdin"])
        .env("QBWCD_DATABASE_URL", database_url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?.write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("qbwcd admin add failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Logs in through the form as a browser does; returns the `Cookie`
/// header that carries the session.
async fn login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let page = client.get(format!("{base}/admin/login")).send().await?;
    let mut cookies = set_cookies(page.headers());
    let html = page.text().await?;
    let csrf = hidden(&html, "csrf").ok_or_else(|| anyhow!("the login page has no csrf field:\n{}", clip(&html)))?;
    let resp = client
        .post(format!("{base}/admin/login"))
        .header("Cookie", cookies.join("; "))
        .form(&[("name", ADMIN), ("password", ADMIN_PASSWORD), ("csrf", csrf.as_str())])
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    if !resp.status().is_redirection() {
        bail!("login answered {}: {}", resp.status(), clip(&resp.text().await.unwrap_or_default()));
    }
    cookies.extend(set_cookies(resp.headers()));
    Ok(cookies.join("; "))
}

/// `name=value` of each `Set-Cookie`.
fn set_cookies(h: &reqwest::header::HeaderMap) -> Vec<String> {
    h.get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

/// The value of the hidden input named `name`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + "value=\"".len();
    Some(tag[v..].split('"').next()?.to_owned())
}

fn clip(s: &str) -> String {
    s.chars().take(600).collect()
}
