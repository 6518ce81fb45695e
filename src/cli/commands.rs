//! What each subcommand does.

use std::io::{IsTerminal, Read};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use secrecy::{ExposeSecret, SecretString};

use super::output::TextTable;
use super::{
    AdminCommand, Cli, Command, CompanyCommand, EventsArgs, EventsCommand, JobsCommand, TokenCommand, UserCommand,
};
use crate::app::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::diagnostics::catalog;
use crate::queue::{Job, JobCursor, JobFilter, JobState};
use crate::store::{
    redact_url, AccountStore, Backend, CompanyChanges, EventFilter, EventStore, JobStore, NewToken, NewUser, OpsStore,
    PoolOptions, SqlStore, StoreError, TokenStore, WebhookStore,
};
use crate::submit::{submit, SubmitOptions};
use crate::types::{CompanySlug, EventId, JobId, Username};

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
        Command::Qbxml(c) => super::qbxml::run(c),
        Command::Serve { .. } => serve(settings).await,
        Command::Migrate => {
            let store = open_and_migrate(&settings, CLI_CONNECT_TIMEOUT).await?;
            crate::outln!("database {} is migrated", redact_url(&settings.database_url))?;
            store.close().await;
            Ok(())
        }
        Command::Company(c) => company(&open(&settings).await?, &settings, c).await,
        Command::User(c) => user(&open(&settings).await?, &settings, c).await,
        Command::Enqueue { slug, file, json, on_error, no_validate, priority, idempotency_key, depends_on } => {
            let store = open(&settings).await?;
            let company = find_company(&store, &slug).await?;
            let reported = crate::submit::reported_version(&company);
            let (text, from_json) = match &json {
                Some(path) => {
                    (super::qbxml_convert::json_file_to_qbxml(path, reported, on_error.as_deref(), !no_validate)?, true)
                }
                None => (read_input(file.as_deref())?, false),
            };
            let depends_on = depends_on.iter().map(|d| parse_job_id(d)).collect::<anyhow::Result<Vec<_>>>()?;
            let skip_validation = from_json || no_validate;
            let opts = SubmitOptions { priority, idempotency_key, depends_on, webhook_url: None, skip_validation };
            let now = SystemClock.now();
            let enq = submit(&store, &company, &text, opts, settings.job_max_bytes, settings.max_attempts, now)
                .await
                .map_err(|e| match e {
                crate::submit::SubmitError::Schema(invalid) => super::qbxml_convert::invalid_error(&invalid),
                other => other.into(),
            })?;
            for w in crate::qbxml::convert::qbxml_warnings(&enq.job().request) {
                eprintln!("warning: {}: {} ({})", w.path, w.message, w.code);
            }
            let job = enq.job();
            if matches!(enq, crate::queue::Enqueued::Existing(_)) {
                eprintln!(
                    "job {} was queued before with this idempotency key and body; nothing new was queued",
                    job.id
                );
            }
            crate::outln!("{}", job.id)?;
            Ok(())
        }
        Command::Jobs(c) => jobs(&open(&settings).await?, c).await,
        Command::Token(c) => token(&open(&settings).await?, c).await,
        Command::Admin(c) => admin(&open(&settings).await?, c).await,
        Command::Events(a) => events(&open(&settings).await?, a).await,
        Command::Doctor => super::doctor::run(&settings).await,
        Command::Qwc { username, output, link, reset_password } => {
            super::qwc_file::run(&open(&settings).await?, &settings, &username, output.as_deref(), link, reset_password)
                .await
        }
        Command::Link(c) => super::links::run(&open(&settings).await?, c).await,
        Command::Diagnose { file, json } => super::diagnose::run(&file, json),
    }
}

/// How long a command other than `serve` waits for a Postgres server: long
/// enough for a server across a network, short enough that a wrong port is
/// reported at once rather than after the pool's ten seconds. (On SQLite
/// the same setting is how long a write waits for the lock, which the
/// server beside a command may hold a while: there the default stays.)
const CLI_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens the database for a command that reads or changes it. It must exist
/// and have exactly the schema this build expects: only `serve` and
/// `migrate` create or migrate one ([`open_and_migrate`]), so a command run
/// from another folder does not create an empty `qbwcd.db`, and a newer
/// binary's `jobs list` does not upgrade a production database.
pub(super) async fn open(settings: &Settings) -> anyhow::Result<SqlStore> {
    let store = connect(settings, false, CLI_CONNECT_TIMEOUT).await?;
    let shown = redact_url(&settings.database_url);
    let status = store.schema_status().await;
    match status {
        Ok(s) if s.is_exact() => Ok(store),
        Ok(s) => {
            store.close().await;
            bail!("{shown}: {}", s.describe())
        }
        Err(e) => {
            store.close().await;
            bail!("{shown}: cannot read the schema version: {e}")
        }
    }
}

/// Opens the database, creating a missing SQLite file, and applies the
/// migrations this build has; refuses one a newer qbwcd migrated.
async fn open_and_migrate(settings: &Settings, timeout: Duration) -> anyhow::Result<SqlStore> {
    let store = connect(settings, true, timeout).await?;
    let shown = redact_url(&settings.database_url);
    // sqlx's own refusal ("migration N was previously applied but is
    // missing") does not say what to do about it.
    let refusal = match store.schema_status().await {
        Ok(s) if s.is_newer() => Some(format!("{shown}: {}", s.describe())),
        Ok(_) => store.migrate().await.err().map(|e| format!("{shown}: {e}")),
        Err(e) => Some(format!("{shown}: cannot read the schema version: {e}")),
    };
    if let Some(r) = refusal {
        store.close().await;
        bail!(r);
    }
    Ok(store)
}

/// Connects; a missing SQLite file is created only when `create` is set,
/// and otherwise reported with what to run.
async fn connect(settings: &Settings, create: bool, timeout: Duration) -> anyhow::Result<SqlStore> {
    let url = &settings.database_url;
    let shown = redact_url(url);
    if !create {
        if let Some(path) = super::doctor::sqlite_path(url).filter(|p| !p.exists()) {
            bail!(
                "there is no database at {} ({shown}); create it with `qbwcd migrate`, or point --database-url \
                 (QBWCD_DATABASE_URL) at the existing one",
                path.display()
            );
        }
    }
    let acquire_timeout = match Backend::of_url(url) {
        Some(Backend::Postgres) => timeout,
        _ => PoolOptions::default().acquire_timeout,
    };
    let opts = PoolOptions { max_connections: settings.database_max_connections, acquire_timeout };
    SqlStore::connect(url, &opts).await.map_err(|e| match e {
        // Already says where and why (unreachable, closed, :memory:).
        StoreError::Unavailable(_) => anyhow!(e),
        e => anyhow!("{shown}: {e}"),
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = open_and_migrate(&settings, PoolOptions::default().acquire_timeout).await?;
    if let Some((path, mode)) = crate::store::sqlite_readable_by_others(&settings.database_url) {
        tracing::warn!(
            path = %path.display(),
            mode,
            "the SQLite database can be read by other users; chmod 600 it (and its -wal and -shm files)"
        );
    }
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
    let metrics = match &settings.metrics_listen {
        Some(m) => Some(
            tokio::net::TcpListener::bind(m).await.with_context(|| format!("cannot listen on {m} (metrics_listen)"))?,
        ),
        None => None,
    };
    tracing::info!(listen = %addr, database = %redact_url(&settings.database_url), public_url = %settings.public_url, "qbwcd is serving; point the Web Connector at {}/qbwc", settings.public_url.trim_end_matches('/'));
    let store = Arc::new(store);
    let state = AppState::new(store.clone(), Arc::new(settings), Arc::new(SystemClock))?;
    // One server per process here: let `metrics::counter!` anywhere record into /metrics.
    state.metrics.install_global();
    let served = app::serve_all(app::Listeners { plain: Some(listener), tls, metrics }, state, shutdown_signal()).await;
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

async fn company(store: &SqlStore, settings: &Settings, cmd: CompanyCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        CompanyCommand::Add { slug, name, file_path, webhook } => {
            let slug = CompanySlug::parse(&slug)?;
            let webhook_url =
                crate::api::checked_webhook(settings, webhook.as_deref()).await.map_err(|e| anyhow!(e.message))?;
            let new = crate::api::new_company(slug, name.as_deref(), file_path.as_deref(), webhook_url);
            let c = store.create_company(new, now).await?;
            crate::outln!("company {} added (FileID {{{}}})", c.slug, c.file_id)?;
        }
        CompanyCommand::List { json } => {
            let list = store.list_companies().await?;
            if json {
                super::output::json(&list)?;
            } else {
                let mut t = TextTable::new(&["SLUG", "NAME", "ENABLED", "QBXML", "LAST SEEN", "FILE"]);
                for c in list {
                    t.row([
                        c.slug.to_string(),
                        c.name,
                        c.disabled_at.is_none().to_string(),
                        c.qbxml_version.unwrap_or_else(|| "-".into()),
                        when(c.last_seen_at),
                        c.file_path.unwrap_or_else(|| "(the open file)".into()),
                    ]);
                }
                t.print("no companies; add one with qbwcd company add SLUG")?;
            }
        }
        CompanyCommand::Show { slug, json } => {
            let c = find_company(store, &slug).await?;
            let users = store.company_users(c.id).await?;
            let v = crate::api::company_view(store, &settings.qwc, c, now).await?;
            if json {
                super::output::json(&v)?;
            } else {
                crate::outln!("company    {}", v.slug)?;
                crate::outln!("name       {}", v.name)?;
                crate::outln!("enabled    {}", disabled_text(v.disabled_at))?;
                crate::outln!("file       {}", v.file_path.as_deref().unwrap_or("(the file open in QuickBooks)"))?;
                crate::outln!("FileID     {}", v.file_id)?;
                crate::outln!("webhook    {}", v.webhook_url.as_deref().unwrap_or("-"))?;
                crate::outln!("qbXML      {}", v.qbxml_version.as_deref().unwrap_or("-"))?;
                crate::outln!("QuickBooks {}", v.qb_product.as_deref().unwrap_or("-"))?;
                crate::outln!("last seen  {}", when(v.last_seen_at))?;
                crate::outln!("created    {}", when(Some(v.created_at)))?;
                let names: Vec<String> = users.iter().map(|u| u.username.to_string()).collect();
                crate::outln!("users      {}", if names.is_empty() { "(none)".into() } else { names.join(", ") })?;
                if let Some(h) = &v.health {
                    let jobs: Vec<String> =
                        h.jobs.iter().filter(|(_, n)| **n > 0).map(|(s, n)| format!("{n} {s}")).collect();
                    crate::outln!("jobs       {}", if jobs.is_empty() { "(none)".into() } else { jobs.join(", ") })?;
                    crate::outln!("health     {}", h.status)?;
                    for p in &h.problems {
                        crate::outln!("  {}  {} ({})", p.code, p.title, p.last_detail)?;
                        if let Some(step) = p.steps.first() {
                            crate::outln!("    first step: {step}")?;
                        }
                    }
                }
            }
        }
        CompanyCommand::Update { slug, name, file_path, no_file_path, webhook, no_webhook } => {
            let c = find_company(store, &slug).await?;
            let or_none = |value: Option<String>, none: bool| if none { Some(None) } else { value.map(Some) };
            let (file_path, webhook) = (or_none(file_path, no_file_path), or_none(webhook, no_webhook));
            let edit = CompanyChanges {
                name: name.as_deref(),
                file_path: file_path.as_ref().map(Option::as_deref),
                webhook_url: webhook.as_ref().map(Option::as_deref),
                enabled: None,
            };
            if edit.name.is_none() && edit.file_path.is_none() && edit.webhook_url.is_none() {
                bail!("nothing to change: give --name, --file-path, --no-file-path, --webhook or --no-webhook");
            }
            let changes = crate::api::checked_changes(settings, edit).await.map_err(|e| anyhow!(e.message))?;
            store.update_company(c.id, &changes, now).await?;
            let c = find_company(store, &slug).await?;
            let hook = store.company_webhook(c.id).await?;
            crate::outln!(
                "company {} updated: name {:?}, file {}, webhook {}",
                c.slug,
                c.name,
                c.file_path.as_deref().unwrap_or("(the file open in QuickBooks)"),
                hook.as_deref().unwrap_or("-")
            )?;
        }
        CompanyCommand::Disable { slug } => {
            let c = find_company(store, &slug).await?;
            store.set_company_enabled(c.id, false, now).await?;
            crate::outln!("company {} disabled: its Web Connectors are refused; its jobs stay queued", c.slug)?;
        }
        CompanyCommand::Enable { slug } => {
            let c = find_company(store, &slug).await?;
            store.set_company_enabled(c.id, true, now).await?;
            crate::outln!("company {} enabled", c.slug)?;
        }
        CompanyCommand::Remove { slug } => {
            let c = find_company(store, &slug).await?;
            match store.remove_company(c.id).await? {
                Ok(r) => crate::outln!(
                    "company {} removed with {} user(s), {} session(s), {} finished job(s) and {} event(s)",
                    c.slug,
                    r.users,
                    r.sessions,
                    r.jobs,
                    r.events
                )?,
                Err(open) => bail!(
                    "company {} cannot be removed yet, it still has open jobs or tokens ({open}); cancel queued or \
                     held jobs (qbwcd jobs cancel ID), settle unknown ones (qbwcd jobs resolve ID) and revoke \
                     tokens limited to it (qbwcd token revoke NAME) first",
                    c.slug
                ),
            }
        }
    }
    Ok(())
}

fn disabled_text(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match at {
        None => "yes".into(),
        Some(t) => format!("no (disabled {})", when(Some(t))),
    }
}

/// The shortest Web Connector password accepted from stdin.
const USER_PASSWORD_MIN_CHARS: usize = 8;

/// A password from stdin (first line, at least `min_chars`), or a generated one.
fn password_input(from_stdin: bool, min_chars: usize) -> anyhow::Result<(SecretString, bool)> {
    if !from_stdin {
        return Ok((crate::auth::generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from stdin")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.chars().count() < min_chars {
        bail!("the password must be at least {min_chars} characters");
    }
    Ok((SecretString::from(pw), false))
}

async fn admin(store: &SqlStore, cmd: AdminCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        AdminCommand::Add { name, password_stdin } => {
            crate::admins::check_name(&name)?;
            let (password, generated) = password_input(password_stdin, crate::admins::MIN_PASSWORD_CHARS)?;
            let shown = password.expose_secret().to_owned();
            let a = crate::admins::add(store, &name, password, now).await?;
            crate::outln!("admin {} added; log in at /admin/login", a.name)?;
            if generated {
                crate::outln!("password (shown once): {shown}")?;
            }
        }
        AdminCommand::List { json } => {
            let list = crate::admins::list(store).await?;
            if json {
                super::output::json(&list)?;
            } else {
                let mut t = TextTable::new(&["ADMIN", "CREATED", "PASSWORD CHANGED", "LAST LOGIN"]);
                for a in list {
                    t.row([a.name, when(Some(a.created_at)), when(Some(a.password_changed_at)), when(a.last_login_at)]);
                }
                t.print("no console admins; add one with qbwcd admin add NAME")?;
            }
        }
        AdminCommand::Remove { name } => {
            crate::admins::remove(store, &name).await?;
            crate::outln!("admin {name} removed; its console sessions ended")?;
        }
        AdminCommand::Passwd { name, password_stdin } => {
            let (password, generated) = password_input(password_stdin, crate::admins::MIN_PASSWORD_CHARS)?;
            let shown = password.expose_secret().to_owned();
            crate::admins::passwd(store, &name, password, now).await?;
            crate::outln!("password of admin {name} changed; its console sessions ended")?;
            if generated {
                crate::outln!("new password (shown once): {shown}")?;
            }
        }
    }
    Ok(())
}

async fn hash(password: SecretString) -> anyhow::Result<String> {
    Ok(crate::auth::hash_password_off_runtime(password).await?)
}

async fn user(store: &SqlStore, settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        UserCommand::Add { username, company, password_stdin, run_every_minutes, run_every_seconds } => {
            let username = Username::parse(&username)?;
            let company = find_company(store, &company).await?;
            let schedule = crate::onboarding::check_schedule(run_every_minutes, run_every_seconds)?;
            let (password, generated) = password_input(password_stdin, USER_PASSWORD_MIN_CHARS)?;
            let shown = password.expose_secret().to_owned();
            let new = NewUser {
                username,
                company_id: company.id,
                password_hash: hash(password).await?,
                owner_id: uuid::Uuid::new_v4(),
            };
            let u = store.create_user(new, now).await?;
            super::qwc_file::set_schedule(store, &u.username, schedule, now).await?;
            crate::outln!("user {} added for company {}", u.username, company.slug)?;
            if generated {
                crate::outln!("password (shown once; type it into the Web Connector): {shown}")?;
            }
        }
        UserCommand::List { company, json } => {
            let company_id = match company {
                Some(slug) => Some(find_company(store, &slug).await?.id),
                None => None,
            };
            let mut list = Vec::new();
            for u in store.list_users().await?.into_iter().filter(|u| company_id.is_none_or(|id| u.company_id == id)) {
                list.push(crate::api::UserView::load(store, u, settings, now).await?);
            }
            if json {
                super::output::json(&list)?;
            } else {
                let mut t = TextTable::new(&["USER", "COMPANY", "ENABLED", "LAST SEEN", "EVERY", "STATUS"]);
                for u in list {
                    t.row([
                        u.username.to_string(),
                        u.company.to_string(),
                        u.enabled.to_string(),
                        when(u.last_seen_at),
                        every(u.expected_every_seconds),
                        user_status(&u, now),
                    ]);
                }
                t.print("no users; add one with qbwcd user add USER --company SLUG")?;
            }
        }
        UserCommand::Show { username, json } => {
            let u = find_user(store, &username).await?;
            let v = crate::api::UserView::load(store, u, settings, now).await?;
            if json {
                super::output::json(&v)?;
            } else {
                crate::outln!("user        {}", v.username)?;
                crate::outln!("company     {}{}", v.company, if v.company_enabled { "" } else { " (disabled)" })?;
                crate::outln!("enabled     {}", if v.enabled { "yes" } else { "no" })?;
                crate::outln!("status      {}", user_status(&v, now))?;
                crate::outln!("last seen   {}", when(v.last_seen_at))?;
                let own = match (v.run_every_minutes, v.run_every_seconds) {
                    (Some(m), _) => format!("its own: every {m} minute(s)"),
                    (_, Some(s)) => format!("its own: every {s} second(s)"),
                    _ => "the [qwc] setting".into(),
                };
                crate::outln!("schedule    {} ({own})", every(v.expected_every_seconds))?;
                crate::outln!("failures    {} within the lockout window", v.failed_logins)?;
                for l in &v.lockouts {
                    let locked =
                        l.locked_until.filter(|t| *t > now).map(|t| format!(", locked until {}", when(Some(t))));
                    crate::outln!(
                        "            {} from {}, the last at {}{}",
                        l.failures,
                        if l.address.is_empty() { "an unknown address" } else { &l.address },
                        when(Some(l.last_failure_at)),
                        locked.unwrap_or_default()
                    )?;
                }
                if let Some(t) = v.locked_until.filter(|t| *t > now) {
                    crate::outln!("locked      until {} (qbwcd user unlock {})", when(Some(t)), v.username)?;
                }
                crate::outln!("created     {}", when(Some(v.created_at)))?;
            }
        }
        UserCommand::Update { username, run_every_minutes, run_every_seconds, no_schedule } => {
            let username = Username::parse(&username)?;
            find_user(store, username.as_str()).await?;
            if run_every_minutes.is_none() && run_every_seconds.is_none() && !no_schedule {
                bail!("nothing to change: give --run-every-minutes, --run-every-seconds or --no-schedule");
            }
            let schedule = crate::onboarding::check_schedule(run_every_minutes, run_every_seconds)?;
            if no_schedule {
                store.set_user_schedule(&username, None, None, now).await?;
                crate::outln!(
                    "{username} follows the [qwc] schedule again; download its .qwc again (`qbwcd qwc {username}`) to apply it"
                )?;
            } else {
                super::qwc_file::set_schedule(store, &username, schedule, now).await?;
            }
        }
        UserCommand::Passwd { username, password_stdin } => {
            let username = Username::parse(&username)?;
            find_user(store, username.as_str()).await?;
            let (password, generated) = password_input(password_stdin, USER_PASSWORD_MIN_CHARS)?;
            let shown = password.expose_secret().to_owned();
            store.set_password(&username, &hash(password).await?, now).await?;
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
        UserCommand::Enable { username } => {
            let username = Username::parse(&username)?;
            store.set_user_enabled(&username, true, now).await?;
            crate::outln!("user {username} enabled")?;
        }
        UserCommand::Unlock { username } => {
            let username = Username::parse(&username)?;
            store.unlock_user(&username, true).await?;
            crate::outln!("user {username} unlocked; its failed logins are forgotten")?;
        }
        UserCommand::Remove { username } => {
            let username = Username::parse(&username)?;
            let r = store.remove_user(&username, now).await?;
            crate::outln!("user {username} removed with {} session(s)", r.sessions)?;
            if r.leases_released > 0 {
                crate::outln!("{} job(s) it held were released; reads are queued again", r.leases_released)?;
            }
            if r.writes_held > 0 {
                crate::outln!(
                    "{} write(s) whose answer was lost are held: only this user's Web Connector could have asked \
                     QuickBooks whether they were applied; check QuickBooks, then qbwcd jobs resolve ID \
                     (see qbwcd jobs list --state held)",
                    r.writes_held
                )?;
            }
        }
    }
    Ok(())
}

async fn find_user(store: &SqlStore, username: &str) -> anyhow::Result<crate::store::User> {
    let name = Username::parse(username)?;
    store.user(name.as_str()).await?.ok_or_else(|| anyhow!("no user {name}; see qbwcd user list"))
}

/// An interval for people: "15 min", "30 s".
fn every(seconds: u64) -> String {
    if seconds % 60 == 0 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

/// What is worth knowing about a user at a glance.
fn user_status(u: &crate::api::UserView, now: chrono::DateTime<chrono::Utc>) -> String {
    if u.locked_until.is_some_and(|t| t > now) {
        "locked".into()
    } else if !u.enabled {
        "disabled".into()
    } else if !u.company_enabled {
        "company disabled".into()
    } else if u.silent {
        "silent".into()
    } else if u.last_seen_at.is_none() {
        "never connected".into()
    } else {
        "ok".into()
    }
}

pub(super) fn read_input(file: Option<&std::path::Path>) -> anyhow::Result<String> {
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
        JobsCommand::List { company, state, limit, before, json } => {
            let company_id = match company {
                Some(slug) => Some(find_company(store, &slug).await?.id),
                None => None,
            };
            let state = state.map(|s| s.parse::<JobState>()).transpose().map_err(|e| anyhow!(e))?;
            let before = before.as_deref().map(JobCursor::parse).transpose().map_err(|e| anyhow!(e))?;
            let filter = JobFilter { company_id, state, before_seq: before.map(|c| c.0), limit: Some(limit) };
            let list = store.list_jobs(&filter).await?;
            let next_cursor = crate::api::page_cursor(&list, limit);
            if json {
                super::output::json(&serde_json::json!({ "jobs": list, "next_cursor": next_cursor }))?;
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
                if let Some(c) = next_cursor {
                    eprintln!("older jobs: qbwcd jobs list --before {c}");
                }
            }
        }
        JobsCommand::Show { id, json } => {
            let job = store.job(parse_job_id(&id)?).await?.ok_or_else(|| anyhow!("no job {id}"))?;
            let pages = if job.iterates { store.pages(job.id, job.attempt).await? } else { Vec::new() };
            let sent = crate::api::sent_request(store, &job).await?;
            if json {
                let mut v = serde_json::to_value(&job)?;
                v["request"] = sent.clone().into();
                v["submitted"] = job.request.clone().into();
                v["response"] = job.response.clone().into();
                if job.iterates {
                    v["pages"] = serde_json::to_value(&pages)?;
                }
                let company = store.company_by_id(job.company_id).await?;
                let reported = company.as_ref().and_then(crate::submit::reported_version);
                let result = crate::api::job_result(&job, job.iterates.then_some(pages.as_slice()), reported);
                if let Some(result) = result {
                    v["result"] = serde_json::from_str(result.get())?;
                }
                let warnings = crate::qbxml::convert::qbxml_warnings(&job.request);
                if !warnings.is_empty() {
                    v["warnings"] = serde_json::to_value(&warnings)?;
                }
                super::output::json(&v)?;
            } else {
                print_job(&job, sent.as_deref())?;
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

fn print_job(j: &Job, sent: Option<&str>) -> anyhow::Result<()> {
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
    if let Some(id) = &j.message_set_id {
        crate::outln!("message set {id}  (newMessageSetID)")?;
    }
    match sent {
        Some(r) => crate::outln!("request as sent ({} bytes)\n{r}", r.len())?,
        None if j.sent_at.is_some() => {
            crate::outln!("request    (sent; the version it was sent at is not known)\n{}", j.request)?
        }
        None => crate::outln!("request    (not sent yet)\n{}", j.request)?,
    }
    match &j.response {
        Some(r) => crate::outln!("response ({} bytes)\n{r}", r.len()),
        None if j.iterates => crate::outln!("response   in pages (below)"),
        None => crate::outln!("response   (none yet)"),
    }
}

/// `active`, `expired` or `revoked`.
fn token_status(t: &crate::store::ApiToken, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expired(now) {
        "expired"
    } else {
        "active"
    }
}

async fn token(store: &SqlStore, cmd: TokenCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        TokenCommand::Create { name, role, companies, expires_in } => {
            let name = crate::api::token_name(&name).map_err(|e| anyhow!(e))?;
            let company_ids = match companies.is_empty() {
                true => None,
                false => {
                    let mut ids = Vec::new();
                    for slug in &companies {
                        ids.push(find_company(store, slug).await?.id);
                    }
                    ids.sort_unstable();
                    ids.dedup();
                    Some(ids)
                }
            };
            let token = crate::api::generate_token();
            let new = NewToken {
                name: name.to_owned(),
                token_hash: crate::api::hash_token(&token),
                role,
                company_ids,
                expires_at: expires_in.map(|d| now + d),
            };
            let made = store.create_token(new, now).await?;
            let scope = if companies.is_empty() { "every company".to_owned() } else { companies.join(", ") };
            let until = made.expires_at.map(|t| format!(", until {}", when(Some(t)))).unwrap_or_default();
            eprintln!("token {name:?} created ({role}, {scope}{until}); it is shown once — store it now:");
            crate::outln!("{token}")?;
        }
        TokenCommand::List { json } => {
            let list = store.list_tokens().await?;
            let slugs: std::collections::HashMap<i64, String> =
                store.list_companies().await?.into_iter().map(|c| (c.id, c.slug.to_string())).collect();
            let scope = |ids: &Option<Vec<i64>>| -> Vec<String> {
                match ids {
                    None => Vec::new(),
                    Some(ids) => {
                        ids.iter().map(|id| slugs.get(id).cloned().unwrap_or_else(|| format!("#{id}"))).collect()
                    }
                }
            };
            if json {
                let rows: Vec<serde_json::Value> = list
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "name": t.name,
                            "role": t.role,
                            "companies": t.company_ids.as_ref().map(|_| scope(&t.company_ids)),
                            "expires_at": t.expires_at,
                            "created_at": t.created_at,
                            "last_used_at": t.last_used_at,
                            "revoked_at": t.revoked_at,
                            "status": token_status(t, now),
                        })
                    })
                    .collect();
                super::output::json(&rows)?;
            } else {
                let mut t = TextTable::new(&["NAME", "ROLE", "COMPANIES", "EXPIRES", "CREATED", "LAST USED", "STATUS"]);
                for tok in &list {
                    let companies = match &tok.company_ids {
                        None => "all".to_owned(),
                        Some(_) => scope(&tok.company_ids).join(","),
                    };
                    let expires = tok.expires_at.map(|at| when(Some(at))).unwrap_or_else(|| "never".into());
                    t.row([
                        tok.name.clone(),
                        tok.role.to_string(),
                        companies,
                        expires,
                        when(Some(tok.created_at)),
                        when(tok.last_used_at),
                        token_status(tok, now).to_owned(),
                    ]);
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

/// `events`: a page of the log, newest first, or `events show ID`.
async fn events(store: &SqlStore, args: EventsArgs) -> anyhow::Result<()> {
    if let Some(EventsCommand::Show { id, json }) = args.command {
        let id = EventId::parse(&id)?;
        let event = store.event(id).await?.ok_or_else(|| anyhow!("no event {id}; see qbwcd events"))?;
        let view = crate::api::EventView::of(event, true);
        return if json { super::output::json(&view) } else { print_event(&view) };
    }
    if !(1..=EventFilter::MAX_PAGE).contains(&args.limit) {
        bail!("--limit must be 1 to {}, got {}", EventFilter::MAX_PAGE, args.limit);
    }
    let company_id = match &args.company {
        Some(slug) => Some(find_company(store, slug).await?.id),
        None => None,
    };
    let since = args.since.as_deref().map(|s| crate::clock::parse_since(s, SystemClock.now())).transpose()?;
    let before = args.before.as_deref().map(EventId::parse).transpose()?;
    let kind = args.kind.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
    let filter = EventFilter { company_id, kind, since, before, limit: args.limit };
    let page = crate::api::event_page(store, filter).await?;
    if args.json {
        return super::output::json(&page);
    }
    let mut t = TextTable::new(&["ID", "TIME", "KIND", "CODE", "COMPANY", "USER", "ADDRESS", "JOB", "MESSAGE"]);
    for e in &page.events {
        t.row([
            e.reference.clone(),
            when(Some(e.at)),
            e.kind.clone(),
            dash(e.code.as_deref()),
            dash(e.company.as_deref()),
            dash(e.user.as_deref()),
            dash(e.address.as_deref()),
            e.job_id.map_or_else(|| "-".to_owned(), |j| j.to_string()),
            truncate(&e.message, 70),
        ]);
    }
    t.print("no events")?;
    if let Some(cursor) = &page.next_cursor {
        eprintln!("older events: add --before {cursor}");
    }
    Ok(())
}

fn dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_owned()
}

fn print_event(e: &crate::api::EventView) -> anyhow::Result<()> {
    crate::outln!("event      {}", e.reference)?;
    crate::outln!("time       {}", e.at)?;
    crate::outln!("kind       {}", e.kind)?;
    crate::outln!("company    {}", dash(e.company.as_deref()))?;
    crate::outln!("user       {}", dash(e.user.as_deref()))?;
    crate::outln!("address    {}", dash(e.address.as_deref()))?;
    if let Some(j) = e.job_id {
        crate::outln!("job        {j}  (qbwcd jobs show {j})")?;
    }
    crate::outln!("message    {}", e.message)?;
    if let Some(f) = &e.diagnostic {
        crate::outln!("diagnostic {}  {}  (qbwcd explain {})", f.code, f.entry.title, f.code)?;
        for (i, step) in f.entry.steps.iter().enumerate() {
            crate::outln!("  {}. {step}", i + 1)?;
        }
    }
    Ok(())
}
