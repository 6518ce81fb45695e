//! Rows read on either backend: the models field by field from the column
//! of each name, scalars and tuples by position. SQLite's side is
//! [`Col`] (see `lite::row`); Postgres' is [`PgCol`], here. The models
//! themselves know no database.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{ColumnIndex, Row as _};
use uuid::Uuid;

use super::lite::{Col, FromLite};
use super::tokens::TokenRow;
use crate::qbxml::RequestStatus;
use crate::queue::{Job, JobKind, JobState, Page};
use crate::store::{Admin, Company, Event, LoginLockout, Problem, QwcLink, Session, SessionJob, User, WebhookDelivery};
use crate::types::{CompanySlug, JobId, TicketHash, Username};

/// A column value the store reads from Postgres.
pub(crate) trait PgCol: Sized {
    /// Reads column `idx` (a position or a name).
    fn pg_col<I: ColumnIndex<PgRow> + Copy + std::fmt::Debug>(row: &PgRow, idx: I) -> Result<Self, sqlx::Error>;
}

macro_rules! pg_col_decode {
    ($($t:ty),*) => {$(
        impl PgCol for $t {
            fn pg_col<I: ColumnIndex<PgRow> + Copy + std::fmt::Debug>(row: &PgRow, idx: I) -> Result<Self, sqlx::Error> {
                row.try_get(idx)
            }
        }
    )*};
}
pg_col_decode!(i64, i32, bool, String, Uuid, DateTime<Utc>);

/// Types stored as text and parsed back with `TryFrom<String>`.
macro_rules! pg_col_text {
    ($($t:ty),*) => {$(
        impl PgCol for $t {
            fn pg_col<I: ColumnIndex<PgRow> + Copy + std::fmt::Debug>(row: &PgRow, idx: I) -> Result<Self, sqlx::Error> {
                let s: String = row.try_get(idx)?;
                <$t>::try_from(s).map_err(|e| sqlx::Error::ColumnDecode {
                    index: format!("{idx:?}"),
                    source: e.to_string().into(),
                })
            }
        }
    )*};
}
pg_col_text!(CompanySlug, Username, TicketHash, JobState, JobKind);

impl PgCol for JobId {
    fn pg_col<I: ColumnIndex<PgRow> + Copy + std::fmt::Debug>(row: &PgRow, idx: I) -> Result<Self, sqlx::Error> {
        Uuid::pg_col(row, idx).map(JobId)
    }
}

impl PgCol for Vec<RequestStatus> {
    fn pg_col<I: ColumnIndex<PgRow> + Copy + std::fmt::Debug>(row: &PgRow, idx: I) -> Result<Self, sqlx::Error> {
        row.try_get::<sqlx::types::Json<Vec<RequestStatus>>, _>(idx).map(|j| j.0)
    }
}

impl<T: PgCol> PgCol for Option<T> {
    fn pg_col<I: ColumnIndex<PgRow> + Copy + std::fmt::Debug>(row: &PgRow, idx: I) -> Result<Self, sqlx::Error> {
        use sqlx::ValueRef as _;
        if row.try_get_raw(idx)?.is_null() {
            Ok(None)
        } else {
            T::pg_col(row, idx).map(Some)
        }
    }
}

/// A row the store reads from Postgres: a model by column names, a scalar
/// or a tuple by position.
pub(crate) trait FromPg: Sized {
    /// Reads one row.
    fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error>;
}

impl<T: PgCol> FromPg for T {
    fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error> {
        T::pg_col(row, 0)
    }
}

macro_rules! from_pg_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: PgCol),+> FromPg for ($($t,)+) {
            fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error> {
                Ok(($($t::pg_col(row, $i)?,)+))
            }
        }
    };
}
from_pg_tuple!(A 0);
from_pg_tuple!(A 0, B 1);
from_pg_tuple!(A 0, B 1, C 2);
from_pg_tuple!(A 0, B 1, C 2, D 3);

/// Reads a model on either backend, field by field, each from the column
/// of its name.
macro_rules! model_row {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl FromLite for $t {
            fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok($t { $($f: Col::col(row, stringify!($f))?),* })
            }
        }
        impl FromPg for $t {
            fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error> {
                Ok($t { $($f: PgCol::pg_col(row, stringify!($f))?),* })
            }
        }
    };
}

model_row!(Company {
    id,
    slug,
    name,
    file_path,
    file_id,
    qbxml_version,
    qb_company_name,
    qb_product,
    last_seen_at,
    created_at,
    disabled_at,
});
model_row!(User {
    id,
    username,
    company_id,
    company_slug,
    password_hash,
    enabled,
    owner_id,
    last_seen_at,
    created_at,
    run_every_minutes,
    run_every_seconds,
    company_disabled,
    last_message_set_id,
});
model_row!(LoginLockout { address, failures, last_failure_at, locked_until });
model_row!(Session {
    ticket_hash,
    user_id,
    username,
    company_id,
    state,
    remote_addr,
    company_file_name,
    qbxml_version,
    jobs_done,
    jobs_failed,
    first_problem,
    last_error,
    created_at,
    last_seen_at,
    expires_at,
    last_work_at,
    queue_at_start,
});
model_row!(Event { id, at, company_id, company_slug, user_id, username, address, job_id, kind, code, message });
model_row!(TokenRow { id, name, role, company_ids, expires_at, created_at, last_used_at, revoked_at });
model_row!(WebhookDelivery {
    id,
    event_id,
    job_id,
    job_state,
    url,
    state,
    attempts,
    last_status,
    last_error,
    occurred_at,
    next_attempt_at,
    delivered_at,
});
model_row!(Problem { id, company_id, code, first_seen, last_seen, count, cleared_at, last_detail, last_event_id });
model_row!(QwcLink {
    nonce,
    username,
    reset_password,
    uses,
    max_uses,
    expires_at,
    created_at,
    last_used_at,
    password_reset_at,
    revoked_at,
});
model_row!(Job {
    id,
    seq,
    company_id,
    state,
    kind,
    priority,
    request,
    qbxml_version,
    on_error,
    request_names,
    attempt,
    max_attempts,
    ticket_hash,
    lease_expires_at,
    response,
    statuses,
    diagnostic,
    error,
    idempotency_key,
    webhook_url,
    hold_reason,
    iterates,
    iterator_id,
    message_set_id,
    old_message_set_id,
    recovering,
    submission_hash,
    sent_by,
    created_at,
    updated_at,
    sent_at,
    completed_at,
});
model_row!(Page { attempt, page, response, statuses, created_at });
model_row!(Admin { id, name, password_hash, created_at, password_changed_at, last_login_at });
model_row!(SessionJob { ticket_hash, id, state, request_names, diagnostic, updated_at });
