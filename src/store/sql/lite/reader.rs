//! Reads that need not wait in the writer's queue.
//!
//! Every store call runs on the writer thread, one after another. A read
//! that walks many rows there (the per-company job counts of each metrics
//! scrape, a job listing filtered by a rare state) holds up every Web
//! Connector call queued behind it. In WAL mode a reader on a connection
//! of its own sees the last commit and never blocks the writer, so such
//! reads run here instead, on the blocking pool.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::{Result, StoreError};

/// A read-only connection, opened on first use and kept.
pub(super) struct Reader {
    path: PathBuf,
    busy_timeout: Duration,
    conn: Mutex<Option<Connection>>,
}

impl Reader {
    pub(super) fn new(path: PathBuf, busy_timeout: Duration) -> Reader {
        Reader { path, busy_timeout, conn: Mutex::new(None) }
    }

    /// Runs `f` on the read-only connection (each statement sees the last
    /// commit). Callers take turns.
    pub(super) fn run<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut slot =
            self.conn.lock().map_err(|_| StoreError::Corrupt("the SQLite reader lock is poisoned".into()))?;
        let conn = match &mut *slot {
            Some(c) => c,
            None => slot.insert(self.open()?),
        };
        f(conn)
    }

    /// Closes the connection (after a read under way), so that the
    /// writer's is the last and folds the WAL in as it closes. A later read
    /// opens it again.
    pub(super) fn close(&self) {
        if let Ok(mut slot) = self.conn.lock() {
            slot.take();
        }
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }
}
