//! Companies and users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::jobs::{settle_dependents, settle_dependents_lite, RELEASE_BY_USER};
use super::lite::{Sql, Ts};
use super::{by_backend, found, unique_conflict, SqlStore};
use crate::store::{
    AccountStore, Company, CompanyFacts, LoginFailure, LoginLockout, LoginLocks, NewCompany, NewUser, OpenWork,
    Removed, Result, StoreError, User,
};
use crate::types::{CompanySlug, Username};

pub(super) const COMPANY: &str =
    "select id, slug, name, file_path, file_id, qbxml_version, qb_company_name, qb_product, \
                       last_seen_at, created_at, disabled_at from company";

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
/// Likewise for addresses.
const FORGET_ADDRS: &str =
    "delete from login_failure where last_failure_at < $1 and (locked_until is null or locked_until <= $2)";

pub(super) const USER: &str =
    "select u.id, u.username, u.company_id, c.slug as company_slug, u.password_hash, u.enabled, \
                    u.owner_id, u.last_seen_at, u.created_at, \
                    u.run_every_minutes, u.run_every_seconds, (c.disabled_at is not null) as company_disabled, \
                    u.last_message_set_id \
                    from app_user u join company c on c.id = u.company_id";

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
    async fn update_company(
        &self,
        id: i64,
        name: Option<&str>,
        file_path: Option<Option<&str>>,
        now: DateTime<Utc>,
    ) -> Result {
        // $3 says whether the file path changes, so `null` can clear it.
        let sql = "update company set name = coalesce($2, name), \
                   file_path = case when $3 then $4 else file_path end, updated_at = $5 where id = $1";
        let name = name.map(str::to_owned);
        let (set_path, path) = (file_path.is_some(), file_path.flatten().map(str::to_owned));
        let rows =
            by_backend!(self, |c| c.exec(sql, &[&id, &name, &set_path, &path, &Ts(now)]), |p| Ok(sqlx::query(sql)
                .bind(id)
                .bind(&name)
                .bind(set_path)
                .bind(&path)
                .bind(now)
                .execute(p)
                .await?
                .rows_affected()))?;
        found(rows, || format!("company {id}"))
    }

    async fn set_company_enabled(&self, id: i64, enabled: bool, now: DateTime<Utc>) -> Result {
        // Disabling twice keeps the first time.
        let sql = "update company set disabled_at = case when $2 then null else coalesce(disabled_at, $3) end, \
                   updated_at = $3 where id = $1";
        let rows = by_backend!(self, |c| c.exec(sql, &[&id, &enabled, &Ts(now)]), |p| Ok(sqlx::query(sql)
            .bind(id)
            .bind(enabled)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))?;
        found(rows, || format!("company {id}"))
    }

    async fn remove_company(&self, id: i64) -> Result<std::result::Result<Removed, OpenWork>> {
        by_backend!(
            self,
            |c| {
                if c.opt::<i64>("select id from company where id = $1", &[&id])?.is_none() {
                    return Err(StoreError::NotFound(format!("company {id}")));
                }
                let mut work = open_work(c.all(OPEN_WORK, &[&id])?);
                work.limited_tokens = tokens_limited_to(id, c.all(LIMITED_TOKENS, &[])?);
                if !work.is_empty() {
                    return Ok(Err(work));
                }
                let mut removed = Removed::default();
                for (sql, counts) in REMOVE_COMPANY {
                    tally(&mut removed, counts, c.exec(sql, &[&id])?);
                }
                Ok(Ok(removed))
            },
            |p| {
                let mut tx = p.begin().await?;
                // Locks the company row first, so a job enqueued meanwhile
                // (which reads the company) cannot slip past the count.
                let exists: Option<i64> = sqlx::query_scalar("select id from company where id = $1 for update")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound(format!("company {id}")));
                }
                let mut work = open_work(sqlx::query_as(OPEN_WORK).bind(id).fetch_all(&mut *tx).await?);
                work.limited_tokens = tokens_limited_to(id, sqlx::query_as(LIMITED_TOKENS).fetch_all(&mut *tx).await?);
                if !work.is_empty() {
                    tx.rollback().await?;
                    return Ok(Err(work));
                }
                let mut removed = Removed::default();
                for (sql, counts) in REMOVE_COMPANY {
                    tally(&mut removed, counts, sqlx::query(sql).bind(id).execute(&mut *tx).await?.rows_affected());
                }
                tx.commit().await?;
                Ok(Ok(removed))
            }
        )
    }

    async fn login_lockouts(&self, username: &str) -> Result<Vec<LoginLockout>> {
        let sql = LOCKOUTS_OF;
        let name = username.to_owned();
        by_backend!(self, |c| c.all(sql, &[&name]), |p| Ok(sqlx::query_as(sql).bind(&name).fetch_all(p).await?))
    }

    async fn unlock_user(&self, username: &Username, addresses: bool) -> Result {
        let name = username.as_str().to_owned();
        let exists = "select id from app_user where username = $1";
        let found_user = by_backend!(
            self,
            |c| {
                let id: Option<i64> = c.opt(exists, &[&name])?;
                for sql in &UNLOCK[usize::from(!addresses)..] {
                    c.exec(sql, &[&name])?;
                }
                Ok(id.is_some())
            },
            |p| {
                let mut tx = p.begin().await?;
                let id: Option<i64> = sqlx::query_scalar(exists).bind(&name).fetch_optional(&mut *tx).await?;
                for sql in &UNLOCK[usize::from(!addresses)..] {
                    sqlx::query(sql).bind(&name).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(id.is_some())
            }
        )?;
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
        let removed = by_backend!(
            self,
            |c| {
                let mut removed =
                    Removed { leases_released: c.exec(RELEASE_BY_USER, &[&Ts(now), &id])?, ..Removed::default() };
                if removed.leases_released > 0 {
                    settle_dependents_lite(c, now)?;
                }
                for (sql, counts) in REMOVE_USER {
                    tally(&mut removed, counts, c.exec(sql, &[&id])?);
                }
                Ok(removed)
            },
            |p| {
                let mut tx = p.begin().await?;
                let released = sqlx::query(RELEASE_BY_USER).bind(now).bind(id).execute(&mut *tx).await?.rows_affected();
                let mut removed = Removed { leases_released: released, ..Removed::default() };
                if released > 0 {
                    settle_dependents!(tx, now);
                }
                for (sql, counts) in REMOVE_USER {
                    tally(&mut removed, counts, sqlx::query(sql).bind(id).execute(&mut *tx).await?.rows_affected());
                }
                tx.commit().await?;
                Ok(removed)
            }
        )?;
        if removed.users == 0 {
            return Err(StoreError::NotFound(format!("user {username}")));
        }
        if removed.leases_released > 0 {
            self.notifier.notify_all();
        }
        Ok(removed)
    }

    async fn ping(&self) -> Result {
        let sql = "select 1";
        by_backend!(self, |c| c.one::<i64>(sql, &[]).map(drop), |p| {
            sqlx::query(sql).execute(p).await?;
            Ok(())
        })
    }

    async fn create_company(&self, new: NewCompany, now: DateTime<Utc>) -> Result<Company> {
        let slug = new.slug.clone();
        let sql = "insert into company (slug, name, file_path, file_id, created_at, updated_at) \
                   values ($1, $2, $3, $4, $5, $5) returning id";
        let id: i64 = by_backend!(
            self,
            |c| c.one(sql, &[&new.slug.as_str(), &new.name, &new.file_path, &new.file_id, &Ts(now)]),
            |p| Ok(sqlx::query_scalar(sql)
                .bind(new.slug.as_str())
                .bind(&new.name)
                .bind(&new.file_path)
                .bind(new.file_id)
                .bind(now)
                .fetch_one(p)
                .await?)
        )
        .map_err(|e| unique_conflict(e, || format!("company {slug} already exists")))?;
        self.company_by_id(id).await?.ok_or_else(|| crate::store::StoreError::NotFound(format!("company {id}")))
    }

    async fn company(&self, slug: &CompanySlug) -> Result<Option<Company>> {
        let sql = format!("{COMPANY} where slug = $1");
        let slug = slug.as_str().to_owned();
        by_backend!(self, |c| c.opt(&sql, &[&slug]), |p| Ok(sqlx::query_as(&sql).bind(&slug).fetch_optional(p).await?))
    }

    async fn company_by_id(&self, id: i64) -> Result<Option<Company>> {
        let sql = format!("{COMPANY} where id = $1");
        by_backend!(self, |c| c.opt(&sql, &[&id]), |p| Ok(sqlx::query_as(&sql).bind(id).fetch_optional(p).await?))
    }

    async fn list_companies(&self) -> Result<Vec<Company>> {
        let sql = format!("{COMPANY} order by slug");
        by_backend!(self, |c| c.all(&sql, &[]), |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
    }

    async fn record_company_facts(&self, company_id: i64, facts: &CompanyFacts, now: DateTime<Utc>) -> Result {
        let sql = "update company set qbxml_version = coalesce($2, qbxml_version), \
                   qb_company_name = coalesce($3, qb_company_name), qb_product = coalesce($4, qb_product), \
                   updated_at = $5 where id = $1";
        let f = facts.clone();
        by_backend!(
            self,
            |c| c.exec(sql, &[&company_id, &f.qbxml_version, &f.qb_company_name, &f.qb_product, &Ts(now)]),
            |p| Ok(sqlx::query(sql)
                .bind(company_id)
                .bind(&f.qbxml_version)
                .bind(&f.qb_company_name)
                .bind(&f.qb_product)
                .bind(now)
                .execute(p)
                .await?
                .rows_affected())
        )?;
        Ok(())
    }

    async fn create_user(&self, new: NewUser, now: DateTime<Utc>) -> Result<User> {
        let name = new.username.clone();
        let sql = "insert into app_user (username, company_id, password_hash, owner_id, created_at, updated_at) \
                   values ($1, $2, $3, $4, $5, $5)";
        by_backend!(
            self,
            |c| c.exec(sql, &[&new.username.as_str(), &new.company_id, &new.password_hash, &new.owner_id, &Ts(now)]),
            |p| Ok(sqlx::query(sql)
                .bind(new.username.as_str())
                .bind(new.company_id)
                .bind(&new.password_hash)
                .bind(new.owner_id)
                .bind(now)
                .execute(p)
                .await?
                .rows_affected())
        )
        .map_err(|e| unique_conflict(e, || format!("user {name} already exists")))?;
        self.user(name.as_str()).await?.ok_or_else(|| crate::store::StoreError::NotFound(format!("user {name}")))
    }

    async fn user(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("{USER} where u.username = $1");
        let username = username.to_owned();
        by_backend!(self, |c| c.opt(&sql, &[&username]), |p| Ok(sqlx::query_as(&sql)
            .bind(&username)
            .fetch_optional(p)
            .await?))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("{USER} order by u.username");
        by_backend!(self, |c| c.all(&sql, &[]), |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
    }

    async fn set_password(&self, username: &Username, password_hash: &str, now: DateTime<Utc>) -> Result {
        let sql = "update app_user set password_hash = $2, updated_at = $3 where username = $1";
        let unlock = "delete from login_lockout where username = $1";
        let (name, hash) = (username.as_str().to_owned(), password_hash.to_owned());
        let rows = by_backend!(
            self,
            |c| {
                let rows = c.exec(sql, &[&name, &hash, &Ts(now)])?;
                c.exec(unlock, &[&name])?;
                Ok(rows)
            },
            |p| {
                let mut tx = p.begin().await?;
                let rows = sqlx::query(sql).bind(&name).bind(&hash).bind(now).execute(&mut *tx).await?.rows_affected();
                sqlx::query(unlock).bind(&name).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(rows)
            }
        )?;
        found(rows, || format!("user {username}"))
    }

    async fn set_user_enabled(&self, username: &Username, enabled: bool, now: DateTime<Utc>) -> Result {
        let sql = "update app_user set enabled = $2, updated_at = $3 where username = $1";
        let name = username.as_str().to_owned();
        let rows = by_backend!(self, |c| c.exec(sql, &[&name, &enabled, &Ts(now)]), |p| Ok(sqlx::query(sql)
            .bind(&name)
            .bind(enabled)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))?;
        found(rows, || format!("user {username}"))
    }

    async fn login_locked_until(
        &self,
        username: &str,
        addr: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let (pair, address) = (LOCKED_PAIR, LOCKED_ADDR);
        let (name, addr) = (username.to_owned(), addr.to_owned());
        let (a, b): (Option<Option<DateTime<Utc>>>, Option<Option<DateTime<Utc>>>) = by_backend!(
            self,
            |c| Ok((c.opt(pair, &[&name, &addr, &Ts(now)])?, c.opt(address, &[&addr, &Ts(now)])?)),
            |p| {
                let mut conn = p.acquire().await?;
                let a = sqlx::query_scalar(pair).bind(&name).bind(&addr).bind(now).fetch_optional(&mut *conn).await?;
                let b = sqlx::query_scalar(address).bind(&addr).bind(now).fetch_optional(&mut *conn).await?;
                Ok((a, b))
            }
        )?;
        Ok(a.flatten().max(b.flatten()))
    }

    async fn record_login_failure(&self, f: LoginFailure) -> Result<LoginLocks> {
        by_backend!(
            self,
            |c| {
                let (now, start) = (Ts(f.now), Ts(f.window_start));
                let n: i32 = c.one(COUNT_PAIR, &[&f.username, &f.addr, &now, &start])?;
                let mut locks = LoginLocks { user_until: f.user_rule.until(n, f.now), addr_until: None };
                if let Some(until) = locks.user_until {
                    c.exec(LOCK_PAIR, &[&f.username, &f.addr, &Ts(until)])?;
                }
                if f.guess {
                    let n: i32 = c.one(COUNT_ADDR, &[&f.addr, &now, &start])?;
                    locks.addr_until = f.addr_rule.until(n, f.now);
                    if let Some(until) = locks.addr_until {
                        c.exec(LOCK_ADDR, &[&f.addr, &Ts(until)])?;
                    }
                }
                c.exec(FORGET_PAIRS, &[&start, &now])?;
                c.exec(FORGET_ADDRS, &[&start, &now])?;
                Ok(locks)
            },
            |p| {
                let mut tx = p.begin().await?;
                let n: i32 = sqlx::query_scalar(COUNT_PAIR)
                    .bind(&f.username)
                    .bind(&f.addr)
                    .bind(f.now)
                    .bind(f.window_start)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut locks = LoginLocks { user_until: f.user_rule.until(n, f.now), addr_until: None };
                if let Some(until) = locks.user_until {
                    sqlx::query(LOCK_PAIR).bind(&f.username).bind(&f.addr).bind(until).execute(&mut *tx).await?;
                }
                if f.guess {
                    let n: i32 = sqlx::query_scalar(COUNT_ADDR)
                        .bind(&f.addr)
                        .bind(f.now)
                        .bind(f.window_start)
                        .fetch_one(&mut *tx)
                        .await?;
                    locks.addr_until = f.addr_rule.until(n, f.now);
                    if let Some(until) = locks.addr_until {
                        sqlx::query(LOCK_ADDR).bind(&f.addr).bind(until).execute(&mut *tx).await?;
                    }
                }
                sqlx::query(FORGET_PAIRS).bind(f.window_start).bind(f.now).execute(&mut *tx).await?;
                sqlx::query(FORGET_ADDRS).bind(f.window_start).bind(f.now).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(locks)
            }
        )
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
        let forget_addr = "delete from login_failure where addr = $1";
        let (name, addr) = (username.to_owned(), addr.to_owned());
        by_backend!(
            self,
            |c| {
                for sql in [user, company, heard] {
                    c.exec(sql, &[&user_id, &Ts(now)])?;
                }
                c.exec(forget_pair, &[&name, &addr])?;
                c.exec(forget_addr, &[&addr])?;
                Ok(())
            },
            |p| {
                let mut tx = p.begin().await?;
                for sql in [user, company, heard] {
                    sqlx::query(sql).bind(user_id).bind(now).execute(&mut *tx).await?;
                }
                sqlx::query(forget_pair).bind(&name).bind(&addr).execute(&mut *tx).await?;
                sqlx::query(forget_addr).bind(&addr).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }
        )
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
        let name = username.as_str().to_owned();
        let rows =
            by_backend!(self, |c| c.exec(sql, &[&name, &run_every_minutes, &run_every_seconds, &Ts(now)]), |p| Ok(
                sqlx::query(sql)
                    .bind(&name)
                    .bind(run_every_minutes)
                    .bind(run_every_seconds)
                    .bind(now)
                    .execute(p)
                    .await?
                    .rows_affected()
            ))?;
        found(rows, || format!("user {username}"))
    }
}
