//! Companies and users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lite::{Sql, Ts};
use super::{by_backend, found, unique_conflict, SqlStore};
use crate::store::{AccountStore, Company, CompanyFacts, NewCompany, NewUser, Result, User};
use crate::types::{CompanySlug, Username};

const COMPANY: &str = "select id, slug, name, file_path, file_id, qbxml_version, qb_company_name, qb_product, \
                       last_seen_at, created_at from company";

const USER: &str = "select u.id, u.username, u.company_id, c.slug as company_slug, u.password_hash, u.enabled, \
                    u.owner_id, u.failed_logins, u.locked_until, u.last_seen_at, u.created_at, \
                    u.run_every_minutes, u.run_every_seconds, u.last_message_set_id \
                    from app_user u join company c on c.id = u.company_id";

#[async_trait]
impl AccountStore for SqlStore {
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
        let sql = "update app_user set password_hash = $2, failed_logins = 0, locked_until = null, updated_at = $3 \
                   where username = $1";
        let (name, hash) = (username.as_str().to_owned(), password_hash.to_owned());
        let rows = by_backend!(self, |c| c.exec(sql, &[&name, &hash, &Ts(now)]), |p| Ok(sqlx::query(sql)
            .bind(&name)
            .bind(&hash)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))?;
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

    async fn address_locked_until(&self, addr: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let sql = "select locked_until from login_failure where addr = $1 and locked_until > $2";
        let addr = addr.to_owned();
        let row: Option<Option<DateTime<Utc>>> =
            by_backend!(self, |c| c.opt(sql, &[&addr, &Ts(now)]), |p| Ok(sqlx::query_scalar(sql)
                .bind(&addr)
                .bind(now)
                .fetch_optional(p)
                .await?))?;
        Ok(row.flatten())
    }

    async fn record_address_failure(&self, addr: &str, now: DateTime<Utc>) -> Result<i32> {
        let sql = "insert into login_failure (addr, failures, last_failure_at) values ($1, 1, $2) \
                   on conflict (addr) do update set failures = login_failure.failures + 1, last_failure_at = $2 \
                   returning failures";
        let addr = addr.to_owned();
        by_backend!(self, |c| c.one(sql, &[&addr, &Ts(now)]), |p| Ok(sqlx::query_scalar(sql)
            .bind(&addr)
            .bind(now)
            .fetch_one(p)
            .await?))
    }

    async fn lock_address(&self, addr: &str, until: DateTime<Utc>) -> Result {
        let sql = "update login_failure set locked_until = $2 where addr = $1";
        let addr = addr.to_owned();
        by_backend!(self, |c| c.exec(sql, &[&addr, &Ts(until)]), |p| Ok(sqlx::query(sql)
            .bind(&addr)
            .bind(until)
            .execute(p)
            .await?
            .rows_affected()))?;
        Ok(())
    }

    async fn clear_address_failures(&self, addr: &str) -> Result {
        let sql = "delete from login_failure where addr = $1";
        let addr = addr.to_owned();
        by_backend!(self, |c| c.exec(sql, &[&addr]), |p| Ok(sqlx::query(sql)
            .bind(&addr)
            .execute(p)
            .await?
            .rows_affected()))?;
        Ok(())
    }

    async fn record_login(
        &self,
        user_id: i64,
        ok: bool,
        locked_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result {
        if ok {
            let user = "update app_user set failed_logins = 0, locked_until = null, last_seen_at = $2 where id = $1";
            let company = "update company set last_seen_at = $2 \
                           where id = (select company_id from app_user where id = $1)";
            // A Web Connector that checks in ends its company's silence.
            let heard = "update problem set cleared_at = $2 where cleared_at is null \
                         and code = 'session.connector_silent' \
                         and company_id = (select company_id from app_user where id = $1)";
            by_backend!(
                self,
                |c| {
                    for sql in [user, company, heard] {
                        c.exec(sql, &[&user_id, &Ts(now)])?;
                    }
                    Ok(())
                },
                |p| {
                    for sql in [user, company, heard] {
                        sqlx::query(sql).bind(user_id).bind(now).execute(p).await?;
                    }
                    Ok(())
                }
            )
        } else {
            let sql = "update app_user set failed_logins = failed_logins + 1, \
                       locked_until = coalesce($2, locked_until) where id = $1";
            by_backend!(self, |c| c.exec(sql, &[&user_id, &locked_until.map(Ts)]), |p| Ok(sqlx::query(sql)
                .bind(user_id)
                .bind(locked_until)
                .execute(p)
                .await?
                .rows_affected()))?;
            Ok(())
        }
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
