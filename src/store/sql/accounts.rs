//! Companies and users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use std::sync::LazyLock;

use super::args::args;
use super::call::{atomic, sequence, Statements};
use super::jobs::{settle_dependents, RELEASE_BY_USER};
use super::{found, unique_conflict, Backend, SqlStore};
use crate::store::{
    AccountStore, Company, CompanyChanges, CompanyFacts, LoginFailure, LoginLockout, LoginLocks, NewCompany, NewUser,
    OpenWork, Removed, Result, StoreError, User,
};
use crate::types::{CompanySlug, Username};

pub(super) const COMPANY: &str =
    "select id, slug, name, file_path, file_id, qbxml_version, qb_company_name, qb_product, \
                       last_seen_at, created_at, disabled_at from company";
static COMPANY_BY_SLUG: LazyLock<String> = LazyLock::new(|| format!("{COMPANY} where slug = $1"));
static COMPANY_BY_ID: LazyLock<String> = LazyLock::new(|| format!("{COMPANY} where id = $1"));
static COMPANIES: LazyLock<String> = LazyLock::new(|| format!("{COMPANY} order by slug"));

/// A (name, address) pair's lockout, if it has not passed.
const LOCKED_PAIR: &str =
    "select locked_until from login_lockout where username = $1 and addr = $2 and locked_until > $3";
/// An address's lockout, if it has not passed.
const LOCKED_ADDR: &str = "select locked_until from login_failure where addr = $1 and locked_until > $2";
/// Counts a pair's failure ($3 now, $4 window start): a counter whose last
/// failure came before the window starts over at 1.
const COUNT_PAIR: &str = "insert into login_lockout (username, addr, failures, last_failure_at) \
     values ($1, $2, 1, $3) on conflict (username, addr) do update set \
     failures = case when login_lockout.last_failure_at < $4 then 1 else login_lockout.failures + 1 end, \
     last_failure_at = $3 returning failures";
/// The same for an address ($2 now, $3 window start).
const COUNT_ADDR: &str = "insert into login_failure (addr, failures, last_failure_at) values ($1, 1, $2) \
     on conflict (addr) do update set \
     failures = case when login_failure.last_failure_at < $3 then 1 else login_failure.failures + 1 end, \
     last_failure_at = $2 returning failures";
/// Locks a pair (never shortening a lockout a concurrent failure set).
const LOCK_PAIR: &str = "update login_lockout set locked_until = $3 where username = $1 and addr = $2 \
     and (locked_until is null or locked_until < $3)";
/// Locks an address, likewise.
const LOCK_ADDR: &str =
    "update login_failure set locked_until = $2 where addr = $1 and (locked_until is null or locked_until < $2)";
/// Deletes pairs whose failures are out of the window ($1) and whose
/// lockout is over ($2 now): they would start over anyway.
const FORGET_PAIRS: &str =
    "delete from login_lockout where last_failure_at < $1 and (locked_until is null or locked_until <= $2)";
/// A successful login as `$1` from `$2` takes its own failures back from
/// the address's count (never below 0), before its pair's row is deleted:
/// a user's typos then do not pile up on an address it shares (an office
/// behind one NAT), while guesses of other names stay counted, so one
/// valid account cannot reset a spray from the same address.
pub(super) const TAKE_BACK_OWN: &str = "update login_failure set failures = case \
     when failures > coalesce((select p.failures from login_lockout p where p.username = $1 and p.addr = $2), 0) \
     then failures - coalesce((select p.failures from login_lockout p where p.username = $1 and p.addr = $2), 0) \
     else 0 end where addr = $2";
/// Likewise for addresses.
const FORGET_ADDRS: &str =
    "delete from login_failure where last_failure_at < $1 and (locked_until is null or locked_until <= $2)";

pub(super) const USER: &str =
    "select u.id, u.username, u.company_id, c.slug as company_slug, u.password_hash, u.enabled, \
                    u.owner_id, u.last_seen_at, u.created_at, \
                    u.run_every_minutes, u.run_every_seconds, (c.disabled_at is not null) as company_disabled, \
                    u.last_message_set_id \
                    from app_user u join company c on c.id = u.company_id";
static USER_BY_NAME: LazyLock<String> = LazyLock::new(|| format!("{USER} where u.username = $1"));
static USERS: LazyLock<String> = LazyLock::new(|| format!("{USER} order by u.username"));
pub(super) static COMPANY_USERS: LazyLock<String> =
    LazyLock::new(|| format!("{USER} where u.company_id = $1 order by u.username"));

/// A name's failed-login rows, newest first; `$1` the name as sent.
const LOCKOUTS_OF: &str = "select addr as address, failures, last_failure_at, locked_until from login_lockout \
                           where username = $1 order by last_failure_at desc";

/// Unlocking a name, `$1`: the address locks of the addresses it failed
/// from first (they would refuse it just the same; skipped unless the
/// caller may clear them), then its own rows.
const UNLOCK: [&str; 2] = [
    "delete from login_failure where addr in (select addr from login_lockout where username = $1)",
    "delete from login_lockout where username = $1",
];

/// The company's open work by state; `$1` company. Walks `job_claim`.
const OPEN_WORK: &str = "select state, count(*) from job where company_id = $1 \
                         and state in ('queued', 'sent', 'unknown', 'held') group by state";

/// Which tally of [`Removed`] a removal statement's rows go to.
#[derive(Clone, Copy)]
enum Counts {
    Nothing,
    Users,
    Sessions,
    Jobs,
    Events,
    Held,
}

/// What removing a company deletes, children first, each `$1` = company id.
const REMOVE_COMPANY: [(&str, Counts); 12] = [
    ("delete from job_page where job_id in (select id from job where company_id = $1)", Counts::Nothing),
    ("delete from job_dependency where job_id in (select id from job where company_id = $1)", Counts::Nothing),
    ("delete from webhook_delivery where job_id in (select id from job where company_id = $1)", Counts::Nothing),
    ("delete from job where company_id = $1", Counts::Jobs),
    ("delete from session where user_id in (select id from app_user where company_id = $1)", Counts::Sessions),
    ("delete from session where company_id = $1", Counts::Sessions),
    ("delete from qwc_link where username in (select username from app_user where company_id = $1)", Counts::Nothing),
    ("delete from problem where company_id = $1", Counts::Nothing),
    ("delete from event where company_id = $1", Counts::Events),
    (
        "delete from login_lockout where username in (select username from app_user where company_id = $1)",
        Counts::Nothing,
    ),
    ("delete from app_user where company_id = $1", Counts::Users),
    ("delete from company where id = $1", Counts::Nothing),
];

/// What removing a user deletes after its leases are released, each `$1`
/// = user id. Events keep their message (which names the user) but not
/// the id, which SQLite may give to a later user.
const REMOVE_USER: [(&str, Counts); 6] = [
    // Only this user's connector could ask QuickBooks whether its lost
    // writes were applied; with it gone, a person must check. A write still
    // `sent` under one of its ended sessions (its lease not yet lapsed)
    // would become such a write later: it is held now too.
    (
        "update job set state = 'held', hold_reason = 'operator', recovering = false, lease_expires_at = null, \
         diagnostic = 'session.recovery_connector_absent', \
         error = 'user ' || (select username from app_user where id = $1) || ' was removed, and QuickBooks \
                  answers whether a write was applied only to the connector that sent it; check QuickBooks, \
                  then resolve the job' \
         where company_id = (select company_id from app_user where id = $1) and state in ('unknown', 'sent') \
         and sent_by = $1 and message_set_id is not null",
        Counts::Held,
    ),
    ("delete from session where user_id = $1", Counts::Sessions),
    ("delete from qwc_link where username = (select username from app_user where id = $1)", Counts::Nothing),
    ("update event set user_id = null where user_id = $1", Counts::Nothing),
    ("delete from login_lockout where username = (select username from app_user where id = $1)", Counts::Nothing),
    ("delete from app_user where id = $1", Counts::Users),
];

/// Live tokens with a company limit, `(name, company_ids as JSON)`.
const LIMITED_TOKENS: &str =
    "select name, company_ids from api_token where revoked_at is null and company_ids is not null";

/// The names of the tokens among `rows` limited to company `id`.
fn tokens_limited_to(id: i64, rows: Vec<(String, String)>) -> Vec<String> {
    rows.into_iter()
        .filter(|(_, ids)| serde_json::from_str::<Vec<i64>>(ids).is_ok_and(|ids| ids.contains(&id)))
        .map(|(name, _)| name)
        .collect()
}

fn open_work(rows: Vec<(String, i64)>) -> OpenWork {
    let mut w = OpenWork::default();
    for (state, n) in rows {
        match state.as_str() {
            "queued" => w.queued = n,
            "sent" => w.sent = n,
            "unknown" => w.unknown = n,
            "held" => w.held = n,
            _ => {}
        }
    }
    w
}

/// Adds the rows a removal statement touched to its tally.
fn tally(removed: &mut Removed, counts: Counts, n: u64) {
    match counts {
        Counts::Nothing => {}
        Counts::Users => removed.users += n,
        Counts::Sessions => removed.sessions += n,
        Counts::Jobs => removed.jobs += n,
        Counts::Events => removed.events += n,
        Counts::Held => removed.writes_held += n,
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn update_company(&self, id: i64, changes: &CompanyChanges<'_>, now: DateTime<Utc>) -> Result {
        // One statement: an edit applies whole or not at all. $3, $5 and $7
        // say whether a field changes, so `null` can clear one; disabling a
        // disabled company keeps the first time.
        let sql = "update company set name = coalesce($2, name), \
                   file_path = case when $3 then $4 else file_path end, \
                   webhook_url = case when $5 then $6 else webhook_url end, \
                   disabled_at = case when not $7 then disabled_at when $8 then null \
                   else coalesce(disabled_at, $9) end, \
                   updated_at = $9 where id = $1";
        let (set_path, path) = (changes.file_path.is_some(), changes.file_path.flatten());
        let (set_webhook, webhook) = (changes.webhook_url.is_some(), changes.webhook_url.flatten());
        let (set_enabled, enabled) = (changes.enabled.is_some(), changes.enabled.unwrap_or(true));
        let args = args![id, changes.name, set_path, path, set_webhook, webhook, set_enabled, enabled, now];
        let rows = self.exec(sql, args).await?;
        found(rows, || format!("company {id}"))
    }

    async fn set_company_enabled(&self, id: i64, enabled: bool, now: DateTime<Utc>) -> Result {
        // Disabling twice keeps the first time.
        let sql = "update company set disabled_at = case when $2 then null else coalesce(disabled_at, $3) end, \
                   updated_at = $3 where id = $1";
        let rows = self.exec(sql, args![id, enabled, now]).await?;
        found(rows, || format!("company {id}"))
    }

    async fn remove_company(&self, id: i64) -> Result<std::result::Result<Removed, OpenWork>> {
        atomic!(self, |tx| {
            // On Postgres the company row is locked first, so a job
            // enqueued meanwhile (which reads the company) cannot slip past
            // the count; SQLite's writer runs one call at a time.
            let exists = match tx.backend() {
                Backend::Sqlite => "select id from company where id = $1",
                Backend::Postgres => "select id from company where id = $1 for update",
            };
            if tx.opt::<i64>(exists, args![id]).await?.is_none() {
                return Err(StoreError::NotFound(format!("company {id}")));
            }
            let mut work = open_work(tx.all(OPEN_WORK, args![id]).await?);
            work.limited_tokens = tokens_limited_to(id, tx.all(LIMITED_TOKENS, args![]).await?);
            if !work.is_empty() {
                return Ok(Err(work));
            }
            let mut removed = Removed::default();
            for (sql, counts) in REMOVE_COMPANY {
                tally(&mut removed, counts, tx.exec(sql, args![id]).await?);
            }
            Ok(Ok(removed))
        })
    }

    async fn login_lockouts(&self, username: &str) -> Result<Vec<LoginLockout>> {
        self.all(LOCKOUTS_OF, args![username]).await
    }

    async fn unlock_user(&self, username: &Username, addresses: bool) -> Result {
        let name = username.as_str().to_owned();
        let exists = "select id from app_user where username = $1";
        let found_user = atomic!(self, |tx| {
            let id: Option<i64> = tx.opt(exists, args![&name]).await?;
            for sql in &UNLOCK[usize::from(!addresses)..] {
                tx.exec(sql, args![&name]).await?;
            }
            Ok(id.is_some())
        })?;
        if found_user {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("user {username}")))
        }
    }

    async fn remove_user(&self, username: &Username, now: DateTime<Utc>) -> Result<Removed> {
        let user =
            self.user(username.as_str()).await?.ok_or_else(|| StoreError::NotFound(format!("user {username}")))?;
        let id = user.id;
        let removed = atomic!(self, |tx| {
            let released = tx.exec(&RELEASE_BY_USER, args![now, id]).await?;
            let mut removed = Removed { leases_released: released, ..Removed::default() };
            if released > 0 {
                settle_dependents(tx, now).await?;
            }
            for (sql, counts) in REMOVE_USER {
                tally(&mut removed, counts, tx.exec(sql, args![id]).await?);
            }
            Ok(removed)
        })?;
        if removed.users == 0 {
            return Err(StoreError::NotFound(format!("user {username}")));
        }
        if removed.leases_released > 0 {
            self.notifier.notify_all();
        }
        Ok(removed)
    }

    async fn ping(&self) -> Result {
        // A bigint on both backends (Postgres' `1` alone is an int4).
        self.one::<i64>("select cast(1 as bigint)", args![]).await.map(drop)
    }

    async fn create_company(&self, new: NewCompany, now: DateTime<Utc>) -> Result<Company> {
        let sql = "insert into company (slug, name, file_path, file_id, webhook_url, created_at, updated_at) \
                   values ($1, $2, $3, $4, $5, $6, $6) returning id";
        let id: i64 = self
            .one(sql, args![new.slug.as_str(), &new.name, &new.file_path, new.file_id, &new.webhook_url, now])
            .await
            .map_err(|e| unique_conflict(e, || format!("company {} already exists", new.slug)))?;
        self.company_by_id(id).await?.ok_or_else(|| StoreError::NotFound(format!("company {id}")))
    }

    async fn company(&self, slug: &CompanySlug) -> Result<Option<Company>> {
        self.opt(COMPANY_BY_SLUG.as_str(), args![slug.as_str()]).await
    }

    async fn company_by_id(&self, id: i64) -> Result<Option<Company>> {
        self.opt(COMPANY_BY_ID.as_str(), args![id]).await
    }

    async fn list_companies(&self) -> Result<Vec<Company>> {
        self.all(COMPANIES.as_str(), args![]).await
    }

    async fn record_company_facts(&self, company_id: i64, facts: &CompanyFacts, now: DateTime<Utc>) -> Result {
        let sql = "update company set qbxml_version = coalesce($2, qbxml_version), \
                   qb_company_name = coalesce($3, qb_company_name), qb_product = coalesce($4, qb_product), \
                   updated_at = $5 where id = $1";
        let f = facts;
        self.exec(sql, args![company_id, &f.qbxml_version, &f.qb_company_name, &f.qb_product, now]).await?;
        Ok(())
    }

    async fn create_user(&self, new: NewUser, now: DateTime<Utc>) -> Result<User> {
        let sql = "insert into app_user (username, company_id, password_hash, owner_id, created_at, updated_at) \
                   values ($1, $2, $3, $4, $5, $5)";
        let name = new.username;
        self.exec(sql, args![name.as_str(), new.company_id, new.password_hash, new.owner_id, now])
            .await
            .map_err(|e| unique_conflict(e, || format!("user {name} already exists")))?;
        self.user(name.as_str()).await?.ok_or_else(|| StoreError::NotFound(format!("user {name}")))
    }

    async fn user(&self, username: &str) -> Result<Option<User>> {
        self.opt(USER_BY_NAME.as_str(), args![username]).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        // Every user (the reaper's silence check reads them each tick): on
        // SQLite beside the writer, not a pause of its queue as long as the
        // read (10 ms or more at 10,000 users).
        self.read_all(USERS.as_str(), args![]).await
    }

    async fn company_users(&self, company_id: i64) -> Result<Vec<User>> {
        self.all(COMPANY_USERS.as_str(), args![company_id]).await
    }

    async fn set_password(&self, username: &Username, password_hash: &str, now: DateTime<Utc>) -> Result {
        let sql = "update app_user set password_hash = $2, updated_at = $3 where username = $1";
        let unlock = "delete from login_lockout where username = $1";
        let (name, hash) = (username.as_str().to_owned(), password_hash.to_owned());
        let rows = atomic!(self, |tx| {
            let rows = tx.exec(sql, args![&name, hash, now]).await?;
            tx.exec(unlock, args![&name]).await?;
            Ok(rows)
        })?;
        found(rows, || format!("user {username}"))
    }

    async fn set_user_enabled(&self, username: &Username, enabled: bool, now: DateTime<Utc>) -> Result {
        let sql = "update app_user set enabled = $2, updated_at = $3 where username = $1";
        let rows = self.exec(sql, args![username.as_str(), enabled, now]).await?;
        found(rows, || format!("user {username}"))
    }

    async fn login_locked_until(
        &self,
        username: &str,
        addr: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let (name, addr) = (username.to_owned(), addr.to_owned());
        let (pair, address): (Option<Option<DateTime<Utc>>>, Option<Option<DateTime<Utc>>>) = sequence!(self, |tx| {
            let pair = tx.opt(LOCKED_PAIR, args![&name, &addr, now]).await?;
            let address = tx.opt(LOCKED_ADDR, args![&addr, now]).await?;
            Ok((pair, address))
        })?;
        Ok(pair.flatten().max(address.flatten()))
    }

    async fn record_login_failure(&self, f: LoginFailure) -> Result<LoginLocks> {
        atomic!(self, |tx| {
            let (now, start) = (f.now, f.window_start);
            let n: i32 = tx.one(COUNT_PAIR, args![&f.username, &f.addr, now, start]).await?;
            let mut locks = LoginLocks { user_until: f.user_rule.until(n, now), addr_until: None };
            if let Some(until) = locks.user_until {
                tx.exec(LOCK_PAIR, args![&f.username, &f.addr, until]).await?;
            }
            if f.guess {
                let n: i32 = tx.one(COUNT_ADDR, args![&f.addr, now, start]).await?;
                locks.addr_until = f.addr_rule.until(n, now);
                if let Some(until) = locks.addr_until {
                    tx.exec(LOCK_ADDR, args![&f.addr, until]).await?;
                }
            }
            tx.exec(FORGET_PAIRS, args![start, now]).await?;
            tx.exec(FORGET_ADDRS, args![start, now]).await?;
            Ok(locks)
        })
    }

    async fn record_login(&self, user_id: i64, username: &str, addr: &str, now: DateTime<Utc>) -> Result {
        let user = "update app_user set last_seen_at = $2 where id = $1";
        let company = "update company set last_seen_at = $2 \
                       where id = (select company_id from app_user where id = $1)";
        // A Web Connector that checks in ends its company's silence.
        let heard = "update problem set cleared_at = $2 where cleared_at is null \
                     and code = 'session.connector_silent' \
                     and company_id = (select company_id from app_user where id = $1)";
        let forget_pair = "delete from login_lockout where username = $1 and addr = $2";
        let (name, addr) = (username.to_owned(), addr.to_owned());
        atomic!(self, |tx| {
            for sql in [user, company, heard] {
                tx.exec(sql, args![user_id, now]).await?;
            }
            tx.exec(TAKE_BACK_OWN, args![&name, &addr]).await?;
            tx.exec(forget_pair, args![&name, &addr]).await?;
            Ok(())
        })
    }

    async fn set_user_schedule(
        &self,
        username: &Username,
        run_every_minutes: Option<i32>,
        run_every_seconds: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result {
        let sql = "update app_user set run_every_minutes = $2, run_every_seconds = $3, updated_at = $4 \
                   where username = $1";
        let rows = self.exec(sql, args![username.as_str(), run_every_minutes, run_every_seconds, now]).await?;
        found(rows, || format!("user {username}"))
    }
}
