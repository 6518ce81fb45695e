-- Retention: the reaper deletes events and finished webhook deliveries past
-- their retention in small batches, each finding its oldest rows on an index
-- without a scan: events on event_at (at, id) of 0017, deliveries on the
-- partial index below.
-- Only finished deliveries (delivered, failed) are ever pruned; pending
-- ones stay until they are sent or given up.
create index webhook_delivery_finished on webhook_delivery (occurred_at) where state <> 'pending';

-- Onboarding links can be revoked one by one; a revoked link is refused
-- like an expired one. Listing a user's links walks this index.
alter table qwc_link add column revoked_at timestamptz;
create index qwc_link_user on qwc_link (username, created_at);
