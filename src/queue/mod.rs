//! The job model and the rules that move jobs between states. The store
//! applies these rules in SQL; the pure functions here decide outcomes.

mod model;
mod rules;
mod sent;
mod submit;

pub use model::{Completion, Enqueued, Job, JobCursor, JobFilter, JobKind, JobState, Lease, NewJob, Page};
pub use rules::{outcome_of_answer, outcome_of_hresult, progress, remaining_estimate, EXACT_REMAINING};
pub use sent::{last_sent, message_set_for, version_for};
pub use submit::{reported_version, submission_hash, submit, SubmitError, SubmitOptions};
