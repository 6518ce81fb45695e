//! A statement's arguments, written once and bound on either backend.
//!
//! Every statement takes `$1`, `$2`, … in the same order on SQLite and
//! Postgres, so its values are one list of [`Arg`]s (`args![…]`): bound by
//! rusqlite on the writer thread, encoded into sqlx's arguments on
//! Postgres. Each value keeps its SQL type, so a `NULL` is still a typed
//! parameter to Postgres.

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSql, ToSqlOutput};
use serde_json::value::RawValue;
use sqlx::postgres::PgArguments;
use sqlx::Arguments as _;
use uuid::Uuid;

use super::lite::ts_text;
use crate::store::{Result, StoreError};
use crate::types::JobId;

/// One statement parameter.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    I64(Option<i64>),
    I32(Option<i32>),
    Bool(Option<bool>),
    Text(Option<String>),
    Uuid(Option<Uuid>),
    /// A timestamp: RFC 3339 text on SQLite (as sqlx writes it, see
    /// [`ts_text`]), `timestamptz` on Postgres.
    Ts(Option<DateTime<Utc>>),
    /// A JSON document: text on SQLite, `jsonb` on Postgres.
    Json(Box<RawValue>),
}

/// A statement's arguments, `$1` first.
pub(crate) type Args = Vec<Arg>;

/// The arguments of one statement, each converted with [`Arg::from`].
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        vec![$($crate::store::sql::args::Arg::from($arg)),*]
    };
}
pub(crate) use args;

impl Arg {
    /// A value stored as JSON.
    pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Arg> {
        serde_json::value::to_raw_value(value)
            .map(Arg::Json)
            .map_err(|e| StoreError::Corrupt(format!("cannot store as JSON: {e}")))
    }
}

macro_rules! arg_from {
    ($($variant:ident: $t:ty),* $(,)?) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Arg {
                Arg::$variant(Some(v.into()))
            }
        }
        impl From<Option<$t>> for Arg {
            fn from(v: Option<$t>) -> Arg {
                Arg::$variant(v.map(Into::into))
            }
        }
    )*};
}
arg_from!(I64: i64, I32: i32, Bool: bool, Text: String, Text: &str, Uuid: Uuid, Ts: DateTime<Utc>);

impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}

impl From<JobId> for Arg {
    fn from(id: JobId) -> Arg {
        Arg::Uuid(Some(id.0))
    }
}

impl From<Option<JobId>> for Arg {
    fn from(id: Option<JobId>) -> Arg {
        Arg::Uuid(id.map(|id| id.0))
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::I64(v) => v.to_sql(),
            Arg::I32(v) => v.to_sql(),
            Arg::Bool(v) => v.to_sql(),
            Arg::Text(v) => v.to_sql(),
            Arg::Uuid(v) => v.to_sql(),
            Arg::Ts(Some(t)) => Ok(ToSqlOutput::from(ts_text(*t))),
            Arg::Ts(None) => Ok(ToSqlOutput::Owned(rusqlite::types::Value::Null)),
            Arg::Json(v) => v.get().to_sql(),
        }
    }
}

/// `args` as sqlx's Postgres arguments, each encoded now (sqlx copies the
/// value into its message, so `args` may be dropped at once after).
pub(crate) fn pg_args(args: &[Arg]) -> Result<PgArguments> {
    let mut out = PgArguments::default();
    for arg in args {
        let added = match arg {
            Arg::I64(v) => out.add(*v),
            Arg::I32(v) => out.add(*v),
            Arg::Bool(v) => out.add(*v),
            Arg::Text(v) => out.add(v.as_deref()),
            Arg::Uuid(v) => out.add(*v),
            Arg::Ts(v) => out.add(*v),
            Arg::Json(v) => out.add(sqlx::types::Json(&**v)),
        };
        added.map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
    }
    Ok(out)
}
