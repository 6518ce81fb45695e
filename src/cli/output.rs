//! What commands print on stdout: lines that end the command quietly when
//! the reader has gone (`qbwcd jobs list | head`), and aligned tables.
//!
//! `println!` panics on a closed pipe; every command writes through
//! [`outln!`](crate::outln) instead, which returns [`PipeClosed`] so the
//! command stops and [`crate::cli::main`] exits without a word.

use std::fmt;
use std::io::{ErrorKind, Write};

use comfy_table::{presets, CellAlignment, ColumnConstraint, ContentArrangement, Table};

/// The reader of stdout went away; the command ends quietly.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct PipeClosed;

/// Writes one line to stdout; [`PipeClosed`] when nobody reads it any more.
pub fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{args}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(PipeClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// `println!` for commands: `outln!("…", …)?` stops quietly on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::output::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::cli::output::line(format_args!($($arg)*)) };
}

/// Pretty JSON on stdout.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    line(format_args!("{}", serde_json::to_string_pretty(value)?))
}

/// A table for people: a header row and columns aligned by display width
/// (names with accents or CJK characters keep their columns straight), no
/// borders, like `kubectl get`. Columns named in `right` are right-aligned.
pub struct TextTable {
    table: Table,
}

impl TextTable {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> TextTable {
        let mut table = Table::new();
        table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(headers);
        // comfy-table pads each cell with a space on both sides; keep one
        // space on the right only, so the first column starts at column 0.
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
        TextTable { table }
    }

    /// Right-aligns a column (counts), by its index.
    pub fn right(mut self, index: usize) -> TextTable {
        if let Some(c) = self.table.column_mut(index) {
            c.set_cell_alignment(CellAlignment::Right);
        }
        self
    }

    /// Adds a row; cells are shown as given.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.table.add_row(cells.into_iter().map(Into::into).collect::<Vec<String>>());
    }

    /// Prints the table (or `empty` when it has no rows).
    pub fn print(self, empty: &str) -> anyhow::Result<()> {
        if self.table.row_count() == 0 {
            return line(format_args!("{empty}"));
        }
        for l in self.table.lines() {
            line(format_args!("{}", l.trim_end()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TextTable;

    #[test]
    fn columns_line_up_by_display_width() {
        let mut t = TextTable::new(&["USER", "COMPANY", "N"]).right(2);
        t.row(["alice", "acme", "3"]);
        t.row(["bjørn-ø", "société-générale", "12"]);
        let lines: Vec<String> = t.table.lines().map(|l| l.trim_end().to_owned()).collect();
        assert_eq!(lines.len(), 3);
        let col = |l: &str, word: &str| l.find(word).map(|b| l[..b].chars().count()).unwrap();
        assert_eq!(col(&lines[0], "COMPANY"), col(&lines[1], "acme"));
        assert_eq!(col(&lines[1], "acme"), col(&lines[2], "société"));
        assert!(lines[0].starts_with("USER"), "{lines:?}");
        assert!(lines[1].ends_with(" 3"), "counts align right: {lines:?}");
    }
}
