//! How many jobs a company has waiting: the `remaining` of each answer.

use std::sync::LazyLock;

/// [`JobStore::queue_depth_at_most`](crate::store::JobStore::queue_depth_at_most):
/// `$1` company, `$2` now, `$3` cap.
pub(in crate::store::sql) static DEPTH_AT_MOST: LazyLock<String> =
    LazyLock::new(|| format!("select {}", depth_sql("$1", "$2", "$3")));

/// [`DEPTH_AT_MOST`]'s count as an expression, with its parameters named:
/// the company, now, and the cap. Three counts (queued jobs, reads whose
/// lease ran out, writes to check), each an equality on job_claim's
/// (company_id, state) prefix: one `or` of the three would make both
/// planners walk every job the company ever had. Each part stops at `cap`
/// rows of its index range (the caller caps the sum again, so the answer
/// does not depend on which part is large). The `order by` is
/// `job_claim`'s: without it Postgres, when its statistics say most jobs
/// are queued, counts the first `cap` queued rows with a sequential scan
/// through the finished ones.
pub(super) fn depth_sql(company: &str, now: &str, cap: &str) -> String {
    format!(
        "(select count(*) from (select 1 from job where company_id = {company} and state = 'queued' \
         order by priority desc, seq limit {cap}) q) \
         + (select count(*) from (select 1 from job where company_id = {company} and state = 'sent' \
         and kind = 'read' and lease_expires_at <= {now} limit {cap}) s) \
         + (select count(*) from (select 1 from job where company_id = {company} and state = 'unknown' \
         and message_set_id is not null order by priority desc, seq limit {cap}) u)"
    )
}
