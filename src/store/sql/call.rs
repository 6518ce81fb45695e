//! The forms of a store call, each written once for both backends.
//!
//! A method's statements run through a [`Statements`] connection: on SQLite
//! the writer thread's connection inside its transaction ([`LiteTx`]), on
//! Postgres one connection of the pool ([`PgTx`]). How the statements hang
//! together is part of the call, never left to a backend:
//!
//! - one statement: [`SqlStore::exec`], [`SqlStore::opt`], [`SqlStore::one`],
//!   [`SqlStore::all`] (and [`SqlStore::read_all`] for a long read);
//! - [`atomic!`]: every statement or none, a transaction on both backends;
//! - [`sequence!`]: statements one after another on one connection, each
//!   atomic on its own. On SQLite the writer runs them in one transaction
//!   anyway; on Postgres they commit one by one. The exchange calls use
//!   it: each of their writes is one statement, and a transaction would
//!   cost two more round trips on every SOAP call.
//!
//! On SQLite the body runs on the writer thread as a future that never
//! waits (every statement there is synchronous), polled once by
//! [`finish_now`].

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sqlx::postgres::PgRow;
use sqlx::PgConnection;

use super::args::{pg_args, Args};
use super::lite::{self, FromLite, Sql};
use super::row::FromPg;
use super::{Backend, Db, SqlStore};
use crate::store::{Result, StoreError};

/// A row a statement returns, read on either backend.
pub(crate) trait Fetch: FromLite + FromPg + Send + Unpin + 'static {}
impl<T: FromLite + FromPg + Send + Unpin + 'static> Fetch for T {}

/// Statement text: a static statement, or one composed for the call.
pub(crate) type Text = Cow<'static, str>;

/// The statements of a store call, on one connection. `$N` parameters are
/// `args[N - 1]` on both backends.
pub(crate) trait Statements {
    /// Which backend the statements run on, for the few that differ.
    fn backend(&self) -> Backend;
    /// Runs a statement that returns no rows; the number of rows changed.
    async fn exec(&mut self, sql: &str, args: Args) -> Result<u64>;
    /// The first row, if any.
    async fn opt<T: Fetch>(&mut self, sql: &str, args: Args) -> Result<Option<T>>;
    /// Every row.
    async fn all<T: Fetch>(&mut self, sql: &str, args: Args) -> Result<Vec<T>>;
    /// Exactly the first row; [`StoreError::NotFound`] when there is none.
    async fn one<T: Fetch>(&mut self, sql: &str, args: Args) -> Result<T> {
        self.opt(sql, args).await?.ok_or_else(|| StoreError::NotFound("row".to_owned()))
    }
    /// Asks that this call's commit be on disk before it is answered (see
    /// [`lite::sync_at_commit`]); Postgres commits durably already.
    fn sync_at_commit(&mut self);
}

/// The SQLite writer's connection, inside the transaction of the task.
pub(crate) struct LiteTx<'c>(pub(crate) &'c rusqlite::Connection);

impl Statements for LiteTx<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    async fn exec(&mut self, sql: &str, args: Args) -> Result<u64> {
        self.0.exec(sql, args)
    }
    async fn opt<T: Fetch>(&mut self, sql: &str, args: Args) -> Result<Option<T>> {
        self.0.opt(sql, args)
    }
    async fn all<T: Fetch>(&mut self, sql: &str, args: Args) -> Result<Vec<T>> {
        self.0.all(sql, args)
    }
    fn sync_at_commit(&mut self) {
        lite::sync_at_commit();
    }
}

/// One Postgres connection (in a transaction or not: the call's form says).
pub(crate) struct PgTx<'c>(pub(crate) &'c mut PgConnection);

impl Statements for PgTx<'_> {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }
    async fn exec(&mut self, sql: &str, args: Args) -> Result<u64> {
        let bound = pg_args(&args)?;
        // Encoded into the message: a large answer is not held twice.
        drop(args);
        Ok(sqlx::query_with(sql, bound).execute(&mut *self.0).await?.rows_affected())
    }
    async fn opt<T: Fetch>(&mut self, sql: &str, args: Args) -> Result<Option<T>> {
        let bound = pg_args(&args)?;
        drop(args);
        let row: Option<PgRow> = sqlx::query_with(sql, bound).fetch_optional(&mut *self.0).await?;
        Ok(row.map(|r| T::from_pg(&r)).transpose()?)
    }
    async fn all<T: Fetch>(&mut self, sql: &str, args: Args) -> Result<Vec<T>> {
        let bound = pg_args(&args)?;
        drop(args);
        let rows: Vec<PgRow> = sqlx::query_with(sql, bound).fetch_all(&mut *self.0).await?;
        Ok(rows.iter().map(T::from_pg).collect::<std::result::Result<_, _>>()?)
    }
    fn sync_at_commit(&mut self) {}
}

/// Runs a SQLite call's body to its end. It never waits: every statement
/// on the writer's connection is synchronous, so one poll finishes it.
pub(crate) fn finish_now<T>(body: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(body).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Corrupt("a SQLite task waited on something else; it was rolled back".into())),
    }
}

/// The SQLite side of both call forms: the body as one task of the writer
/// thread, inside the writer's transaction.
macro_rules! on_writer {
    ($writer:expr, |$tx:ident| $body:expr) => {
        $writer
            .call(move |conn: &rusqlite::Connection| {
                let $tx = &mut $crate::store::sql::call::LiteTx(conn);
                $crate::store::sql::call::finish_now(async move { $body })
            })
            .await
    };
}
pub(crate) use on_writer;

/// Runs `$body` with `$tx` bound to a [`Statements`] connection, as one
/// transaction on both backends: on SQLite one task of the writer thread,
/// on Postgres `begin` … `commit`. An `Err` undoes every statement of the
/// call. A statement's error must end the call (return it): a Postgres
/// transaction cannot go on after one. Everything the body captures is
/// moved in (SQLite runs it on the writer thread); `return` ends the call.
macro_rules! atomic {
    ($self:expr, |$tx:ident| $body:expr) => {
        match &$self.db {
            $crate::store::sql::Db::Writer { writer, .. } => $crate::store::sql::call::on_writer!(writer, |$tx| $body),
            $crate::store::sql::Db::Postgres(pool) => {
                let result: $crate::store::Result<_> = async {
                    let mut transaction = pool.begin().await?;
                    let result: $crate::store::Result<_> = async {
                        let $tx = &mut $crate::store::sql::call::PgTx(&mut *transaction);
                        $body
                    }
                    .await;
                    match result {
                        Ok(value) => {
                            transaction.commit().await?;
                            Ok(value)
                        }
                        Err(e) => {
                            // The call's own error says more than a failed
                            // rollback (after which sqlx drops the connection).
                            let _ = transaction.rollback().await;
                            Err(e)
                        }
                    }
                }
                .await;
                result
            }
        }
    };
}
pub(crate) use atomic;

/// Runs `$body` with `$tx` bound to one connection, each statement atomic
/// on its own (see the module's documentation): on SQLite one task of the
/// writer thread, on Postgres one connection of the pool, so one acquire
/// (and, for a connection that sat idle, one ping) per call rather than
/// per statement.
macro_rules! sequence {
    ($self:expr, |$tx:ident| $body:expr) => {
        match &$self.db {
            $crate::store::sql::Db::Writer { writer, .. } => $crate::store::sql::call::on_writer!(writer, |$tx| $body),
            $crate::store::sql::Db::Postgres(pool) => {
                let result: $crate::store::Result<_> = async {
                    let mut conn = pool.acquire().await?;
                    let $tx = &mut $crate::store::sql::call::PgTx(&mut *conn);
                    $body
                }
                .await;
                result
            }
        }
    };
}
pub(crate) use sequence;

/// Single statements.
impl SqlStore {
    /// Runs one statement that returns no rows; the number of rows changed.
    pub(super) async fn exec(&self, sql: impl Into<Text>, args: Args) -> Result<u64> {
        let sql = sql.into();
        sequence!(self, |tx| tx.exec(&sql, args).await)
    }

    /// The first row of one statement, if any.
    pub(super) async fn opt<T: Fetch>(&self, sql: impl Into<Text>, args: Args) -> Result<Option<T>> {
        let sql = sql.into();
        sequence!(self, |tx| tx.opt(&sql, args).await)
    }

    /// Exactly the first row of one statement.
    pub(super) async fn one<T: Fetch>(&self, sql: impl Into<Text>, args: Args) -> Result<T> {
        let sql = sql.into();
        sequence!(self, |tx| tx.one(&sql, args).await)
    }

    /// Every row of one statement.
    pub(super) async fn all<T: Fetch>(&self, sql: impl Into<Text>, args: Args) -> Result<Vec<T>> {
        let sql = sql.into();
        sequence!(self, |tx| tx.all(&sql, args).await)
    }

    /// Every row of one read that may walk many rows: on SQLite it runs on
    /// a read-only connection beside the writer (see `lite::reader`), not
    /// in its queue.
    pub(super) async fn read_all<T: Fetch>(&self, sql: impl Into<Text>, args: Args) -> Result<Vec<T>> {
        let sql = sql.into();
        match &self.db {
            Db::Writer { writer, .. } => writer.read(move |conn| conn.all(&sql, args)).await,
            Db::Postgres(_) => self.all(sql, args).await,
        }
    }
}
