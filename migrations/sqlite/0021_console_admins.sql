-- The operator console's accounts: people who log in at /admin with a
-- password (argon2id, as Web Connector users). API tokens are for programs
-- and never open a console session.
create table admin (
    id integer primary key,
    name text not null unique,
    password_hash text not null,
    created_at text not null,
    password_changed_at text not null,
    last_login_at text
);

-- A logged-in browser. Only a SHA-256 of the cookie is kept, so a copy of
-- the database logs no one in; every replica reads the same rows. A session
-- ends when unused for console_idle_timeout_seconds (last_seen_at), at
-- logout, and when its admin is removed or gets a new password.
create table admin_session (
    token_hash text primary key,
    admin_id integer not null references admin (id) on delete cascade,
    created_at text not null,
    last_seen_at text not null,
    -- The one-line message the next page shows after a form's redirect.
    flash text
);
create index admin_session_admin on admin_session (admin_id);
create index admin_session_last_seen on admin_session (last_seen_at);

-- The console's company page shows a company's latest sessions as a
-- timeline, newest first, without reading the company's whole history.
create index session_company_created on session (company_id, created_at);
