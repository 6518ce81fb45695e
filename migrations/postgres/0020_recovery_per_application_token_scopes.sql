-- Error recovery per application. QuickBooks keeps its recovery records
-- per application, and every Web Connector user is an application of its
-- own (its own OwnerID and AppName in its .qwc), so a write's status check
-- must come from the user that sent it, and the record a write clears must
-- be that user's own last answered set.
--
-- The user whose session sent the write's latest attempt, set by the
-- claim. No foreign key: the claim writes it on every exchange, and users
-- are never deleted (only disabled).
alter table job add column sent_by bigint;
-- Writes whose answer may still be checked name their sender, found
-- through the session that was sent them.
update job set sent_by = (select s.user_id from session s where s.ticket_hash = job.ticket_hash)
    where kind = 'write' and ticket_hash is not null and state in ('sent', 'unknown', 'queued');
-- The last message set QuickBooks answered for this user's application;
-- its next write clears that record with oldMessageSetID.
alter table app_user add column last_message_set_id text;
-- The per-company value it replaces named whichever user answered last,
-- so a write could clear another application's record (which QuickBooks
-- ignores) and leave its own behind. Those records cannot be told apart
-- now; each application's next write starts its own chain.
alter table company drop column last_message_set_id;

-- API token scopes. A token has a role (read < enqueue < admin), may be
-- limited to some companies (a JSON array of company ids; null = every
-- company) and may expire. Tokens made before scopes could do everything,
-- so they become admin tokens for every company that never expire.
alter table api_token add column role text not null default 'admin';
alter table api_token add column company_ids text;
alter table api_token add column expires_at timestamptz;
