-- The job_finished trigger (0003) ran its PL/pgSQL function on every state
-- change, claims included, only for the function to find that the new
-- state was not final. The same test as a WHEN clause lets Postgres skip
-- the call: a claim (queued → sent) no longer enters PL/pgSQL at all. A
-- WHEN clause may name OLD only on UPDATE, so inserts get a trigger of
-- their own, as on SQLite.
drop trigger job_finished on job;
create trigger job_finished_on_update after update of state on job
for each row
when (new.state in ('done', 'failed', 'cancelled', 'unknown') and old.state is distinct from new.state)
execute function qbwcd_job_finished();
create trigger job_finished_on_insert after insert on job
for each row
when (new.state in ('done', 'failed', 'cancelled', 'unknown'))
execute function qbwcd_job_finished();
