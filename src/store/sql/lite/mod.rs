//! SQLite on one writer thread, with group commit.
//!
//! Every store call becomes one task: a closure run on the thread that owns
//! the connection, inside a transaction. Tasks that queue up while a
//! transaction runs are taken together into the next one (each under its
//! own savepoint, so a failing task undoes only itself) and committed once;
//! every caller hears back only after that commit, so nothing is
//! acknowledged before it is on disk (in WAL, with `synchronous=NORMAL`).
//!
//! Why not sqlx's SQLite driver: it hands every statement (and `begin`,
//! `commit`, each row) to its connection thread and back, two context
//! switches per statement, which was most of the server's CPU per
//! exchange. Here a whole store call is one hand-off, under load a batch
//! of them shares a commit, and statements are prepared once and cached.

mod checkpoint;
mod reader;
mod row;

use std::cell::Cell;
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, Statement};

pub(crate) use row::{Col, FromLite, Ts};

use crate::store::{Result, StoreError};

/// Tasks taken into one transaction, at most. Bounds how long one commit
/// keeps the first caller of a batch waiting.
const MAX_BATCH: usize = 64;

/// Prepared statements kept per connection: more than the store has.
const STATEMENT_CACHE: usize = 256;

/// A handle on the writer thread. Cheap to share; every call is one task.
pub(crate) struct Lite {
    tasks: mpsc::Sender<Msg>,
    /// Commits synced to disk at a task's request ([`sync_at_commit`]).
    #[cfg_attr(not(test), allow(dead_code))]
    synced: Arc<AtomicU64>,
    /// For long reads that should not hold up the writer.
    reader: Arc<reader::Reader>,
}

thread_local! {
    /// Set on the writer thread by a task whose commit must reach the disk
    /// before it is answered; see [`sync_at_commit`].
    static SYNC_AT_COMMIT: Cell<bool> = const { Cell::new(false) };
}

/// Asks, from inside a task, that its transaction be on disk before any
/// caller of the batch hears back. `synchronous=NORMAL` makes a commit safe
/// from a crash of the process, not from a power cut, which may lose the
/// last commits. That is fine for nearly everything (a completion lost
/// that way leaves its job out on lease, and the lease ends as a lost
/// answer); it is not for the claim of a write, whose request leaves as
/// soon as the claim is answered: were the claim lost, the write would go
/// out again with a new message-set id, and QuickBooks would apply it
/// twice.
pub(crate) fn sync_at_commit() {
    SYNC_AT_COMMIT.with(|s| s.set(true));
}

enum Msg {
    Task(Box<dyn Task>),
    Close(tokio::sync::oneshot::Sender<()>),
}

impl Lite {
    /// Opens (creating if missing) the database file and starts its writer
    /// thread. The pragmas match what the migrations expect.
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<Lite> {
        Self::open_with(path, busy_timeout, checkpoint::Policy::default())
    }

    /// [`Lite::open`] with its own checkpoint policy.
    pub(crate) fn open_with(path: &Path, busy_timeout: Duration, policy: checkpoint::Policy) -> Result<Lite> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags)?;
        // WAL: readers (the CLI beside the server) never block the writer;
        // NORMAL: a commit is a WAL append, synced at checkpoints, which
        // survives a process crash (a power cut may lose the last commits).
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "normal")?;
        conn.pragma_update(None, "foreign_keys", "on")?;
        // Checkpoints run on a thread of their own (see `checkpoint`); a
        // WAL that grew past its usual size in a burst is cut back to it
        // when it starts over.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", checkpoint::RESTART_FRAMES * 4096)?;
        // Waits for another connection's lock instead of failing.
        BUSY_TIMEOUT_MS.store(u64::try_from(busy_timeout.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        conn.busy_handler(Some(wait_for_lock))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpointer = checkpoint::Checkpointer::start(path, policy)?;
        let (tasks, queue) = mpsc::channel();
        let synced = Arc::new(AtomicU64::new(0));
        let wal = Wal { path: wal_path(path), file: None, synced: synced.clone() };
        std::thread::Builder::new()
            .name("qbwcd-sqlite".to_owned())
            .spawn(move || writer(conn, queue, checkpointer, wal))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite thread: {e}")))?;
        let reader = Arc::new(reader::Reader::new(path.to_owned(), busy_timeout));
        Ok(Lite { tasks, synced, reader })
    }

    /// Runs `f` on the writer thread inside a transaction and returns its
    /// result once the transaction committed. An `Err` from `f` undoes
    /// what `f` did and nothing else.
    ///
    /// `f` must not begin, commit or roll back itself.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let task = Call { f: Some(f), result: None, reply };
        self.tasks.send(Msg::Task(Box::new(task))).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// How many commits were synced to disk at a task's request.
    #[cfg(test)]
    pub(crate) fn synced_commits(&self) -> u64 {
        self.synced.load(Ordering::Relaxed)
    }

    /// Runs `f` on a read-only connection of its own, on the blocking pool,
    /// beside the writer rather than in its queue (see `reader`). For
    /// reads that may walk many rows; `f` must not write.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || reader.run(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("a SQLite read did not finish: {e}")))?
    }

    /// Finishes queued tasks, stops the thread and closes the connection.
    pub(crate) async fn close(&self) {
        let reader = self.reader.clone();
        let _ = tokio::task::spawn_blocking(move || reader.close()).await;
        let (ack, done) = tokio::sync::oneshot::channel();
        if self.tasks.send(Msg::Close(ack)).is_ok() {
            let _ = done.await;
        }
    }
}

/// How long the writer waits for a lock held by another connection: the
/// store's `acquire_timeout` (one per process, as every store of a process
/// is opened with the same settings).
static BUSY_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

/// The writer's busy handler; `attempt` counts the waits so far. The usual
/// holder is the checkpoint thread restarting the WAL, for a few
/// milliseconds, so the first steps are short: SQLite's own handler sleeps
/// 1, 2, 5, 10, 15, 20 ms…, which turned a 10 ms hold into a 53 ms wait
/// for every caller. Past the first 20 ms (another process's transaction),
/// it polls every 5 ms until the timeout.
fn wait_for_lock(attempt: i32) -> bool {
    const SHORT_STEPS: u64 = 200;
    const SHORT: Duration = Duration::from_micros(100);
    const LONG: Duration = Duration::from_millis(5);
    let attempt = u64::try_from(attempt).unwrap_or(0);
    let waited_ms = if attempt < SHORT_STEPS { attempt / 10 } else { 20 + (attempt - SHORT_STEPS) * 5 };
    if waited_ms >= BUSY_TIMEOUT_MS.load(Ordering::Relaxed) {
        return false;
    }
    std::thread::sleep(if attempt < SHORT_STEPS { SHORT } else { LONG });
    true
}

fn closed() -> StoreError {
    StoreError::Unavailable("the SQLite connection is closed".to_owned())
}

/// One queued store call.
trait Task: Send {
    /// Runs the call; `true` when it succeeded and its changes stay.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the transaction ended; `Err` when it did
    /// not commit (then nothing the call did was kept).
    fn finish(self: Box<Self>, ended: std::result::Result<(), &rusqlite::Error>);
}

struct Call<F, T> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<F, T> Task for Call<F, T>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else { return false };
        // A panic in one call must not take the thread (and every later
        // call) with it; its savepoint is rolled back like any failure.
        let result = catch_unwind(AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(StoreError::Corrupt("a database task panicked; it was rolled back".to_owned())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, ended: std::result::Result<(), &rusqlite::Error>) {
        let result = match (ended, self.result) {
            (Ok(()), Some(result)) => result,
            // Its own failure says more than the rollback that followed.
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(StoreError::Sqlite(copy_error(e))),
            (Ok(()), None) => Err(StoreError::Corrupt("a database task was never run".to_owned())),
        };
        let _ = self.reply.send(result);
    }
}

/// Waits for the next message. Under load the next task arrives within
/// microseconds of the last commit, so the thread first yields a few
/// times (letting the callers run) before it blocks: going to sleep and
/// being woken costs two context switches, which on a small VM were a
/// fifth of this thread's time.
fn next_task(queue: &mpsc::Receiver<Msg>) -> std::result::Result<Msg, mpsc::RecvError> {
    for _ in 0..SPINS {
        match queue.try_recv() {
            Ok(m) => return Ok(m),
            Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    queue.recv()
}

/// How many times [`next_task`] yields before it blocks.
const SPINS: usize = 16;

/// The writer thread: takes whatever tasks are queued (up to
/// [`MAX_BATCH`]) into one transaction, until the store closes.
/// The WAL file, opened when a commit is first to be synced.
struct Wal {
    path: PathBuf,
    file: Option<File>,
    synced: Arc<AtomicU64>,
}

impl Wal {
    /// Syncs the WAL's data to disk: what the last commit appended is then
    /// durable. (fdatasync works on the file, whichever descriptor asks.)
    fn sync(&mut self) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(File::options().read(true).write(true).open(&self.path)?),
        };
        file.sync_data()?;
        self.synced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `<db>-wal`, beside the database file.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn writer(conn: Connection, queue: mpsc::Receiver<Msg>, mut checkpointer: checkpoint::Checkpointer, mut wal: Wal) {
    let mut batch: Vec<Box<dyn Task>> = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    let (mut transactions, mut tasks) = (0u64, 0u64);
    while closing.is_none() {
        match next_task(&queue) {
            Ok(Msg::Task(t)) => batch.push(t),
            Ok(Msg::Close(ack)) => closing = Some(ack),
            Err(_) => break,
        }
        while closing.is_none() && batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Msg::Task(t)) => batch.push(t),
                Ok(Msg::Close(ack)) => closing = Some(ack),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            transactions += 1;
            tasks += batch.len() as u64;
        }
        if run_batch(&conn, &mut batch, &mut wal) {
            checkpointer.nudge();
        }
    }
    // The writer's connection closes last, so SQLite checkpoints the whole
    // WAL and removes it.
    checkpointer.stop();
    drop(conn);
    let synced = wal.synced.load(Ordering::Relaxed);
    tracing::info!(transactions, tasks, synced, "the SQLite writer stopped");
    if let Some(ack) = closing {
        let _ = ack.send(());
    }
}

/// Runs and answers a batch; `true` when it committed.
fn run_batch(conn: &Connection, batch: &mut Vec<Box<dyn Task>>, wal: &mut Wal) -> bool {
    if batch.is_empty() {
        return false;
    }
    SYNC_AT_COMMIT.with(|s| s.set(false));
    let mut ended = transaction(conn, batch);
    if ended.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("rollback");
    }
    if ended.is_ok() && SYNC_AT_COMMIT.with(Cell::take) {
        if let Err(e) = wal.sync() {
            // Committed but perhaps not durable: no caller may go on as if
            // it were (a write must not leave on a claim that may vanish).
            tracing::error!(error = %e, "syncing the SQLite WAL failed");
            ended = Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(format!("the commit could not be synced to disk: {e}")),
            ));
        }
    }
    for task in batch.drain(..) {
        task.finish(ended.as_ref().map(|_| ()));
    }
    ended.is_ok()
}

/// Runs the batch in one transaction and commits it. `Err` means nothing
/// of the batch was kept.
fn transaction(conn: &Connection, batch: &mut [Box<dyn Task>]) -> rusqlite::Result<()> {
    // `immediate`: take the write lock now, waiting for another process's
    // commit, instead of failing when a read turns into a write.
    conn.execute_batch("begin immediate")?;
    if let [task] = batch {
        // Alone: its failure rolls back the whole (its own) transaction.
        if task.run(conn) {
            return conn.execute_batch("commit");
        }
        if !conn.is_autocommit() {
            conn.execute_batch("rollback")?;
        }
        return Ok(());
    }
    for task in batch.iter_mut() {
        conn.execute_batch("savepoint task")?;
        let ok = task.run(conn);
        if conn.is_autocommit() {
            // SQLite itself rolled the transaction back (disk full, I/O
            // error): what ran before is gone, so every task fails.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("the transaction was rolled back by SQLite".to_owned()),
            ));
        }
        if !ok {
            conn.execute_batch("rollback to task")?;
        }
        conn.execute_batch("release task")?;
    }
    conn.execute_batch("commit")
}

/// A copy of an error to hand to each task of a failed batch.
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => rusqlite::Error::SqliteFailure(*code, msg.clone()),
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// Statements with `$N` parameters (shared with Postgres) on a connection.
pub(crate) trait Sql {
    /// Runs a statement that returns no rows; the number of rows changed.
    fn exec(&self, sql: &str, args: &[&dyn ToSql]) -> Result<u64>;
    /// The first row, if any.
    fn opt<T: FromLite>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Option<T>>;
    /// [`Sql::opt`] where parameter `$n` is a large text passed by value
    /// (`args[n - 1]` is ignored): it is freed as soon as SQLite holds its
    /// own copy, before the statement runs, so a large answer is in memory
    /// twice at the most (SQLite's copy and the row it builds), not three
    /// times.
    fn opt_owning<T: FromLite>(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        n: usize,
        text: Option<String>,
    ) -> Result<Option<T>>;
    /// Exactly the first row; [`StoreError::NotFound`] when there is none.
    fn one<T: FromLite>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<T>;
    /// Every row.
    fn all<T: FromLite>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Vec<T>>;
}

impl Sql for Connection {
    fn exec(&self, sql: &str, args: &[&dyn ToSql]) -> Result<u64> {
        let mut stmt = self.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        Ok(stmt.raw_execute()? as u64)
    }

    fn opt<T: FromLite>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Option<T>> {
        let mut stmt = self.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        first_row(&mut stmt)
    }

    fn opt_owning<T: FromLite>(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        n: usize,
        text: Option<String>,
    ) -> Result<Option<T>> {
        let mut stmt = self.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        let name = format!("${n}");
        let index = stmt.parameter_index(&name)?.ok_or(rusqlite::Error::InvalidParameterName(name))?;
        stmt.raw_bind_parameter(index, &text)?;
        drop(text);
        first_row(&mut stmt)
    }

    fn one<T: FromLite>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<T> {
        self.opt(sql, args)?.ok_or_else(|| StoreError::NotFound("row".to_owned()))
    }

    fn all<T: FromLite>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Vec<T>> {
        let mut stmt = self.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(T::from_lite(row)?);
        }
        Ok(out)
    }
}

/// The first row of a bound statement, if any, run to its end: an
/// `update … returning` changes every row it matches only as the statement
/// runs to completion.
fn first_row<T: FromLite>(stmt: &mut Statement<'_>) -> Result<Option<T>> {
    let mut rows = stmt.raw_query();
    let first = match rows.next()? {
        Some(row) => Some(T::from_lite(row)?),
        None => None,
    };
    while rows.next()?.is_some() {}
    Ok(first)
}

/// Binds `args[N-1]` to each `$N` (SQLite numbers parameters in order of
/// first appearance, so `$2` may be its parameter 1).
fn bind(stmt: &mut Statement<'_>, args: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for i in 1..=stmt.parameter_count() {
        let n = stmt.parameter_name(i).and_then(|n| n.strip_prefix('$')).and_then(|n| n.parse().ok()).unwrap_or(i);
        let arg =
            n.checked_sub(1).and_then(|k| args.get(k)).ok_or(rusqlite::Error::InvalidParameterCount(n, args.len()))?;
        stmt.raw_bind_parameter(i, arg)?;
    }
    Ok(())
}

/// A value stored as JSON text.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot store as JSON: {e}")))
}

/// Whether an error is a unique (or primary key) violation.
pub(crate) fn is_unique_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        ),
        _ => false,
    }
}
