//! Console accounts and their browser sessions (`admin`, `admin_session`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Result;

/// A person who logs in to the operator console.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Admin {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last password change (creation counts).
    pub password_changed_at: DateTime<Utc>,
    /// Last successful console login.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A live console session, as a request finds it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AdminSession {
    /// The admin's row id.
    pub admin_id: i64,
    /// The admin's name.
    pub admin_name: String,
    /// The message left for this page by the form before it (taken: the
    /// next page does not show it again).
    pub flash: Option<String>,
}

/// A successful console login.
#[derive(Clone, Debug)]
pub struct AdminLogin {
    /// The admin.
    pub admin_id: i64,
    /// SHA-256 (hex) of the new session's cookie.
    pub token_hash: String,
    /// The lockout key the login was checked under; its failures at
    /// `addr` are forgotten.
    pub lockout_name: String,
    /// The client address.
    pub addr: String,
    /// When.
    pub now: DateTime<Utc>,
    /// Sessions unused since before this have ended and are deleted.
    pub idle_cutoff: DateTime<Utc>,
}

/// Console accounts and sessions.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Creates an admin; [`super::StoreError::Conflict`] when the name is taken.
    async fn create_admin(&self, name: &str, password_hash: &str, now: DateTime<Utc>) -> Result<Admin>;
    /// One admin by name.
    async fn admin(&self, name: &str) -> Result<Option<Admin>>;
    /// Every admin, by name.
    async fn list_admins(&self) -> Result<Vec<Admin>>;
    /// Removes an admin and ends its sessions; `NotFound` when there is none.
    async fn remove_admin(&self, name: &str) -> Result;
    /// Sets a new password hash and ends every session of the admin (a
    /// stolen cookie stops working with the old password); `NotFound` when
    /// there is none.
    async fn set_admin_password(&self, name: &str, password_hash: &str, now: DateTime<Utc>) -> Result;
    /// Records a login: the session, the admin's last login, the lockout
    /// failures of the name at the address forgotten, and sessions idle
    /// past `idle_cutoff` deleted; one transaction.
    async fn record_admin_login(&self, login: AdminLogin) -> Result;
    /// The session of a cookie hash unless idle since before `idle_cutoff`;
    /// marks it used at `now` and takes its flash message.
    async fn use_admin_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
    ) -> Result<Option<AdminSession>>;
    /// Leaves a message for the session's next page.
    async fn set_admin_flash(&self, token_hash: &str, flash: &str) -> Result;
    /// Ends a session (logout).
    async fn end_admin_session(&self, token_hash: &str) -> Result;
}
