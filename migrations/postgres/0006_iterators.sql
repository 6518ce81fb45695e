-- Iterator queries: a job whose query says iterator="Start" is continued in
-- the same session until QuickBooks reports nothing remaining. Each page is
-- kept, keyed by the attempt it belongs to, so a restarted iterator (a new
-- attempt from Start) never mixes with the pages of a broken one.
alter table job add column iterates boolean not null default false;
alter table job add column iterator_id text;

create table job_page (
    job_id uuid not null references job (id),
    attempt integer not null,
    page integer not null,
    response text not null,
    statuses jsonb not null,
    created_at timestamptz not null,
    primary key (job_id, attempt, page)
);
