//! The server under test: spawned on a fresh database (a temporary SQLite
//! file, or a new Postgres database dropped afterwards), or an already
//! running one reached by URL.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use sqlx::Connection;

use crate::http::Conn;

/// Where the server comes from.
#[derive(Clone, Debug, clap::Args)]
pub struct TargetArgs {
    /// Benchmark a running server at this address (`127.0.0.1:8080`) instead
    /// of spawning one; needs --database-url for the set-up.
    #[arg(long)]
    pub url: Option<String>,
    /// The running server's process id, to read its CPU time and peak RSS.
    #[arg(long)]
    pub pid: Option<u32>,
    /// The qbwcd binary to spawn (default: `qbwcd` beside this program).
    #[arg(long)]
    pub qbwcd: Option<PathBuf>,
    /// Database backend of a spawned server: a temporary SQLite file, or a
    /// fresh database on the Postgres server of --postgres-url.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// Postgres server for --backend postgres (a database per run is
    /// created there and dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
    /// With --url: the database that server uses (for the set-up).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Extra environment for the spawned server (`QBWCD_DATABASE_MAX_CONNECTIONS=32`); repeatable.
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    pub server_env: Vec<String>,
    /// Keep the temporary directory (SQLite database, server.log) after the run.
    #[arg(long)]
    pub keep: bool,
}

/// Database backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// Postgres.
    Postgres,
}

/// A server to talk to, and what to clean up after it.
pub struct Server {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Its process, when known.
    pub pid: Option<u32>,
    /// Its database.
    pub database_url: String,
    child: Option<Child>,
    dir: PathBuf,
    keep: bool,
    drop_database: Option<(String, String)>,
}

static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Server {
    /// Prepares a fresh database (migrated) and returns its URL; the server
    /// is started afterwards with [`Server::start`], so the set-up can be
    /// written before it runs.
    pub async fn prepare(args: &TargetArgs) -> anyhow::Result<Server> {
        let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("qbwcd-bench-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if let Some(url) = &args.url {
            let database_url = args.database_url.clone().ok_or_else(|| anyhow!("--url needs --database-url"))?;
            let addr = url.trim_start_matches("http://").trim_end_matches('/').trim_end_matches("/qbwc").to_owned();
            return Ok(Server {
                addr,
                pid: args.pid,
                database_url,
                child: None,
                dir,
                keep: args.keep,
                drop_database: None,
            });
        }
        let (database_url, drop_database) = match args.backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.join("bench.db").display()), None),
            Backend::Postgres => {
                let name = format!("qbwcd_bench_{}_{run}", std::process::id());
                let mut admin = sqlx::PgConnection::connect(&args.postgres_url)
                    .await
                    .with_context(|| format!("cannot reach Postgres at {}", args.postgres_url))?;
                sqlx::query(&format!("create database {name}")).execute(&mut admin).await?;
                admin.close().await?;
                let mut url = url::Url::parse(&args.postgres_url)?;
                url.set_path(&name);
                (url.to_string(), Some((args.postgres_url.clone(), name)))
            }
        };
        Ok(Server { addr: String::new(), pid: None, database_url, child: None, dir, keep: args.keep, drop_database })
    }

    /// Spawns `qbwcd serve` on a free loopback port and waits until it is ready.
    pub async fn start(&mut self, args: &TargetArgs) -> anyhow::Result<()> {
        if args.url.is_some() {
            return Ok(());
        }
        let exe = match &args.qbwcd {
            Some(p) => p.clone(),
            None => std::env::current_exe()?.with_file_name("qbwcd"),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        self.addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(self.dir.join("server.log"))?;
        let mut cmd = Command::new(&exe);
        cmd.arg("serve")
            .env("QBWCD_DATABASE_URL", &self.database_url)
            .env("QBWCD_LISTEN", &self.addr)
            .env("QBWCD_PUBLIC_URL", format!("http://localhost:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for kv in &args.server_env {
            let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--server-env wants KEY=VALUE, got {kv}"))?;
            cmd.env(k, v);
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {}", exe.display()))?;
        self.pid = Some(child.id());
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait()).transpose()? {
                bail!("qbwcd exited during start-up ({status}):\n{}", self.log_tail());
            }
            if let Ok(mut c) = Conn::connect(&self.addr, "/qbwc").await {
                if c.get("/readyz").await.is_ok_and(|r| r.status == 200) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("qbwcd did not become ready within 60 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops a spawned server (SIGTERM, then kill) and removes its database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if child.try_wait()?.is_none() {
                child.kill()?;
            }
            child.wait()?;
        }
        if let Some((admin_url, name)) = self.drop_database.take().filter(|_| !self.keep) {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(&format!("drop database if exists {name} with (force)")).execute(&mut admin).await?;
            admin.close().await?;
        }
        if self.keep {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Ok(())
    }
}
