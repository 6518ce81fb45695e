-- Jobs reaching a final state (done, failed, cancelled) or `unknown` (a
-- person must settle it): a company-wide default webhook, and a durable
-- outbox of webhook deliveries written by triggers in the same transaction
-- as the transition itself, so no code path (completion, dependency
-- cascade, cancel, resolve, the reaper) can finish a job without its event.

alter table company add column webhook_url text;

create table webhook_delivery (
    id integer primary key autoincrement,
    -- Stable across retries: receivers deduplicate on it (X-Qbwcd-Event-Id).
    event_id text not null unique,
    job_id blob not null references job (id),
    -- The state the job reached.
    job_state text not null,
    -- Resolved when the event happened: the job's URL, else the company's.
    url text not null,
    -- pending | delivered | failed (gave up after webhook_max_attempts)
    state text not null default 'pending',
    attempts integer not null default 0,
    last_status integer,
    last_error text,
    occurred_at text not null,
    next_attempt_at text not null,
    -- A worker that claimed the row holds it until then; a crashed worker's
    -- claim lapses and another worker (or replica) retries.
    locked_until text,
    delivered_at text
);
create index webhook_delivery_due on webhook_delivery (state, next_attempt_at);
create index webhook_delivery_job on webhook_delivery (job_id, id);

-- A random version-4 UUID, spelled out because SQLite has no function for it.
create trigger job_finished_on_update after update of state on job
when new.state in ('done', 'failed', 'cancelled', 'unknown') and old.state <> new.state
begin
    insert into webhook_delivery (event_id, job_id, job_state, url, occurred_at, next_attempt_at)
    select lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
           substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||
           substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))),
           new.id, new.state, u.url, new.updated_at, new.updated_at
    from (select coalesce(new.webhook_url, (select webhook_url from company where id = new.company_id)) as url) u
    where u.url is not null;
end;

-- A job can be born final (a dependency had already failed).
create trigger job_finished_on_insert after insert on job
when new.state in ('done', 'failed', 'cancelled', 'unknown')
begin
    insert into webhook_delivery (event_id, job_id, job_state, url, occurred_at, next_attempt_at)
    select lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
           substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||
           substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))),
           new.id, new.state, u.url, new.updated_at, new.updated_at
    from (select coalesce(new.webhook_url, (select webhook_url from company where id = new.company_id)) as url) u
    where u.url is not null;
end;
