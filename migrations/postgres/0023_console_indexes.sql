-- The console's session timeline lists each session's jobs by ticket
-- (store/sql/console.rs session_jobs). job_leased holds only jobs that can
-- still take an answer, so for finished ones a plan could scan the whole job
-- table, once per session shown: about a second per session at a million
-- jobs. A job gets its ticket when claimed and keeps it, so this index takes
-- one entry per claim (two for a job claimed again), none per answer, and
-- never holds queued jobs that were not sent.
create index job_ticket_seq on job (ticket_hash, seq) where ticket_hash is not null;
