-- Lockouts keyed on (user name, client address): a flood of wrong guesses
-- from one address locks that name out at that address only, so it cannot
-- lock the real connector out elsewhere. The key is the name as typed, so
-- an unknown name locks exactly as a known one does (no way to tell which
-- names exist). Failures older than the lockout window are forgotten.
create table login_lockout (
    username text not null,
    addr text not null,
    failures integer not null,
    last_failure_at text not null,
    locked_until text,
    primary key (username, addr)
);
create index login_lockout_last_failure on login_lockout (last_failure_at);
create index login_failure_last_failure on login_failure (last_failure_at);

-- The per-user counters they replace (one lock for every address).
alter table app_user drop column failed_logins;
alter table app_user drop column locked_until;
