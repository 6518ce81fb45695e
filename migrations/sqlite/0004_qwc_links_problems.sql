-- Per-user .qwc onboarding and company health.

-- A user's own poll interval, written into their .qwc <Scheduler>; null =
-- the [qwc] setting. At most one of the two is set (the application checks).
alter table app_user add column run_every_minutes integer;
alter table app_user add column run_every_seconds integer;

-- One signed onboarding link. The token in the URL carries the nonce, the
-- user and the expiry under an HMAC; this row holds what must change as the
-- link is used: the download count (incremented with a compare-and-set so
-- two concurrent downloads cannot pass the limit) and whether the password
-- was already reset through it. The token itself is never stored.
create table qwc_link (
    nonce text primary key,
    username text not null,
    reset_password boolean not null,
    uses integer not null default 0,
    max_uses integer not null,
    expires_at text not null,
    created_at text not null,
    last_used_at text,
    password_reset_at text
);

-- Open problems per company behind the health view: one row per code while
-- it keeps happening, updated whenever an event with that code is recorded,
-- and cleared (cleared_at set) when it is resolved, e.g. by a clean session.
-- Cleared rows are kept as history; a recurrence opens a new row.
create table problem (
    id integer primary key,
    company_id integer not null references company (id),
    code text not null,
    first_seen text not null,
    last_seen text not null,
    count integer not null default 1,
    cleared_at text,
    last_detail text not null,
    last_event_id integer not null
);
create unique index problem_open on problem (company_id, code) where cleared_at is null;
