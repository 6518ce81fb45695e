-- Failed logins per client address, so one address guessing many user
-- names is locked out as well as each guessed user.
create table login_failure (
    addr text primary key,
    failures integer not null,
    locked_until timestamptz,
    last_failure_at timestamptz not null
);
