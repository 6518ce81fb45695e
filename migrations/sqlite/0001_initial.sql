-- qbwcd schema, SQLite dialect. Timestamps are RFC 3339 text in UTC written
-- by the application (never CURRENT_TIMESTAMP, whose format differs), so
-- text comparison orders them correctly. UUIDs are 16-byte blobs.

-- One QuickBooks company file.
create table company (
    id integer primary key,
    slug text not null unique,
    name text not null,
    file_path text,
    file_id blob not null,
    qbxml_version text,
    qb_company_name text,
    qb_product text,
    last_seen_at text,
    created_at text not null,
    updated_at text not null
);

-- One Web Connector login; "user" is a reserved word in Postgres.
create table app_user (
    id integer primary key,
    username text not null unique,
    company_id integer not null references company (id),
    password_hash text not null,
    enabled boolean not null default true,
    owner_id blob not null,
    failed_logins integer not null default 0,
    locked_until text,
    last_seen_at text,
    created_at text not null,
    updated_at text not null
);

-- One Web Connector run. Only the ticket's hash is kept.
create table session (
    ticket_hash text primary key,
    user_id integer not null references app_user (id),
    company_id integer not null references company (id),
    state text not null,
    remote_addr text,
    company_file_name text,
    qbxml_version text,
    jobs_done integer not null default 0,
    jobs_failed integer not null default 0,
    first_problem text,
    last_error text,
    created_at text not null,
    last_seen_at text not null,
    expires_at text not null,
    closed_at text
);
-- One live session per company: the database, not a process, enforces it,
-- so the rule holds across replicas.
create unique index session_one_open_per_company on session (company_id) where state = 'open';
create index session_open_expiry on session (state, expires_at);

-- One qbXML message set. seq gives FIFO order; autoincrement never reuses it.
create table job (
    seq integer primary key autoincrement,
    id blob not null unique,
    company_id integer not null references company (id),
    state text not null,
    kind text not null,
    priority integer not null default 0,
    request text not null,
    qbxml_version text,
    on_error text not null,
    request_names text not null,
    attempt integer not null default 0,
    max_attempts integer not null,
    ticket_hash text,
    lease_expires_at text,
    response text,
    statuses text not null default '[]',
    diagnostic text,
    error text,
    idempotency_key text,
    webhook_url text,
    -- why a held job waits: 'dependencies' (released when they are done)
    -- or 'operator' (an outcome only a person can settle).
    hold_reason text,
    created_at text not null,
    updated_at text not null,
    sent_at text,
    completed_at text
);
-- The claim walks this index: company, queued, highest priority, oldest.
create index job_claim on job (company_id, state, priority desc, seq);
create unique index job_idempotency on job (company_id, idempotency_key);
create index job_ticket on job (ticket_hash);
create index job_lease on job (state, lease_expires_at);
create index job_state_seq on job (state, seq);

create table job_dependency (
    job_id blob not null references job (id),
    depends_on blob not null references job (id),
    primary key (job_id, depends_on)
);
create index job_dependency_parent on job_dependency (depends_on);

-- Append-only history behind health and diagnostics.
create table event (
    id integer primary key autoincrement,
    at text not null,
    company_id integer,
    user_id integer,
    job_id blob,
    kind text not null,
    code text,
    message text not null
);
create index event_company on event (company_id, id);
