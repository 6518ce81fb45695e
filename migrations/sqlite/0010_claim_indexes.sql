-- The job a session is waiting on, found without walking its history:
-- every job a session completed keeps its ticket_hash, so the plain
-- job_ticket index made leased_job read (and sort) all of them, a cost
-- that grew with every exchange of the session. Only jobs that can still
-- take an answer are indexed, newest send last.
create index job_leased on job (ticket_hash, sent_at)
    where ticket_hash is not null and state in ('sent', 'unknown', 'queued');
