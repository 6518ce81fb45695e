//! The command line: the same operations the API offers, for people at a
//! shell. Every command takes `--config` and `--database-url`.

mod commands;
mod diagnose;
mod doctor;
mod links;
pub mod output;
mod qwc_file;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

/// qbwcd — a QuickBooks Web Connector server with a durable per-company queue.
#[derive(Debug, Parser)]
#[command(name = "qbwcd", version, about, long_about = None)]
pub struct Cli {
    /// A TOML configuration file (see config.example.toml).
    #[arg(long, global = true, env = "QBWCD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database: sqlite://qbwcd.db (default) or postgres://user@host/db.
    #[arg(long, global = true, env = "QBWCD_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format (logs go to stderr).
    #[arg(long, global = true, env = "QBWCD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Web Connector endpoint (POST /qbwc) until Ctrl-C or SIGTERM.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "QBWCD_LISTEN", value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Create or upgrade the database schema (serve does this too).
    Migrate,
    /// Manage companies (QuickBooks company files).
    #[command(subcommand)]
    Company(CompanyCommand),
    /// Manage Web Connector users.
    #[command(subcommand)]
    User(UserCommand),
    /// Queue qbXML for a company; prints the job id.
    Enqueue {
        /// Company slug.
        slug: String,
        /// File with the qbXML (a whole document or bare …Rq elements); - or nothing reads stdin.
        file: Option<PathBuf>,
        /// Higher runs first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// A key unique per company: repeating it returns the existing job.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// A job that must be done first (repeatable).
        #[arg(long, value_name = "JOB_ID")]
        depends_on: Vec<String>,
    },
    /// Inspect and act on jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Manage API tokens (bearer tokens for /api/v1).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Explain an error code: 0x80040420, -2147220448, 3260, QBWC1012, auth.bad_password …
    Explain {
        /// The code, in any form.
        #[arg(allow_hyphen_values = true)]
        code: String,
    },
    /// Print a complete, commented configuration file.
    DefaultConfig,
    /// Check the deployment: database, schema, public_url, TLS files, the
    /// .qwc template, API tokens, the listen address. Exits 1 if any fails.
    Doctor,
    /// Write a user's .qwc file (stdout, or -o FILE), or with --link print an onboarding link to it.
    Qwc {
        /// User name.
        username: String,
        /// Write the file here instead of to stdout.
        #[arg(short, long, value_name = "FILE", conflicts_with = "link")]
        output: Option<PathBuf>,
        /// Print a signed, expiring URL that downloads the file without a token (needs link_secret).
        #[arg(long)]
        link: bool,
        /// With --link: the link page sets a new password on first use and shows it once.
        #[arg(long, requires = "link")]
        reset_password: bool,
    },
    /// List and revoke onboarding links (made with `qbwcd qwc USER --link`).
    #[command(subcommand)]
    Link(LinkCommand),
    /// Explain every error in a Web Connector log (QWCLog.txt): line, code, title, first steps.
    Diagnose {
        /// The log file; - reads stdin. UTF-8 or UTF-16 (as Windows saves it).
        file: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `company …`
#[derive(Debug, Subcommand)]
pub enum CompanyCommand {
    /// Add a company.
    Add {
        /// Slug: lower-case letters, digits, - and _.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
        /// The company file's full path on the QuickBooks PC; the Web Connector opens it.
        /// Without it, the Web Connector uses the file open in QuickBooks.
        #[arg(long, value_name = "PATH")]
        file_path: Option<String>,
    },
    /// List companies.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a Web Connector user for a company; prints the password once.
    Add {
        /// User name (what the Web Connector sends).
        username: String,
        /// The company this user serves.
        #[arg(long)]
        company: String,
        /// Read the password from stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// This user's own poll interval in minutes, written into its .qwc.
        #[arg(long, value_name = "N", conflicts_with = "run_every_seconds")]
        run_every_minutes: Option<u32>,
        /// This user's own poll interval in seconds ("real time"), written into its .qwc.
        #[arg(long, value_name = "N")]
        run_every_seconds: Option<u32>,
    },
    /// List users.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Set a new password (generated unless --password-stdin); the .qwc file stays valid.
    Passwd {
        /// User name.
        username: String,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// This user's own poll interval in minutes, written into its .qwc.
        #[arg(long, value_name = "N", conflicts_with = "run_every_seconds")]
        run_every_minutes: Option<u32>,
        /// This user's own poll interval in seconds ("real time"), written into its .qwc.
        #[arg(long, value_name = "N")]
        run_every_seconds: Option<u32>,
    },
    /// Disable a user: its Web Connector is refused from now on.
    Disable {
        /// User name.
        username: String,
    },
}

/// `token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// A name for the application or person using it.
        name: String,
    },
    /// List tokens (names and dates, never the tokens).
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: requests with it are refused from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// `link …`
#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// List onboarding links, newest first: id, user, state, uses, expiry.
    List {
        /// Only this user's links.
        username: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one link: its page, download and password reset are refused from now on.
    Revoke {
        /// The link's id (from `qbwcd link list`).
        id: String,
    },
}

/// `jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs in queue order.
    List {
        /// Only this company.
        #[arg(long)]
        company: Option<String>,
        /// Only this state: queued, sent, done, failed, unknown, cancelled, held.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one job: state, attempts, statuses, diagnostic and the answer.
    Show {
        /// Job id.
        id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Queue a failed or cancelled job again.
    Retry {
        /// Job id.
        id: String,
    },
    /// Cancel a queued or held job.
    Cancel {
        /// Job id.
        id: String,
    },
    /// Settle an `unknown` write after checking QuickBooks.
    Resolve {
        /// Job id.
        id: String,
        /// It is in QuickBooks: mark it done.
        #[arg(long, conflicts_with = "not_applied", required_unless_present = "not_applied")]
        applied: bool,
        /// It is not in QuickBooks: queue it again.
        #[arg(long)]
        not_applied: bool,
    },
}

/// Runs the command line; the exit code is 0 on success, 1 on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("qbwcd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<output::PipeClosed>() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qbwcd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
