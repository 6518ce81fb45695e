//! What each subcommand does.

use std::io::{IsTerminal, Read};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use secrecy::{ExposeSecret, SecretString};

use super::output::TextTable;
use super::{Cli, Command, CompanyCommand, JobsCommand, TokenCommand, UserCommand};
use crate::app::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::diagnostics::catalog;
use crate::queue::{submit, Job, JobFilter, JobState, SubmitOptions};
use crate::store::{redact_url, AccountStore, JobStore, NewCompany, NewUser, PoolOptions, SqlStore, TokenStore};
use crate::types::{CompanySlug, JobId, Username};

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = Vec::new();
    if let Some(url) = &cli.database_url {
        overrides.push(("database_url", url.clone()));
    }
    if let Command::Serve { listen: Some(l) } = &cli.command {
        overrides.push(("listen", l.clone()));
    }
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    match cli.command {
        Command::DefaultConfig => {
            crate::outln!("{}", include_str!("../../config.example.toml").trim_end())
        }
        Command::Explain { code } => explain(&code),
        Command::Serve { .. } => serve(settings).await,
        Command::Migrate => {
            let store = open(&settings).await?;
            crate::outln!("database {} is migrated", redact_url(&settings.database_url))?;
            store.close().await;
            Ok(())
        }
        Command::Company(c) => company(&open(&settings).await?, c).await,
        Command::User(c) => user(&open(&settings).await?, c).await,
        Command::Enqueue { slug, file, priority, idempotency_key, depends_on } => {
            let store = open(&settings).await?;
            let company = find_company(&store, &slug).await?;
            let text = read_input(file.as_deref())?;
            let depends_on = depends_on.iter().map(|d| parse_job_id(d)).collect::<anyhow::Result<Vec<_>>>()?;
            let opts = SubmitOptions { priority, idempotency_key, depends_on, webhook_url: None };
            let now = SystemClock.now();
            let enq = submit(&store, &company, &text, opts, settings.job_max_bytes, settings.max_attempts, now).await?;
            let job = enq.job();
            if matches!(enq, crate::queue::Enqueued::Existing(_)) {
                eprintln!("an earlier job has this idempotency key; nothing new was queued");
            }
            crate::outln!("{}", job.id)?;
            Ok(())
        }
        Command::Jobs(c) => jobs(&open(&settings).await?, c).await,
        Command::Token(c) => token(&open(&settings).await?, c).await,
        Command::Doctor => super::doctor::run(&settings).await,
        Command::Qwc { username, output, link, reset_password } => {
            super::qwc_file::run(&open(&settings).await?, &settings, &username, output.as_deref(), link, reset_password)
                .await
        }
        Command::Link(c) => super::links::run(&open(&settings).await?, c).await,
        Command::Diagnose { file, json } => super::diagnose::run(&file, json),
    }
}

pub(super) async fn open(settings: &Settings) -> anyhow::Result<SqlStore> {
    let opts = PoolOptions { max_connections: settings.database_max_connections, ..PoolOptions::default() };
    let store = SqlStore::connect(&settings.database_url, &opts)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&settings.database_url)))?;
    store.migrate().await.context("cannot migrate the database")?;
    Ok(store)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = open(&settings).await?;
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let tls = match (&settings.tls_listen, &settings.tls_cert_path, &settings.tls_key_path) {
        (None, None, None) => None,
        (Some(tls_listen), Some(cert), Some(key)) => {
            let l = tokio::net::TcpListener::bind(tls_listen)
                .await
                .with_context(|| format!("cannot listen on {tls_listen} (tls_listen)"))?;
            tracing::info!(tls_listen = %l.local_addr()?, "serving https with the built-in TLS");
            Some(app::TlsListener { listener: l, files: crate::tls::TlsFiles { cert: cert.clone(), key: key.clone() } })
        }
        _ => bail!("built-in TLS needs all of tls_listen, tls_cert_path and tls_key_path"),
    };
    tracing::info!(listen = %addr, database = %redact_url(&settings.database_url), public_url = %settings.public_url, "qbwcd is serving; point the Web Connector at {}/qbwc", settings.public_url.trim_end_matches('/'));
    let store = Arc::new(store);
    let state = AppState::new(store.clone(), Arc::new(settings), Arc::new(SystemClock))?;
    // One server per process here: let `metrics::counter!` anywhere record into /metrics.
    state.metrics.install_global();
    let served = app::serve_all(Some(listener), tls, state, shutdown_signal()).await;
    // Last: commits queued on the SQLite writer finish and the WAL is
    // checkpointed before the process exits.
    store.close().await;
    served
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing calls in flight");
}

fn explain(code: &str) -> anyhow::Result<()> {
    let finding = catalog().explain(code).ok_or_else(|| {
        anyhow!("{code:?} is not a code qbwcd knows; try the form shown in the Web Connector or the log")
    })?;
    let e = finding.entry;
    crate::outln!("{}  {}", finding.code, e.title)?;
    if finding.code != e.code {
        crate::outln!("(explained by the entry for {})", e.code)?;
    }
    crate::outln!(
        "severity: {}   fixed by: {}   {}",
        e.severity,
        e.fixer,
        if e.transient { "clears by itself" } else { "needs a person" }
    )?;
    if let Some(m) = &e.message {
        crate::outln!("QuickBooks says: {m}")?;
    }
    crate::outln!("\n{}\n", e.cause)?;
    for (i, step) in e.steps.iter().enumerate() {
        crate::outln!("{}. {step}", i + 1)?;
    }
    if !e.see_also.is_empty() {
        crate::outln!("\nsee also: {}", e.see_also.join(", "))?;
    }
    Ok(())
}

async fn find_company(store: &SqlStore, slug: &str) -> anyhow::Result<crate::store::Company> {
    let slug = CompanySlug::parse(slug)?;
    store.company(&slug).await?.ok_or_else(|| anyhow!("no company {slug}; see qbwcd company list"))
}

async fn company(store: &SqlStore, cmd: CompanyCommand) -> anyhow::Result<()> {
    match cmd {
        CompanyCommand::Add { slug, name, file_path } => {
            let slug = CompanySlug::parse(&slug)?;
            let new = NewCompany {
                name: name.unwrap_or_else(|| slug.to_string()),
                slug,
                file_path: file_path.filter(|p| !p.trim().is_empty()),
                file_id: uuid::Uuid::new_v4(),
            };
            let c = store.create_company(new, SystemClock.now()).await?;
            crate::outln!("company {} added (FileID {{{}}})", c.slug, c.file_id)?;
        }
        CompanyCommand::List { json } => {
            let list = store.list_companies().await?;
            if json {
                super::output::json(&list)?;
            } else {
                let mut t = TextTable::new(&["SLUG", "NAME", "QBXML", "LAST SEEN", "FILE"]);
                for c in list {
                    t.row([
                        c.slug.to_string(),
                        c.name,
                        c.qbxml_version.unwrap_or_else(|| "-".into()),
                        when(c.last_seen_at),
                        c.file_path.unwrap_or_else(|| "(the open file)".into()),
                    ]);
                }
                t.print("no companies; add one with qbwcd company add SLUG")?;
            }
        }
    }
    Ok(())
}

/// A password from stdin (first line), or a generated one.
fn password_input(from_stdin: bool) -> anyhow::Result<(SecretString, bool)> {
    if !from_stdin {
        return Ok((crate::auth::generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from stdin")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.len() < 8 {
        bail!("the password must be at least 8 characters");
    }
    Ok((SecretString::from(pw), false))
}

async fn hash(password: SecretString) -> anyhow::Result<String> {
    Ok(crate::auth::hash_password_off_runtime(password).await?)
}

async fn user(store: &SqlStore, cmd: UserCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        UserCommand::Add { username, company, password_stdin, run_every_minutes, run_every_seconds } => {
            let username = Username::parse(&username)?;
            let company = find_company(store, &company).await?;
            let (password, generated) = password_input(password_stdin)?;
            let shown = password.expose_secret().to_owned();
            let new = NewUser {
                username,
                company_id: company.id,
                password_hash: hash(password).await?,
                owner_id: uuid::Uuid::new_v4(),
            };
            let schedule = crate::onboarding::check_schedule(run_every_minutes, run_every_seconds)?;
            let u = store.create_user(new, now).await?;
            super::qwc_file::set_schedule(store, &u.username, schedule, now).await?;
            crate::outln!("user {} added for company {}", u.username, company.slug)?;
            if generated {
                crate::outln!("password (shown once; type it into the Web Connector): {shown}")?;
            }
        }
        UserCommand::List { json } => {
            let list = store.list_users().await?;
            if json {
                super::output::json(&list)?;
            } else {
                let mut t = TextTable::new(&["USER", "COMPANY", "ENABLED", "LAST SEEN"]);
                for u in list {
                    t.row([
                        u.username.to_string(),
                        u.company_slug.to_string(),
                        u.enabled.to_string(),
                        when(u.last_seen_at),
                    ]);
                }
                t.print("no users; add one with qbwcd user add USER --company SLUG")?;
            }
        }
        UserCommand::Passwd { username, password_stdin, run_every_minutes, run_every_seconds } => {
            let username = Username::parse(&username)?;
            let schedule = crate::onboarding::check_schedule(run_every_minutes, run_every_seconds)?;
            let (password, generated) = password_input(password_stdin)?;
            let shown = password.expose_secret().to_owned();
            store.set_password(&username, &hash(password).await?, now).await?;
            super::qwc_file::set_schedule(store, &username, schedule, now).await?;
            crate::outln!("password of {username} changed; the user's .qwc file stays valid")?;
            if generated {
                crate::outln!("new password (shown once; type it into the Web Connector): {shown}")?;
            }
        }
        UserCommand::Disable { username } => {
            let username = Username::parse(&username)?;
            store.set_user_enabled(&username, false, now).await?;
            crate::outln!("user {username} disabled")?;
        }
    }
    Ok(())
}

fn read_input(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        }
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!("reading qbXML from stdin; end with Ctrl-D");
            }
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read stdin")?;
            Ok(s)
        }
    }
}

fn parse_job_id(s: &str) -> anyhow::Result<JobId> {
    JobId::parse(s).map_err(|_| anyhow!("{s:?} is not a job id"))
}

async fn jobs(store: &SqlStore, cmd: JobsCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        JobsCommand::List { company, state, limit, json } => {
            let company_id = match company {
                Some(slug) => Some(find_company(store, &slug).await?.id),
                None => None,
            };
            let state = state.map(|s| s.parse::<JobState>()).transpose().map_err(|e| anyhow!(e))?;
            let list = store.list_jobs(&JobFilter { company_id, state, after_seq: None, limit: Some(limit) }).await?;
            if json {
                super::output::json(&list)?;
            } else {
                let mut t = TextTable::new(&["ID", "STATE", "PRI", "TRY", "CREATED", "REQUESTS", "DIAGNOSTIC"])
                    .right(2)
                    .right(3);
                for j in list {
                    t.row([
                        j.id.to_string(),
                        j.state.to_string(),
                        j.priority.to_string(),
                        j.attempt.to_string(),
                        j.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        truncate(&j.request_names, 30),
                        j.diagnostic.unwrap_or_default(),
                    ]);
                }
                t.print("no jobs")?;
            }
        }
        JobsCommand::Show { id, json } => {
            let job = store.job(parse_job_id(&id)?).await?.ok_or_else(|| anyhow!("no job {id}"))?;
            let pages = if job.iterates { store.pages(job.id, job.attempt).await? } else { Vec::new() };
            if json {
                let mut v = serde_json::to_value(&job)?;
                v["request"] = job.request.clone().into();
                v["response"] = job.response.clone().into();
                if job.iterates {
                    v["pages"] = serde_json::to_value(&pages)?;
                }
                super::output::json(&v)?;
            } else {
                print_job(&job)?;
                for p in &pages {
                    crate::outln!("page {} ({} bytes)\n{}", p.page, p.response.len(), p.response)?;
                }
            }
        }
        JobsCommand::Retry { id } => {
            let job = store.retry_job(parse_job_id(&id)?, now).await?;
            crate::outln!("job {} is {}", job.id, job.state)?;
        }
        JobsCommand::Cancel { id } => {
            let job = store.cancel_job(parse_job_id(&id)?, now).await?;
            crate::outln!("job {} is {}", job.id, job.state)?;
        }
        JobsCommand::Resolve { id, applied, not_applied } => {
            let applied = applied && !not_applied;
            let job = store.resolve_job(parse_job_id(&id)?, applied, now).await?;
            crate::outln!("job {} is {}", job.id, job.state)?;
        }
    }
    Ok(())
}

/// A time for a table cell, or "never".
fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "never".into())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn print_job(j: &Job) -> anyhow::Result<()> {
    crate::outln!("job        {}", j.id)?;
    crate::outln!("state      {}", j.state)?;
    crate::outln!("kind       {}", j.kind.as_str())?;
    crate::outln!("requests   {}", j.request_names)?;
    crate::outln!("priority   {}", j.priority)?;
    crate::outln!("attempts   {} of {}", j.attempt, j.max_attempts)?;
    crate::outln!("created    {}", j.created_at)?;
    if let Some(t) = j.sent_at {
        crate::outln!("sent       {t}")?;
    }
    if let Some(t) = j.completed_at {
        crate::outln!("completed  {t}")?;
    }
    if let Some(k) = &j.idempotency_key {
        crate::outln!("key        {k}")?;
    }
    if let Some(d) = &j.diagnostic {
        let title = catalog().explain(d).map(|f| f.entry.title.clone()).unwrap_or_default();
        crate::outln!("diagnostic {d}  {title}  (qbwcd explain {d})")?;
    }
    if let Some(e) = &j.error {
        crate::outln!("error      {e}")?;
    }
    if !j.statuses.is_empty() {
        crate::outln!("statuses")?;
        for s in &j.statuses {
            crate::outln!(
                "  {:<28} requestID={:<10} {} {} {}",
                s.name,
                s.request_id.as_deref().unwrap_or("-"),
                s.status_code,
                s.severity,
                s.message
            )?;
        }
    }
    match &j.response {
        Some(r) => crate::outln!("response ({} bytes)\n{r}", r.len()),
        None if j.iterates => crate::outln!("response   in pages (below)"),
        None => crate::outln!("response   (none yet)"),
    }
}

async fn token(store: &SqlStore, cmd: TokenCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        TokenCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                bail!("a token name must be 1 to 100 characters");
            }
            let token = crate::api::generate_token();
            store.create_token(name, &crate::api::hash_token(&token), now).await?;
            eprintln!("token {name:?} created; it is shown once — store it now:");
            crate::outln!("{token}")?;
        }
        TokenCommand::List { json } => {
            let list = store.list_tokens().await?;
            if json {
                super::output::json(&list)?;
            } else {
                let mut t = TextTable::new(&["NAME", "CREATED", "LAST USED", "STATUS"]);
                for tok in list {
                    let status = if tok.revoked_at.is_some() { "revoked" } else { "active" };
                    t.row([tok.name, when(Some(tok.created_at)), when(tok.last_used_at), status.to_owned()]);
                }
                t.print("no tokens; create one with qbwcd token create NAME")?;
            }
        }
        TokenCommand::Revoke { name } => {
            store.revoke_token(&name, now).await?;
            crate::outln!("token {name:?} revoked")?;
        }
    }
    Ok(())
}
