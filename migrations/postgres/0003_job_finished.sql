-- Jobs reaching a final state (done, failed, cancelled) or `unknown` (a
-- person must settle it): a company-wide default webhook, a durable outbox
-- of webhook deliveries, and a NOTIFY that wakes long-polls on every
-- replica. Both come from one trigger, in the same transaction as the
-- transition itself, so no code path (completion, dependency cascade,
-- cancel, resolve, the reaper) can finish a job without its event; NOTIFY
-- is delivered only on commit.

alter table company add column webhook_url text;

create table webhook_delivery (
    id bigserial primary key,
    -- Stable across retries: receivers deduplicate on it (X-Qbwcd-Event-Id).
    event_id text not null unique,
    job_id uuid not null references job (id),
    -- The state the job reached.
    job_state text not null,
    -- Resolved when the event happened: the job's URL, else the company's.
    url text not null,
    -- pending | delivered | failed (gave up after webhook_max_attempts)
    state text not null default 'pending',
    attempts integer not null default 0,
    last_status integer,
    last_error text,
    occurred_at timestamptz not null,
    next_attempt_at timestamptz not null,
    -- A worker that claimed the row holds it until then; a crashed worker's
    -- claim lapses and another worker (or replica) retries.
    locked_until timestamptz,
    delivered_at timestamptz
);
create index webhook_delivery_due on webhook_delivery (state, next_attempt_at);
create index webhook_delivery_job on webhook_delivery (job_id, id);

create function qbwcd_job_finished() returns trigger language plpgsql as $$
declare
    target text;
begin
    if new.state in ('done', 'failed', 'cancelled', 'unknown')
       and (tg_op = 'INSERT' or old.state is distinct from new.state) then
        -- The channel is database-wide; the payload is a job id, which is
        -- unique across schemas too.
        perform pg_notify('qbwcd_job', new.id::text);
        target := coalesce(new.webhook_url, (select webhook_url from company where id = new.company_id));
        if target is not null then
            insert into webhook_delivery (event_id, job_id, job_state, url, occurred_at, next_attempt_at)
            values (gen_random_uuid()::text, new.id, new.state, target, new.updated_at, new.updated_at);
        end if;
    end if;
    return null;
end
$$;

create trigger job_finished after insert or update of state on job
for each row execute function qbwcd_job_finished();
