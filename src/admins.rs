//! Console accounts: the people who log in at `/admin` with a password.
//! The CLI (`qbwcd admin …`) and the API (`/api/v1/admins`) call these
//! same operations.
//!
//! They are not API tokens: a token is for a program and never opens a
//! console session; an admin account is for a person and never calls the
//! API. (A token's role may be `admin` too: that names what the token may
//! do, not an account.)

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::store::{Admin, Store, StoreError};
use crate::types::NameError;

/// The shortest password an admin may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why an admin operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The name is not a valid admin name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The password is too short.
    #[error("an admin password must be at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// No admin has this name.
    #[error("there is no admin named {0:?}")]
    NotFound(String),
    /// The name is taken.
    #[error("an admin named {0:?} exists")]
    Exists(String),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] crate::auth::HashError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

/// An admin as the CLI and API show it (never the hash).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminView {
    /// Login name.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last password change.
    pub password_changed_at: DateTime<Utc>,
    /// Last console login.
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<Admin> for AdminView {
    fn from(a: Admin) -> Self {
        AdminView {
            name: a.name,
            created_at: a.created_at,
            password_changed_at: a.password_changed_at,
            last_login_at: a.last_login_at,
        }
    }
}

/// Checks an admin name: 1 to 64 printable characters, no surrounding
/// spaces (as Web Connector user names).
///
/// # Errors
/// [`AdminError::Name`] saying what is wrong.
pub fn check_name(name: &str) -> Result<(), AdminError> {
    const WHAT: &str = "an admin name";
    if name.is_empty() || name.chars().count() > 64 {
        return Err(NameError::Length { what: WHAT, max: 64 }.into());
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        return Err(NameError::Charset {
            what: WHAT,
            allowed: "printable characters, without leading or trailing spaces",
            got: name.to_owned(),
        }
        .into());
    }
    Ok(())
}

fn check_password(password: &SecretString) -> Result<(), AdminError> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(AdminError::WeakPassword);
    }
    Ok(())
}

fn stored(name: &str) -> impl FnOnce(StoreError) -> AdminError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => AdminError::NotFound(name.to_owned()),
        StoreError::Conflict(_) => AdminError::Exists(name.to_owned()),
        e => AdminError::Store(e),
    }
}

/// `admin add`: a new admin with this password (hashed with argon2id off
/// the async runtime).
///
/// # Errors
/// A bad name or short password, a taken name, or the database.
pub async fn add(
    store: &dyn Store,
    name: &str,
    password: SecretString,
    now: DateTime<Utc>,
) -> Result<AdminView, AdminError> {
    check_name(name)?;
    check_password(&password)?;
    let hash = crate::auth::hash_password_off_runtime(password).await?;
    store.create_admin(name, &hash, now).await.map(AdminView::from).map_err(stored(name))
}

/// `admin list`: every admin by name.
///
/// # Errors
/// The database.
pub async fn list(store: &dyn Store) -> Result<Vec<AdminView>, AdminError> {
    Ok(store.list_admins().await.map_err(AdminError::Store)?.into_iter().map(AdminView::from).collect())
}

/// `admin remove`: the admin and its console sessions go.
///
/// # Errors
/// No such admin, or the database.
pub async fn remove(store: &dyn Store, name: &str) -> Result<(), AdminError> {
    store.remove_admin(name).await.map_err(stored(name))
}

/// `admin passwd`: a new password; every console session of the admin ends.
///
/// # Errors
/// A short password, no such admin, or the database.
pub async fn passwd(
    store: &dyn Store,
    name: &str,
    password: SecretString,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    check_password(&password)?;
    if store.admin(name).await.map_err(AdminError::Store)?.is_none() {
        return Err(AdminError::NotFound(name.to_owned()));
    }
    let hash = crate::auth::hash_password_off_runtime(password).await?;
    store.set_admin_password(name, &hash, now).await.map_err(stored(name))
}
