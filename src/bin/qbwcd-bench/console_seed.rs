//! The console scenario's set-up: a SQLite database shaped like a busy
//! installation, written in bulk (multi-row inserts in large transactions)
//! so ten thousand companies and a million jobs take seconds, not hours.
//!
//! Rows are written as the store writes them (timestamps as RFC 3339 text
//! in UTC, ids as 16-byte blobs) so the server reads them as its own:
//! companies in every status (connected lately, silent, never connected),
//! one Web Connector user each, a hundred jobs each (mostly done, some
//! queued, failed with a permission status, held for an operator), closed
//! sessions, events, and open problems.

use std::str::FromStr;

use anyhow::Context;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;

/// How big the installation is.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Companies (each with one user).
    pub companies: usize,
    /// Jobs, spread evenly over the companies.
    pub jobs: usize,
    /// Events per company.
    pub events_per_company: usize,
    /// Closed sessions per company.
    pub sessions_per_company: usize,
}

/// What the pages are timed on: names that exist in the seeded database.
#[derive(Clone, Debug)]
pub struct Seeded {
    /// A company with failed jobs, a held write and an open problem.
    pub troubled_slug: String,
    /// One of its failed jobs.
    pub failed_job: uuid::Uuid,
    /// Its held write.
    pub held_job: uuid::Uuid,
}

/// The timestamp text the store writes.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Every tenth company has failed jobs and an open permission problem;
/// every fiftieth also a write held for an operator.
fn troubled(c: usize) -> bool {
    c % 10 == 0
}

/// Inserts `rows` (each a list of SQL literals or `?` values) in
/// statements of at most `per` rows.
struct Bulk<'a> {
    head: &'a str,
    per: usize,
    values: Vec<String>,
    args: Vec<Arg>,
    arity: usize,
}

/// One bound value.
enum Arg {
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
    Null,
}

impl<'a> Bulk<'a> {
    fn new(head: &'a str, arity: usize) -> Self {
        // SQLite allows 32766 variables per statement.
        Bulk { head, per: 30_000 / arity, values: Vec::new(), args: Vec::new(), arity }
    }

    async fn row(&mut self, tx: &mut sqlx::SqliteConnection, args: Vec<Arg>) -> anyhow::Result<()> {
        debug_assert_eq!(args.len(), self.arity);
        self.values.push(format!("({})", vec!["?"; self.arity].join(",")));
        self.args.extend(args);
        if self.values.len() >= self.per {
            self.flush(tx).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, tx: &mut sqlx::SqliteConnection) -> anyhow::Result<()> {
        if self.values.is_empty() {
            return Ok(());
        }
        let sql = format!("{} values {}", self.head, self.values.join(","));
        let mut q = sqlx::query(&sql);
        for a in self.args.drain(..) {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
                Arg::Blob(b) => q.bind(b),
                Arg::Null => q.bind(Option::<String>::None),
            };
        }
        q.execute(&mut *tx).await.with_context(|| format!("bulk insert: {}", self.head))?;
        self.values.clear();
        Ok(())
    }
}

/// The ticket hash of company `c`'s session `s`.
fn ticket_of(c: usize, s: usize) -> String {
    format!("{:064x}", (c as u128) << 32 | s as u128)
}

fn uuid_blob() -> (uuid::Uuid, Arg) {
    let id = uuid::Uuid::new_v4();
    (id, Arg::Blob(id.as_bytes().to_vec()))
}

/// Seeds `shape` into the (migrated) SQLite database at `url`.
pub async fn seed(url: &str, shape: Shape, password_hash: &str) -> anyhow::Result<Seeded> {
    let opts = SqliteConnectOptions::from_str(url)?.busy_timeout(std::time::Duration::from_secs(30));
    let pool: SqlitePool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let base: i64 = sqlx::query_scalar("select coalesce(max(id), 0) from company").fetch_one(&mut *tx).await?;

    // Companies and their users, in every status the front page shows.
    let mut companies =
        Bulk::new("insert into company (id, slug, name, file_path, file_id, last_seen_at, created_at, updated_at)", 8);
    let mut users = Bulk::new(
        "insert into app_user (id, username, company_id, password_hash, enabled, owner_id, last_seen_at, created_at, updated_at)",
        9,
    );
    for c in 0..shape.companies {
        let id = base + c as i64 + 1;
        let last_seen = match c % 10 {
            // Never connected.
            8 => None,
            // Silent for days.
            9 => Some(now - Duration::days(3)),
            _ => Some(now - Duration::seconds(c as i64 % 600)),
        };
        let created = ts(now - Duration::days(30));
        let seen = last_seen.map_or(Arg::Null, |t| Arg::Text(ts(t)));
        companies
            .row(
                &mut tx,
                vec![
                    Arg::Int(id),
                    Arg::Text(format!("co{c}")),
                    Arg::Text(format!("Company {c} Ltd")),
                    Arg::Text(format!("C:\\QB\\Company {c}.QBW")),
                    uuid_blob().1,
                    seen,
                    Arg::Text(created.clone()),
                    Arg::Text(created.clone()),
                ],
            )
            .await?;
    }
    // Every company before any user: a user row names its company.
    companies.flush(&mut tx).await?;
    for c in 0..shape.companies {
        let id = base + c as i64 + 1;
        let seen2 = match c % 10 {
            8 => Arg::Null,
            9 => Arg::Text(ts(now - Duration::days(3))),
            _ => Arg::Text(ts(now - Duration::seconds(c as i64 % 600))),
        };
        let created = ts(now - Duration::days(30));
        users
            .row(
                &mut tx,
                vec![
                    Arg::Int(id),
                    Arg::Text(format!("co{c}pc")),
                    Arg::Int(id),
                    Arg::Text(password_hash.to_owned()),
                    Arg::Int(1),
                    uuid_blob().1,
                    seen2,
                    Arg::Text(created.clone()),
                    Arg::Text(created),
                ],
            )
            .await?;
    }
    users.flush(&mut tx).await?;
    tx.commit().await?;

    // Jobs, interleaved over the companies as independent producers add
    // them, oldest first (so seq order is time order).
    let per_company = shape.jobs / shape.companies.max(1);
    let total = per_company * shape.companies;
    let request = "<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\">\
                   <CustomerQueryRq requestID=\"1\"><MaxReturned>1</MaxReturned></CustomerQueryRq></QBXMLMsgsRq></QBXML>";
    let write = "<?xml version=\"1.0\"?><?qbxml version=\"13.0\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\">\
                 <InvoiceAddRq requestID=\"1\"><InvoiceAdd><CustomerRef><FullName>Acme</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq></QBXMLMsgsRq></QBXML>";
    let response = "<?xml version=\"1.0\" ?><QBXML><QBXMLMsgsRs><CustomerQueryRs requestID=\"1\" statusCode=\"0\" \
                    statusSeverity=\"Info\" statusMessage=\"Status OK\"><CustomerRet><ListID>80000001-1</ListID>\
                    <Name>Acme</Name></CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>";
    let failed_statuses = r#"[{"name":"InvoiceAddRs","request_id":"1","status_code":3260,"severity":"Error","message":"Insufficient permission level to perform this action."}]"#;
    let mut seeded = Seeded { troubled_slug: "co0".into(), failed_job: uuid::Uuid::nil(), held_job: uuid::Uuid::nil() };
    let mut jobs = Bulk::new(
        "insert into job (id, company_id, state, kind, priority, request, on_error, request_names, attempt, max_attempts, \
         response, statuses, diagnostic, error, hold_reason, created_at, updated_at, completed_at, iterates, ticket_hash)",
        20,
    );
    let start = now - Duration::days(7);
    let step = (7 * 24 * 3600 * 1000) / total.max(1) as i64;
    let mut tx = pool.begin().await?;
    for n in 0..total {
        let c = n % shape.companies;
        let j = n / shape.companies;
        let company = base + c as i64 + 1;
        let at = ts(start + Duration::milliseconds(step * n as i64));
        // The newest jobs of each company are still queued; a troubled
        // company's failed and held writes come just before them.
        let (state, kind) = if j + 3 >= per_company {
            ("queued", "read")
        } else if troubled(c) && j + 8 >= per_company {
            ("failed", "write")
        } else if c % 50 == 0 && j + 9 == per_company {
            ("held", "write")
        } else {
            ("done", "read")
        };
        let (id, id_arg) = uuid_blob();
        if c == 0 && state == "failed" {
            seeded.failed_job = id;
        }
        if c == 0 && state == "held" {
            seeded.held_job = id;
        }
        let write_like = kind == "write";
        let done = state == "done";
        let failed = state == "failed";
        jobs.row(
            &mut tx,
            vec![
                id_arg,
                Arg::Int(company),
                Arg::Text(state.into()),
                Arg::Text(kind.into()),
                Arg::Int(0),
                Arg::Text(if write_like { write } else { request }.into()),
                Arg::Text("stopOnError".into()),
                Arg::Text(if write_like { "InvoiceAddRq" } else { "CustomerQueryRq" }.into()),
                Arg::Int(i64::from(state != "queued")),
                Arg::Int(3),
                if done { Arg::Text(response.into()) } else { Arg::Null },
                Arg::Text(if failed { failed_statuses } else { "[]" }.into()),
                if failed {
                    Arg::Text("qbxml.3260".into())
                } else if state == "held" {
                    Arg::Text("session.answer_lost".into())
                } else {
                    Arg::Null
                },
                if failed {
                    Arg::Text("3260: Insufficient permission level to perform this action.".into())
                } else {
                    Arg::Null
                },
                if state == "held" { Arg::Text("operator".into()) } else { Arg::Null },
                Arg::Text(at.clone()),
                Arg::Text(at.clone()),
                if done || failed { Arg::Text(at) } else { Arg::Null },
                Arg::Int(0),
                // A finished job names the session that ran it, as the
                // timeline reads them.
                if (done || failed) && shape.sessions_per_company > 0 && c % 10 != 8 {
                    Arg::Text(ticket_of(c, j % shape.sessions_per_company))
                } else {
                    Arg::Null
                },
            ],
        )
        .await?;
        if n % 200_000 == 199_999 {
            jobs.flush(&mut tx).await?;
            tx.commit().await?;
            tx = pool.begin().await?;
        }
    }
    jobs.flush(&mut tx).await?;
    tx.commit().await?;

    // Closed sessions, events and open problems.
    let mut tx = pool.begin().await?;
    let mut sessions = Bulk::new(
        "insert into session (ticket_hash, user_id, company_id, state, company_file_name, qbxml_version, jobs_done, \
         jobs_failed, created_at, last_seen_at, expires_at, closed_at)",
        12,
    );
    let mut events = Bulk::new("insert into event (at, company_id, user_id, job_id, kind, code, message, address)", 8);
    for c in 0..shape.companies {
        let id = base + c as i64 + 1;
        if c % 10 == 8 {
            continue; // never connected: no sessions, no events
        }
        for s in 0..shape.sessions_per_company {
            let at = now - Duration::minutes((s * 30 + c % 30) as i64 + 60);
            sessions
                .row(
                    &mut tx,
                    vec![
                        Arg::Text(ticket_of(c, s)),
                        Arg::Int(id),
                        Arg::Int(id),
                        Arg::Text("closed".into()),
                        Arg::Text(format!("C:\\QB\\Company {c}.QBW")),
                        Arg::Text("13.0".into()),
                        Arg::Int(20),
                        Arg::Int(i64::from(troubled(c))),
                        Arg::Text(ts(at)),
                        Arg::Text(ts(at + Duration::seconds(40))),
                        Arg::Text(ts(at + Duration::minutes(10))),
                        Arg::Text(ts(at + Duration::seconds(40))),
                    ],
                )
                .await?;
        }
        for e in 0..shape.events_per_company {
            let at = now - Duration::minutes((e * 7 + c % 7) as i64);
            let (kind, code, message) = match e % 4 {
                0 if troubled(c) => {
                    ("job.failed", Some("qbxml.3260"), "InvoiceAddRq: 3260 Insufficient permission level")
                }
                0 => ("session.opened", None, "session opened"),
                1 => ("session.closed", None, "session closed: 20 done"),
                2 => ("job.done", None, "CustomerQueryRq done"),
                _ => ("auth.ok", None, "authenticated"),
            };
            events
                .row(
                    &mut tx,
                    vec![
                        Arg::Text(ts(at)),
                        Arg::Int(id),
                        Arg::Int(id),
                        Arg::Null,
                        Arg::Text(kind.into()),
                        code.map_or(Arg::Null, |c| Arg::Text(c.into())),
                        Arg::Text(message.into()),
                        Arg::Text("127.0.0.1".into()),
                    ],
                )
                .await?;
        }
    }
    sessions.flush(&mut tx).await?;
    events.flush(&mut tx).await?;
    // One open problem per troubled company, pointing at its latest
    // failure event.
    sqlx::query(
        "insert into problem (company_id, code, first_seen, last_seen, count, last_detail, last_event_id) \
         select company_id, code, min(at), max(at), count(*), 'Insufficient permission level', max(id) \
         from event where code = 'qbxml.3260' group by company_id, code",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    pool.close().await;
    Ok(seeded)
}
