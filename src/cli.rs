//! The command line: the same operations the API offers, for people at a
//! shell. Every command takes `--config` and `--database-url`.

mod commands;
mod diagnose;
mod doctor;
mod links;
pub mod output;
pub mod qbxml;
mod qbxml_convert;
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
        #[arg(conflicts_with = "json")]
        file: Option<PathBuf>,
        /// Queue JSON requests from FILE (- reads stdin) instead of qbXML:
        /// {"requests": […]}, {"request": {…}}, a bare array of requests, or
        /// one request {"CustomerAddRq": {…}}; written as qbXML in schema order.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// With --json: stopOnError (default), continueOnError or rollbackOnError.
        #[arg(long, requires = "json", value_name = "MODE")]
        on_error: Option<String>,
        /// Queue without checking the requests against the qbXML schema of the
        /// company's version (for request types or elements it lacks).
        #[arg(long)]
        no_validate: bool,
        /// Higher runs first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// A key unique per company: repeating it with the same qbXML, priority,
        /// dependencies prints the existing job; with others it is refused.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// A job that must be done first (repeatable).
        #[arg(long, value_name = "JOB_ID")]
        depends_on: Vec<String>,
    },
    /// Inspect and act on jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Read the event log, newest first: logins refused, connectors told
    /// to wait, sessions stopped by a problem… (`events show E14` for one).
    Events(EventsArgs),
    /// Manage API tokens (bearer tokens for /api/v1).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage console accounts: the people who log in at /admin with a
    /// password (API tokens never log in there).
    #[command(subcommand)]
    Admin(AdminCommand),
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
        /// With --link: the link's page gets a button that sets a new password and shows it once (the old
        /// password then stops working); opening the link changes nothing.
        #[arg(long, requires = "link")]
        reset_password: bool,
    },
    /// List and revoke onboarding links (made with `qbwcd qwc USER --link`).
    #[command(subcommand)]
    Link(LinkCommand),
    /// The qbXML schemas (13.0, 16.0): request types, field trees, JSON Schemas.
    #[command(subcommand)]
    Qbxml(qbxml::QbxmlCommand),
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
        /// Where its jobs without a webhook of their own report their final
        /// state (held to `webhook_allow_hosts`; private addresses refused).
        #[arg(long, value_name = "URL")]
        webhook: Option<String>,
    },
    /// List companies.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one company: its settings, users and jobs by state.
    Show {
        /// Company slug.
        slug: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Change a company's name, file path or webhook (nothing else changes).
    Update {
        /// Company slug.
        slug: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// The company file's full path on the QuickBooks PC; the Web Connector opens it.
        #[arg(long, value_name = "PATH", conflicts_with = "no_file_path")]
        file_path: Option<String>,
        /// Forget the file path: the Web Connector uses the file open in QuickBooks.
        #[arg(long)]
        no_file_path: bool,
        /// The webhook its jobs without their own report to.
        #[arg(long, value_name = "URL", conflicts_with = "no_webhook")]
        webhook: Option<String>,
        /// Remove the company's webhook.
        #[arg(long)]
        no_webhook: bool,
    },
    /// Disable a company: its Web Connectors are refused; its jobs stay queued.
    Disable {
        /// Company slug.
        slug: String,
    },
    /// Enable a disabled company again.
    Enable {
        /// Company slug.
        slug: String,
    },
    /// Remove a company with its users, sessions, finished jobs and events.
    /// Refused while any job is queued, sent, unknown or held.
    Remove {
        /// Company slug.
        slug: String,
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
        /// Only this company's users.
        #[arg(long, value_name = "SLUG")]
        company: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one user: company, last seen, schedule, silence, lockout.
    Show {
        /// User name.
        username: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's poll schedule; the password is never touched.
    Update {
        /// User name.
        username: String,
        /// Poll every N minutes (written into its .qwc; download it again to apply).
        #[arg(long, value_name = "N", group = "schedule")]
        run_every_minutes: Option<u32>,
        /// Poll every N seconds ("real time").
        #[arg(long, value_name = "N", group = "schedule")]
        run_every_seconds: Option<u32>,
        /// Drop the user's own schedule: the [qwc] setting applies.
        #[arg(long, group = "schedule")]
        no_schedule: bool,
    },
    /// Set a new password (generated unless --password-stdin) and clear any
    /// lockout; nothing else changes, and the .qwc file stays valid.
    Passwd {
        /// User name.
        username: String,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: its Web Connector is refused from now on.
    Disable {
        /// User name.
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// User name.
        username: String,
    },
    /// Clear a lockout after wrong passwords (the password stays).
    Unlock {
        /// User name.
        username: String,
    },
    /// Remove a user. Its open session ends: a read it holds goes back to
    /// the queue; its writes whose answer was lost (one in flight included)
    /// are held for a person to check in QuickBooks.
    Remove {
        /// User name.
        username: String,
    },
}

/// `events [show ID]`
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    /// Show one event instead of a list.
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    /// Only this company's events.
    #[arg(long, value_name = "SLUG")]
    pub company: Option<String>,
    /// Only events at or after this: a time (2026-05-01T12:00:00Z, 2026-05-01 12:00) or an age (30m, 2h, 7d).
    #[arg(long, value_name = "TIME|AGE")]
    pub since: Option<String>,
    /// Only events of this kind (auth.failed, session.busy, session.stopped, connection.error, …).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only events older than this one (the next page; 14 or E14).
    #[arg(long, value_name = "ID")]
    pub before: Option<String>,
    /// At most this many, 1–500.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: i64,
    /// JSON output (as GET /api/v1/events answers).
    #[arg(long)]
    pub json: bool,
}

/// `events show ID`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Show one event with its diagnostic's steps.
    Show {
        /// Event id or reference: 14 or E14 (as health and the Web Connector quote it).
        id: String,
        /// JSON output (as GET /api/v1/events/{id} answers).
        #[arg(long)]
        json: bool,
    },
}

/// `token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// A name for the application or person using it.
        name: String,
        /// What it may do: `read` (companies, jobs, health), `enqueue` (also
        /// enqueue, retry and cancel jobs) or `admin` (also companies,
        /// users, passwords, links, webhooks, resolving lost writes).
        #[arg(long, default_value = "enqueue")]
        role: crate::types::Role,
        /// Limit it to this company (repeat for several); other companies
        /// are invisible to it. Without it: every company.
        #[arg(long = "company", value_name = "SLUG")]
        companies: Vec<String>,
        /// It stops working after this long: e.g. 90d, 12h, 30m, 2w.
        /// Without it: never.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<chrono::Duration>,
    },
    /// List tokens: name, role, companies, expiry, last use (never the tokens).
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

/// `admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add a console admin; prints the password once unless --password-stdin.
    Add {
        /// Login name.
        name: String,
        /// Read the password (at least 12 characters) from stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List console admins: name, created, last login (never the passwords).
    List {
        /// JSON output (as GET /api/v1/admins answers).
        #[arg(long)]
        json: bool,
    },
    /// Remove a console admin; its console sessions end.
    Remove {
        /// Login name.
        name: String,
    },
    /// Set a new password (generated unless --password-stdin); the admin's
    /// console sessions end.
    Passwd {
        /// Login name.
        name: String,
        /// Read the password (at least 12 characters) from stdin.
        #[arg(long)]
        password_stdin: bool,
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
    /// List jobs, newest first.
    List {
        /// Only this company.
        #[arg(long)]
        company: Option<String>,
        /// Only this state: queued, sent, done, failed, unknown, cancelled, held.
        #[arg(long)]
        state: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Only jobs older than this: the cursor printed after a full page.
        #[arg(long, value_name = "CURSOR")]
        before: Option<String>,
        /// JSON output: {"jobs": [...], "next_cursor": ...}.
        #[arg(long)]
        json: bool,
    },
    /// Show one job: state, attempts, statuses, diagnostic, the request as
    /// sent (with its newMessageSetID) and the answer (with --json also as
    /// JSON, `result`, as GET /api/v1/jobs/{id} shows it).
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
    // The server's log is its output; another command's output is its
    // answer, and an info line (the SQLite writer stopping, say) is noise.
    let default_filter = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    crate::telemetry::init(cli.log_format, default_filter);
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

    /// The reset wording is the same in the help as everywhere else.
    #[test]
    fn the_reset_password_help_says_what_the_button_does() {
        let mut cmd = super::Cli::command();
        let qwc = cmd.find_subcommand_mut("qwc").expect("qwc");
        let arg = qwc.get_arguments().find(|a| a.get_id() == "reset_password").expect("--reset-password");
        let help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.ends_with(crate::onboarding::RESET_PASSWORD_WORDING), "{help}");
    }
}

/// A duration such as `90d`, `12h`, `30m`, `45s` or `2w`.
fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().map_err(|_| format!("{s:?}: expected a number and a unit, e.g. 90d, 12h, 30m"))?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h, d or w")),
    };
    if n <= 0 {
        return Err(format!("{s:?}: the duration must be above zero"));
    }
    n.checked_mul(seconds_per)
        .and_then(chrono::Duration::try_seconds)
        .filter(|d| *d <= chrono::Duration::days(100 * 365))
        .ok_or_else(|| format!("{s:?} is too long (at most 100 years)"))
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_with_their_unit_and_bad_ones_say_why() {
        assert_eq!(parse_duration("90d"), Ok(chrono::Duration::days(90)));
        assert_eq!(parse_duration("12h"), Ok(chrono::Duration::hours(12)));
        assert_eq!(parse_duration("2w"), Ok(chrono::Duration::weeks(2)));
        assert_eq!(parse_duration("45s"), Ok(chrono::Duration::seconds(45)));
        assert!(parse_duration("90").unwrap_err().contains("unit"));
        assert!(parse_duration("d").unwrap_err().contains("number"));
        assert!(parse_duration("0d").unwrap_err().contains("above zero"));
        assert!(parse_duration("99999999999999w").unwrap_err().contains("too long"));
    }
}
