//! Values in and out of SQLite, stored exactly as sqlx stores them, so a
//! database written by either reads the same: timestamps as RFC 3339 text
//! (which also makes text comparison chronological), UUIDs as 16-byte
//! blobs, booleans as 0/1, JSON as text.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use rusqlite::types::{FromSqlError, ValueRef};
use rusqlite::Row;
use uuid::Uuid;

use crate::qbxml::RequestStatus;
use crate::queue::{JobKind, JobState};
use crate::types::{CompanySlug, JobId, TicketHash, Username};

/// A timestamp as it is written, as sqlx writes it
/// (`2026-11-23T10:00:00.123456+00:00`).
pub(crate) fn ts_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Reads a [`ts_text`], or any of the other forms SQLite dates take.
fn parse_ts(value: ValueRef<'_>) -> Result<DateTime<Utc>, FromSqlError> {
    match value {
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|e| FromSqlError::Other(Box::new(e)))?;
            if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
                return Ok(dt.with_timezone(&Utc));
            }
            const FORMATS: [&str; 4] = ["%F %T%.f", "%F %T%.f%:z", "%FT%T%.f", "%F %R"];
            for f in FORMATS {
                if let Ok(dt) = DateTime::parse_from_str(s, f) {
                    return Ok(dt.with_timezone(&Utc));
                }
                if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
                    return Ok(Utc.from_utc_datetime(&dt));
                }
            }
            Err(FromSqlError::Other(format!("not a timestamp: {s:?}").into()))
        }
        ValueRef::Integer(secs) => Utc.timestamp_opt(secs, 0).single().ok_or(FromSqlError::OutOfRange(secs)),
        _ => Err(FromSqlError::InvalidType),
    }
}

/// A column value the store reads.
pub(crate) trait Col: Sized {
    /// Reads column `idx` (a position or a name).
    fn col<I: rusqlite::RowIndex>(row: &Row<'_>, idx: I) -> rusqlite::Result<Self>;
}

macro_rules! col_from_sql {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn col<I: rusqlite::RowIndex>(row: &Row<'_>, idx: I) -> rusqlite::Result<Self> {
                row.get(idx)
            }
        }
    )*};
}
col_from_sql!(i64, i32, bool, String, Uuid);

/// Types stored as text and parsed back with `TryFrom<String>`.
macro_rules! col_from_text {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn col<I: rusqlite::RowIndex>(row: &Row<'_>, idx: I) -> rusqlite::Result<Self> {
                let s: String = row.get(idx)?;
                <$t>::try_from(s).map_err(|e| conversion(e.to_string()))
            }
        }
    )*};
}
col_from_text!(CompanySlug, Username, TicketHash, JobState, JobKind);

fn conversion(msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, msg.into())
}

impl Col for DateTime<Utc> {
    fn col<I: rusqlite::RowIndex>(row: &Row<'_>, idx: I) -> rusqlite::Result<Self> {
        let idx = idx.idx(row.as_ref())?;
        parse_ts(row.get_ref(idx)?).map_err(|e| match e {
            FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
                idx,
                row.as_ref().column_name(idx).unwrap_or("?").to_owned(),
                row.get_ref(idx).map(|v| v.data_type()).unwrap_or(rusqlite::types::Type::Null),
            ),
            other => rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(other)),
        })
    }
}

impl Col for JobId {
    fn col<I: rusqlite::RowIndex>(row: &Row<'_>, idx: I) -> rusqlite::Result<Self> {
        Uuid::col(row, idx).map(JobId)
    }
}

impl Col for Vec<RequestStatus> {
    fn col<I: rusqlite::RowIndex>(row: &Row<'_>, idx: I) -> rusqlite::Result<Self> {
        let text: String = row.get(idx)?;
        serde_json::from_str(&text).map_err(|e| conversion(format!("stored statuses are not valid JSON: {e}")))
    }
}

impl<T: Col> Col for Option<T> {
    fn col<I: rusqlite::RowIndex>(row: &Row<'_>, idx: I) -> rusqlite::Result<Self> {
        let idx = idx.idx(row.as_ref())?;
        match row.get_ref(idx)? {
            ValueRef::Null => Ok(None),
            _ => T::col(row, idx).map(Some),
        }
    }
}

/// A row the store reads: a model by column names, a scalar or a tuple by
/// position.
pub(crate) trait FromLite: Sized {
    /// Reads one row.
    fn from_lite(row: &Row<'_>) -> rusqlite::Result<Self>;
}

impl<T: Col> FromLite for T {
    fn from_lite(row: &Row<'_>) -> rusqlite::Result<Self> {
        T::col(row, 0)
    }
}

macro_rules! from_lite_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Col),+> FromLite for ($($t,)+) {
            fn from_lite(row: &Row<'_>) -> rusqlite::Result<Self> {
                Ok(($($t::col(row, $i)?,)+))
            }
        }
    };
}
from_lite_tuple!(A 0);
from_lite_tuple!(A 0, B 1);
from_lite_tuple!(A 0, B 1, C 2);
from_lite_tuple!(A 0, B 1, C 2, D 3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_sqlx_writes_them_and_read_in_every_form() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap() + chrono::Duration::microseconds(123_456);
        let text: String = conn.query_row("select ?1", [ts_text(t)], |r| r.get(0)).unwrap();
        assert_eq!(text, "2026-11-23T10:00:00.123456+00:00");
        for form in
            ["2026-11-23T10:00:00.123456+00:00", "2026-11-23 10:00:00.123456", "2026-11-23T11:00:00.123456+01:00"]
        {
            let back: DateTime<Utc> = conn.query_row("select ?1", [form], |r| DateTime::col(r, 0)).unwrap();
            assert_eq!(back, t, "{form}");
        }
        let none: Option<DateTime<Utc>> = conn.query_row("select null", [], |r| Option::col(r, 0)).unwrap();
        assert_eq!(none, None);
        let bad = conn.query_row("select 'yesterday'", [], |r| DateTime::<Utc>::col(r, 0));
        assert!(bad.is_err());
    }

    #[test]
    fn text_columns_parse_into_their_types_or_fail_clearly() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let state: JobState = conn.query_row("select 'queued'", [], |r| Col::col(r, 0)).unwrap();
        assert_eq!(state, JobState::Queued);
        let err = conn.query_row("select 'lost'", [], |r| JobState::col(r, 0)).unwrap_err();
        assert!(err.to_string().contains("unknown job state"), "{err}");
    }
}
