//! Console accounts and sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Row;

use super::lite::{Col, FromLite, Sql, Ts};
use super::{by_backend, found, unique_conflict, SqlStore};
use crate::store::{Admin, AdminLogin, AdminSession, AdminStore, Result};

const COLS: &str = "id, name, password_hash, created_at, password_changed_at, last_login_at";

impl FromLite for Admin {
    fn from_lite(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Admin {
            id: Col::col(row, "id")?,
            name: Col::col(row, "name")?,
            password_hash: Col::col(row, "password_hash")?,
            created_at: Col::col(row, "created_at")?,
            password_changed_at: Col::col(row, "password_changed_at")?,
            last_login_at: Col::col(row, "last_login_at")?,
        })
    }
}

impl FromLite for AdminSession {
    fn from_lite(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(AdminSession {
            admin_id: Col::col(row, "admin_id")?,
            admin_name: Col::col(row, "admin_name")?,
            flash: Col::col(row, "flash")?,
        })
    }
}

/// Marks a session used and takes its flash, unless it has been idle too
/// long; the admin's name comes with it from the primary key.
const USE_SESSION: &str = "update admin_session set last_seen_at = $2, flash = null \
     where token_hash = $1 and last_seen_at >= $3 \
     returning admin_id, (select name from admin where admin.id = admin_session.admin_id) as admin_name, \
     flash";

#[async_trait]
impl AdminStore for SqlStore {
    async fn create_admin(&self, name: &str, password_hash: &str, now: DateTime<Utc>) -> Result<Admin> {
        let sql = format!(
            "insert into admin (name, password_hash, created_at, password_changed_at) values ($1, $2, $3, $3) \
             returning {COLS}"
        );
        let (owned, hash) = (name.to_owned(), password_hash.to_owned());
        by_backend!(self, |c| c.one(&sql, &[&owned, &hash, &Ts(now)]), |p| Ok(sqlx::query_as(&sql)
            .bind(&owned)
            .bind(&hash)
            .bind(now)
            .fetch_one(p)
            .await?))
        .map_err(|e| unique_conflict(e, || format!("an admin named {name:?} exists")))
    }

    async fn admin(&self, name: &str) -> Result<Option<Admin>> {
        let sql = format!("select {COLS} from admin where name = $1");
        let owned = name.to_owned();
        by_backend!(self, |c| c.opt(&sql, &[&owned]), |p| Ok(sqlx::query_as(&sql)
            .bind(&owned)
            .fetch_optional(p)
            .await?))
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        let sql = format!("select {COLS} from admin order by name");
        by_backend!(self, |c| c.all(&sql, &[]), |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
    }

    async fn remove_admin(&self, name: &str) -> Result {
        let sessions = "delete from admin_session where admin_id = (select id from admin where name = $1)";
        let admin = "delete from admin where name = $1";
        let owned = name.to_owned();
        let rows = by_backend!(
            self,
            |c| {
                c.exec(sessions, &[&owned])?;
                c.exec(admin, &[&owned])
            },
            |p| {
                let mut tx = p.begin().await?;
                sqlx::query(sessions).bind(&owned).execute(&mut *tx).await?;
                let rows = sqlx::query(admin).bind(&owned).execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(rows)
            }
        )?;
        found(rows, || format!("admin {name:?}"))
    }

    async fn set_admin_password(&self, name: &str, password_hash: &str, now: DateTime<Utc>) -> Result {
        let set = "update admin set password_hash = $2, password_changed_at = $3 where name = $1";
        let sessions = "delete from admin_session where admin_id = (select id from admin where name = $1)";
        let (owned, hash) = (name.to_owned(), password_hash.to_owned());
        let rows = by_backend!(
            self,
            |c| {
                let rows = c.exec(set, &[&owned, &hash, &Ts(now)])?;
                c.exec(sessions, &[&owned])?;
                Ok(rows)
            },
            |p| {
                let mut tx = p.begin().await?;
                let rows = sqlx::query(set).bind(&owned).bind(&hash).bind(now).execute(&mut *tx).await?.rows_affected();
                sqlx::query(sessions).bind(&owned).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(rows)
            }
        )?;
        found(rows, || format!("admin {name:?}"))
    }

    async fn record_admin_login(&self, login: AdminLogin) -> Result {
        let session =
            "insert into admin_session (token_hash, admin_id, created_at, last_seen_at) values ($1, $2, $3, $3)";
        let admin = "update admin set last_login_at = $2 where id = $1";
        let idle = "delete from admin_session where last_seen_at < $1";
        let forget_pair = "delete from login_lockout where username = $1 and addr = $2";
        let forget_addr = "delete from login_failure where addr = $1";
        let l = login;
        by_backend!(
            self,
            |c| {
                c.exec(idle, &[&Ts(l.idle_cutoff)])?;
                c.exec(session, &[&l.token_hash, &l.admin_id, &Ts(l.now)])?;
                c.exec(admin, &[&l.admin_id, &Ts(l.now)])?;
                c.exec(forget_pair, &[&l.lockout_name, &l.addr])?;
                c.exec(forget_addr, &[&l.addr])?;
                Ok(())
            },
            |p| {
                let mut tx = p.begin().await?;
                sqlx::query(idle).bind(l.idle_cutoff).execute(&mut *tx).await?;
                sqlx::query(session).bind(&l.token_hash).bind(l.admin_id).bind(l.now).execute(&mut *tx).await?;
                sqlx::query(admin).bind(l.admin_id).bind(l.now).execute(&mut *tx).await?;
                sqlx::query(forget_pair).bind(&l.lockout_name).bind(&l.addr).execute(&mut *tx).await?;
                sqlx::query(forget_addr).bind(&l.addr).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }
        )
    }

    async fn use_admin_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
    ) -> Result<Option<AdminSession>> {
        let hash = token_hash.to_owned();
        by_backend!(self, |c| c.opt(USE_SESSION, &[&hash, &Ts(now), &Ts(idle_cutoff)]), |p| Ok(sqlx::query_as(
            USE_SESSION
        )
        .bind(&hash)
        .bind(now)
        .bind(idle_cutoff)
        .fetch_optional(p)
        .await?))
    }

    async fn set_admin_flash(&self, token_hash: &str, flash: &str) -> Result {
        let sql = "update admin_session set flash = $2 where token_hash = $1";
        let (hash, flash) = (token_hash.to_owned(), flash.to_owned());
        by_backend!(self, |c| c.exec(sql, &[&hash, &flash]).map(drop), |p| {
            sqlx::query(sql).bind(&hash).bind(&flash).execute(p).await?;
            Ok(())
        })
    }

    async fn end_admin_session(&self, token_hash: &str) -> Result {
        let sql = "delete from admin_session where token_hash = $1";
        let hash = token_hash.to_owned();
        by_backend!(self, |c| c.exec(sql, &[&hash]).map(drop), |p| {
            sqlx::query(sql).bind(&hash).execute(p).await?;
            Ok(())
        })
    }
}
