-- qbwcd schema, Postgres dialect. Same tables and names as the SQLite one.

-- One QuickBooks company file.
create table company (
    id bigserial primary key,
    slug text not null unique,
    name text not null,
    file_path text,
    file_id uuid not null,
    qbxml_version text,
    qb_company_name text,
    qb_product text,
    last_seen_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

-- One Web Connector login; "user" is a reserved word here.
create table app_user (
    id bigserial primary key,
    username text not null unique,
    company_id bigint not null references company (id),
    password_hash text not null,
    enabled boolean not null default true,
    owner_id uuid not null,
    failed_logins integer not null default 0,
    locked_until timestamptz,
    last_seen_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

-- One Web Connector run. Only the ticket's hash is kept.
create table session (
    ticket_hash text primary key,
    user_id bigint not null references app_user (id),
    company_id bigint not null references company (id),
    state text not null,
    remote_addr text,
    company_file_name text,
    qbxml_version text,
    jobs_done bigint not null default 0,
    jobs_failed bigint not null default 0,
    first_problem text,
    last_error text,
    created_at timestamptz not null,
    last_seen_at timestamptz not null,
    expires_at timestamptz not null,
    closed_at timestamptz
);
-- One live session per company, enforced by the database across replicas.
create unique index session_one_open_per_company on session (company_id) where state = 'open';
create index session_open_expiry on session (state, expires_at);

-- One qbXML message set. seq gives FIFO order.
create table job (
    seq bigserial primary key,
    id uuid not null unique,
    company_id bigint not null references company (id),
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
    lease_expires_at timestamptz,
    response text,
    statuses jsonb not null default '[]',
    diagnostic text,
    error text,
    idempotency_key text,
    webhook_url text,
    -- why a held job waits: 'dependencies' (released when they are done)
    -- or 'operator' (an outcome only a person can settle).
    hold_reason text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    sent_at timestamptz,
    completed_at timestamptz
);
-- The claim walks this index: company, queued, highest priority, oldest.
create index job_claim on job (company_id, state, priority desc, seq);
create unique index job_idempotency on job (company_id, idempotency_key);
create index job_ticket on job (ticket_hash);
create index job_lease on job (state, lease_expires_at);
create index job_state_seq on job (state, seq);

create table job_dependency (
    job_id uuid not null references job (id),
    depends_on uuid not null references job (id),
    primary key (job_id, depends_on)
);
create index job_dependency_parent on job_dependency (depends_on);

-- Append-only history behind health and diagnostics.
create table event (
    id bigserial primary key,
    at timestamptz not null,
    company_id bigint,
    user_id bigint,
    job_id uuid,
    kind text not null,
    code text,
    message text not null
);
create index event_company on event (company_id, id);
