//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, on the writer thread: it syncs the WAL, copies its pages into
//! the database file and syncs that. With ~100 KB answers that was tens of
//! megabytes to sync every second or so, and every caller waited behind
//! it (p99 of receiveResponseXML ~80 ms). Here the writer only nudges this
//! thread after a commit; the copying and syncing happen beside it, on a
//! second connection, while the writer keeps committing.
//!
//! A passive checkpoint never blocks the writer, but under steady load it
//! can never catch up with the end of the WAL either, so the WAL could not
//! start over from its beginning and would grow. Once the WAL is past
//! [`Policy::restart_frames`], a restart checkpoint (which waits for the writer
//! between two transactions and holds it only for the frames not yet
//! copied) lets it start over.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::store::{Result, StoreError};

/// When the thread checkpoints.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// The least time between two checkpoints. Commits in between share
    /// one copy of each page they touched (the session row, the index
    /// pages at the queue's head), where checkpointing after every commit
    /// copied them each time.
    pub every: Duration,
    /// WAL size, in frames (pages), past which a checkpoint restarts the
    /// WAL.
    pub restart_frames: i64,
}

impl Default for Policy {
    fn default() -> Self {
        // 16,384 frames of 4 KiB: a WAL of at most about 64 MiB.
        Policy { every: Duration::from_millis(100), restart_frames: RESTART_FRAMES }
    }
}

/// [`Policy::restart_frames`] by default.
pub(crate) const RESTART_FRAMES: i64 = 16_384;

/// How long a restart checkpoint waits for the writer or a reader before
/// it gives up until the next nudge.
const RESTART_WAIT: Duration = Duration::from_millis(500);

/// The checkpoint thread, as the writer sees it.
pub(super) struct Checkpointer {
    nudge: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to the database at `path` and starts the
    /// thread. The writer's own automatic checkpoints must be off.
    pub(super) fn start(path: &Path, policy: Policy) -> Result<Checkpointer> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(RESTART_WAIT)?;
        // Its own commits would be none, but a connection checkpoints on
        // close when it is the last one: leave that to the writer.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // One pending nudge is as good as many.
        let (nudge, nudges) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("qbwcd-checkpoint".to_owned())
            .spawn(move || run(&conn, &nudges, policy))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite checkpoint thread: {e}")))?;
        Ok(Checkpointer { nudge: Some(nudge), thread: Some(thread) })
    }

    /// Tells the thread that the WAL grew. Never blocks.
    pub(super) fn nudge(&self) {
        if let Some(n) = &self.nudge {
            let _ = n.try_send(());
        }
    }

    /// Stops the thread after the checkpoint it may be running.
    pub(super) fn stop(&mut self) {
        self.nudge = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the SQLite checkpoint thread panicked");
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: &Connection, nudges: &mpsc::Receiver<()>, policy: Policy) {
    let mut last = Instant::now();
    let (mut checkpoints, mut restarts) = (0u64, 0u64);
    while nudges.recv().is_ok() {
        if let Some(wait) = policy.every.checked_sub(last.elapsed()) {
            std::thread::sleep(wait);
        }
        last = Instant::now();
        checkpoints += 1;
        if cycle(conn, policy) == Cycle::Restarted {
            restarts += 1;
        }
    }
    tracing::debug!(checkpoints, restarts, "the SQLite checkpoint thread stopped");
}

/// What one round of [`cycle`] did.
#[derive(Debug, PartialEq, Eq)]
enum Cycle {
    /// Copied what it could without waiting.
    Copied,
    /// Copied everything, and the WAL starts over at the next commit.
    Restarted,
    /// Failed (logged); the next nudge tries again.
    Failed,
}

/// One round: a passive checkpoint, then a restart if the WAL is long.
fn cycle(conn: &Connection, policy: Policy) -> Cycle {
    match checkpoint(conn, "passive") {
        Ok((_, frames, _)) if frames >= policy.restart_frames => match restart(conn) {
            Ok((false, _, _)) => Cycle::Restarted,
            // The writer or a reader held on past RESTART_WAIT.
            Ok((true, _, _)) => Cycle::Copied,
            Err(e) => {
                tracing::warn!(error = %e, frames, "a WAL restart checkpoint failed; trying again later");
                Cycle::Failed
            }
        },
        Ok(_) => Cycle::Copied,
        Err(e) => {
            tracing::warn!(error = %e, "a WAL checkpoint failed; trying again later");
            Cycle::Failed
        }
    }
}

/// Passive checkpoints close to the end of the WAL, then the restart: it
/// holds the writer while it copies what is left and syncs, so it should
/// find little left. Each pass copies what the writer added during the one
/// before, which is less as long as copying outpaces writing.
fn restart(conn: &Connection) -> rusqlite::Result<(bool, i64, i64)> {
    for _ in 0..CATCH_UP_PASSES {
        let (_, frames, copied) = checkpoint(conn, "passive")?;
        if frames - copied <= CATCH_UP_FRAMES {
            break;
        }
    }
    checkpoint(conn, "restart")
}

/// How far behind the end of the WAL a restart may start, in frames.
const CATCH_UP_FRAMES: i64 = 256;

/// Passive passes before a restart, at the most.
const CATCH_UP_PASSES: usize = 8;

/// Runs `pragma wal_checkpoint(mode)`: whether it was blocked, the WAL's
/// frames, and how many of them are now in the database file.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(bool, i64, i64)> {
    conn.query_row(&format!("pragma wal_checkpoint({mode})"), [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::lite::Writer;

    /// A WAL database with `rows` rows of two overflow pages each, written
    /// by a connection that never checkpoints.
    fn written(path: &Path, rows: usize) -> Connection {
        let w = Connection::open(path).unwrap();
        w.pragma_update(None, "journal_mode", "wal").unwrap();
        w.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        w.execute_batch("create table if not exists t (b blob not null)").unwrap();
        for _ in 0..rows {
            w.execute("insert into t values (zeroblob(8000))", []).unwrap();
        }
        w
    }

    /// A short WAL is copied and left as it is; a long one is copied and
    /// restarted, so the next commit writes from its beginning.
    #[test]
    fn a_long_wal_is_restarted_and_a_short_one_only_copied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cycle.db");
        let w = written(&path, 10);
        let c = Connection::open(&path).unwrap();
        let policy = Policy { every: Duration::ZERO, restart_frames: 100 };
        assert_eq!(cycle(&c, policy), Cycle::Copied);
        let w = {
            drop(w);
            written(&path, 60)
        };
        let (_, before, _) = checkpoint(&c, "passive").unwrap();
        assert!(before >= 100, "{before} frames");
        assert_eq!(cycle(&c, policy), Cycle::Restarted);
        w.execute("insert into t values (zeroblob(8000))", []).unwrap();
        let (_, after, copied) = checkpoint(&c, "passive").unwrap();
        assert!(after < 10 && copied == after, "{after} frames after the restart, {copied} copied");
        assert_eq!(w.query_row("select count(*) from t", [], |r| r.get::<_, i64>(0)).unwrap(), 71);
    }

    /// Under writers that never pause, every commit stands, and closing the
    /// store folds the WAL into the database file and removes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steady_writes_keep_everything_and_close_folds_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let policy = Policy { every: Duration::from_millis(1), restart_frames: 64 };
        let writer = std::sync::Arc::new(Writer::open_with(&path, Duration::from_secs(5), policy).unwrap());
        writer.call(|conn| Ok(conn.execute_batch("create table t (b blob not null)")?)).await.unwrap();
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let writer = writer.clone();
            writers.spawn(async move {
                for _ in 0..250 {
                    writer.call(|conn| Ok(conn.execute("insert into t values (zeroblob(8000))", [])?)).await.unwrap();
                }
            });
        }
        while let Some(w) = writers.join_next().await {
            w.unwrap();
        }
        let rows: i64 =
            writer.call(|conn| Ok(conn.query_row("select count(*) from t", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(rows, 1000);
        // The reader beside the writer sees every commit, and does not keep
        // the WAL from being folded in at close.
        let read: i64 =
            writer.read(|conn| Ok(conn.query_row("select count(*) from t", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(read, 1000);
        assert!(writer.read(|conn| Ok(conn.execute("delete from t", [])?)).await.is_err(), "the reader wrote");
        std::sync::Arc::into_inner(writer).unwrap().close().await;
        assert!(!dir.path().join("wal.db-wal").exists(), "closing leaves the WAL behind");
        let c = Connection::open(&path).unwrap();
        assert_eq!(c.query_row("select count(*) from t", [], |r| r.get::<_, i64>(0)).unwrap(), 1000);
    }
}
