-- Fewer index entries to rewrite on every claim and answer. Each state
-- change of a job rewrote an entry in every index that names `state` or
-- `ticket_hash`, and each entry is a page in the WAL: about half of what
-- an exchange wrote.
--
-- job_lease held every job by (state, lease expiry); only sent jobs have a
-- lease, so it now holds just those: a handful of rows, one page. It also
-- serves the release of a ticket's leases, which used job_ticket (whose
-- other lookups moved to job_leased in 0010).
drop index job_ticket;
drop index job_lease;
create index job_lease on job (lease_expires_at) where state = 'sent';
-- job_state_seq served only the dependency settling, which looks for held
-- jobs; the job listing filters with `$2 is null or state = $2`, which no
-- index serves.
drop index job_state_seq;
create index job_held on job (seq) where state = 'held';
