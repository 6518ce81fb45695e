//! Console accounts and sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::args::args;
use super::call::{atomic, Statements};
use super::{found, unique_conflict, SqlStore};
use crate::store::{Admin, AdminLogin, AdminSession, AdminStore, Result};

const COLS: &str = "id, name, password_hash, created_at, password_changed_at, last_login_at";

/// Marks a session used, unless it has been idle too long; the admin's
/// name comes with it from the primary key. (`returning` gives the row as
/// updated, so the flash it clears is read first by [`FLASH`].)
const USE_SESSION: &str = "update admin_session set last_seen_at = $2, flash = null \
     where token_hash = $1 and last_seen_at >= $3 \
     returning admin_id, (select name from admin where admin.id = admin_session.admin_id) as admin_name";

/// The flash message a session holds.
const FLASH: &str = "select flash from admin_session where token_hash = $1";

/// Every session of an admin, by name.
const END_SESSIONS: &str = "delete from admin_session where admin_id = (select id from admin where name = $1)";

#[async_trait]
impl AdminStore for SqlStore {
    async fn create_admin(&self, name: &str, password_hash: &str, now: DateTime<Utc>) -> Result<Admin> {
        let sql = format!(
            "insert into admin (name, password_hash, created_at, password_changed_at) values ($1, $2, $3, $3) \
             returning {COLS}"
        );
        self.one(sql, args![name, password_hash, now])
            .await
            .map_err(|e| unique_conflict(e, || format!("an admin named {name:?} exists")))
    }

    async fn admin(&self, name: &str) -> Result<Option<Admin>> {
        self.opt(format!("select {COLS} from admin where name = $1"), args![name]).await
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        self.all(format!("select {COLS} from admin order by name"), args![]).await
    }

    async fn remove_admin(&self, name: &str) -> Result {
        // Owned: the SQLite side runs on the writer thread.
        let owned = name.to_owned();
        let rows = atomic!(self, |tx| {
            tx.exec(END_SESSIONS, args![&owned]).await?;
            tx.exec("delete from admin where name = $1", args![&owned]).await
        })?;
        found(rows, || format!("admin {name:?}"))
    }

    async fn set_admin_password(&self, name: &str, password_hash: &str, now: DateTime<Utc>) -> Result {
        let set = "update admin set password_hash = $2, password_changed_at = $3 where name = $1";
        let (owned, hash) = (name.to_owned(), password_hash.to_owned());
        let rows = atomic!(self, |tx| {
            let rows = tx.exec(set, args![&owned, &hash, now]).await?;
            tx.exec(END_SESSIONS, args![&owned]).await?;
            Ok(rows)
        })?;
        found(rows, || format!("admin {name:?}"))
    }

    async fn record_admin_login(&self, login: AdminLogin) -> Result {
        let l = login;
        atomic!(self, |tx| {
            tx.exec("delete from admin_session where last_seen_at < $1", args![l.idle_cutoff]).await?;
            tx.exec(
                "insert into admin_session (token_hash, admin_id, created_at, last_seen_at) values ($1, $2, $3, $3)",
                args![&l.token_hash, l.admin_id, l.now],
            )
            .await?;
            tx.exec("update admin set last_login_at = $2 where id = $1", args![l.admin_id, l.now]).await?;
            // As a Web Connector login does (see `TAKE_BACK_OWN`).
            tx.exec(super::accounts::TAKE_BACK_OWN, args![&l.lockout_name, &l.addr]).await?;
            tx.exec("delete from login_lockout where username = $1 and addr = $2", args![&l.lockout_name, &l.addr])
                .await?;
            Ok(())
        })
    }

    async fn use_admin_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
    ) -> Result<Option<AdminSession>> {
        let hash = token_hash.to_owned();
        let found = atomic!(self, |tx| {
            let flash: Option<Option<String>> = tx.opt(FLASH, args![&hash]).await?;
            let row: Option<(i64, String)> = tx.opt(USE_SESSION, args![&hash, now, idle_cutoff]).await?;
            Ok(row.map(|(admin_id, admin_name)| AdminSession { admin_id, admin_name, flash: flash.flatten() }))
        })?;
        Ok(found)
    }

    async fn set_admin_flash(&self, token_hash: &str, flash: &str) -> Result {
        self.exec("update admin_session set flash = $2 where token_hash = $1", args![token_hash, flash]).await?;
        Ok(())
    }

    async fn end_admin_session(&self, token_hash: &str) -> Result {
        self.exec("delete from admin_session where token_hash = $1", args![token_hash]).await?;
        Ok(())
    }
}
