//! The event log, and the company problems it feeds.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use std::sync::LazyLock;

use super::args::{args, Arg};
use super::call::{atomic, Statements};
use super::SqlStore;
use crate::diagnostics::{catalog, Severity};
use crate::store::{Event, EventFilter, EventStore, NewEvent, Problem, Result};
use crate::types::EventId;

/// The most events one read returns: a page, and one more so the reader
/// can tell whether another page follows.
const MAX_EVENTS: i64 = EventFilter::MAX_PAGE + 1;

/// An event with its company's slug and its user's name (left joins: the
/// event outlives neither, and an event may have neither).
const EVENT_SELECT: &str = "select e.id, e.at, e.company_id, c.slug as company_slug, e.user_id, \
    u.username, e.address, e.job_id, e.kind, e.code, e.message \
    from event e left join company c on c.id = e.company_id left join app_user u on u.id = e.user_id";

/// An event by id (`$1`).
static EVENT_BY_ID: LazyLock<String> = LazyLock::new(|| format!("{EVENT_SELECT} where e.id = $1"));

/// The statement for one combination of filters, parameters numbered in
/// the order company, kind, since, before, limit (those present only).
///
/// Each combination is its own statement so each has the plan of its
/// index: the company's events walk `event_company (company_id, id)`, one
/// kind's `event_kind (kind, id)`, everything else the primary key
/// backwards, stopping at the limit. `since` becomes a lower bound on the
/// id too: the smallest id at or after that time, found on `event_at
/// (at, id)`, so a walk back from the newest event stops there instead of
/// reading the whole log when little matches. (The bound is exact: an event
/// below the smallest id at or after `since` is, by that definition,
/// before it.) Both planners would otherwise find `min(id)` by walking up
/// the primary key until a row matches, which reads the whole log when
/// `since` is recent: SQLite is told the index (`indexed by`), Postgres
/// is kept off that plan by `offset 0` (a subquery it does not flatten).
fn events_sql(f: &EventFilter, postgres: bool) -> String {
    let mut conds = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if f.company_id.is_some() {
        conds.push(format!("e.company_id = ${}", next()));
    }
    if f.kind.is_some() {
        conds.push(format!("e.kind = ${}", next()));
    }
    if f.since.is_some() {
        let p = next();
        let first = if postgres {
            format!("select min(s.id) from (select id from event where at >= ${p} offset 0) s")
        } else {
            format!("select min(id) from event indexed by event_at where at >= ${p}")
        };
        conds.push(format!("e.at >= ${p} and e.id >= coalesce(({first}), 9223372036854775807)"));
    }
    if f.before.is_some() {
        conds.push(format!("e.id < ${}", next()));
    }
    let limit = next();
    let filter = if conds.is_empty() { String::new() } else { format!(" where {}", conds.join(" and ")) };
    format!("{EVENT_SELECT}{filter} order by e.id desc limit ${limit}")
}

/// Opens a problem, or counts another occurrence of the open one (the
/// partial unique index allows one open row per company and code).
const UPSERT_PROBLEM: &str = "insert into problem \
    (company_id, code, first_seen, last_seen, count, last_detail, last_event_id) \
    values ($1, $2, $3, $3, 1, $4, $5) \
    on conflict (company_id, code) where cleared_at is null do update set \
    last_seen = excluded.last_seen, count = problem.count + 1, \
    last_detail = excluded.last_detail, last_event_id = excluded.last_event_id";

/// Whether an event with `code` is a problem worth showing in health:
/// warnings and errors are, informational codes (a company renamed in
/// QuickBooks, multi-user mode) are not. A code the catalog does not know
/// counts as a problem rather than being dropped.
fn is_problem(code: &str) -> bool {
    catalog().explain(code).is_none_or(|f| f.entry.severity != Severity::Info)
}

#[async_trait]
impl EventStore for SqlStore {
    async fn record_event(&self, e: NewEvent) -> Result<i64> {
        let sql = "insert into event (at, company_id, user_id, job_id, kind, code, message, address) \
                   values ($1, $2, $3, $4, $5, $6, $7, $8) returning id";
        let problem = match (e.company_id, e.code.as_deref()) {
            (Some(company), Some(code)) if is_problem(code) => Some((company, code.to_owned())),
            _ => None,
        };
        atomic!(self, |tx| {
            let args = args![e.at, e.company_id, e.user_id, e.job_id, e.kind, &e.code, &e.message, &e.address];
            let id: i64 = tx.one(sql, args).await?;
            if let Some((company, code)) = problem {
                tx.exec(UPSERT_PROBLEM, args![company, code, e.at, e.message, id]).await?;
            }
            Ok(id)
        })
    }

    async fn events(&self, f: &EventFilter) -> Result<Vec<Event>> {
        let limit = f.limit.clamp(1, MAX_EVENTS);
        let sql = events_sql(f, self.backend() == super::Backend::Postgres);
        // Only the filters present, in the statement's order.
        let mut args: Vec<Arg> = Vec::new();
        args.extend(f.company_id.map(Arg::from));
        args.extend(f.kind.clone().map(Arg::from));
        args.extend(f.since.map(Arg::from));
        args.extend(f.before.map(|b| Arg::from(b.0)));
        args.push(Arg::from(limit));
        // A filter that matches little may walk much of the log.
        self.read_all(sql, args).await
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>> {
        self.opt(EVENT_BY_ID.as_str(), args![id.0]).await
    }

    async fn open_problems(&self, company_id: i64) -> Result<Vec<Problem>> {
        let sql = "select id, company_id, code, first_seen, last_seen, count, cleared_at, last_detail, last_event_id \
                   from problem where company_id = $1 and cleared_at is null order by last_event_id desc";
        self.all(sql, args![company_id]).await
    }

    async fn prune_events(&self, before: DateTime<Utc>, limit: i64) -> Result<u64> {
        // Oldest first through `event_at` (migration 0017), a bounded batch.
        let sql = "delete from event where id in (select id from event where at < $1 order by at limit $2)";
        self.exec(sql, args![before, limit]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the console's and the API's event filters
    /// walks an index newest first and stops at the page's limit: no sort
    /// of the matching events, and a company's or a kind's events through
    /// that index rather than the whole log.
    #[tokio::test]
    async fn every_event_filter_walks_an_index_without_sorting() {
        let mut statements = Vec::new();
        let mut filters = Vec::new();
        for bits in 0u8..16 {
            let f = EventFilter {
                company_id: (bits & 1 != 0).then_some(1),
                kind: (bits & 2 != 0).then(|| "job.failed".to_owned()),
                since: (bits & 4 != 0).then(Utc::now),
                before: (bits & 8 != 0).then_some(EventId(10)),
                limit: 51,
            };
            let name: &'static str = Box::leak(format!("{f:?}").into_boxed_str());
            statements.push((name, events_sql(&f, false)));
            filters.push(f);
        }
        let plans = crate::store::sql::tests::plans(statements).await;
        for ((name, details), f) in plans.into_iter().zip(filters) {
            assert!(!details.iter().any(|d| d.contains("TEMP B-TREE")), "{name} sorts: {details:?}");
            let walk = details
                .iter()
                .find(|d| d.starts_with("SCAN e") || d.starts_with("SEARCH e"))
                .unwrap_or_else(|| panic!("{name}: no walk of event: {details:?}"));
            // With both, either index narrows the walk; SQLite picks one.
            if f.company_id.is_some() && f.kind.is_some() {
                assert!(walk.contains("USING INDEX event_"), "{name}: {details:?}");
            } else if f.company_id.is_some() {
                assert!(walk.contains("USING INDEX event_company"), "{name}: {details:?}");
            } else if f.kind.is_some() {
                assert!(walk.contains("USING INDEX event_kind"), "{name}: {details:?}");
            }
            if f.since.is_some() {
                assert!(details.iter().any(|d| d.contains("USING COVERING INDEX event_at")), "{name}: {details:?}");
            }
        }
    }
}
