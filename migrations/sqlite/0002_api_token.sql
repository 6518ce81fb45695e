-- API bearer tokens. Only a SHA-256 of each token is kept.
create table api_token (
    id integer primary key,
    name text not null unique,
    token_hash text not null unique,
    created_at text not null,
    last_used_at text,
    revoked_at text
);
