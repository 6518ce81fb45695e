-- API bearer tokens. Only a SHA-256 of each token is kept.
create table api_token (
    id bigserial primary key,
    name text not null unique,
    token_hash text not null unique,
    created_at timestamptz not null,
    last_used_at timestamptz,
    revoked_at timestamptz
);
