-- Retention: the reaper deletes events and finished webhook deliveries past
-- their retention in small batches; these indexes let each batch find its
-- oldest rows without a scan.
create index event_at on event (at);
-- Only finished deliveries (delivered, failed) are ever pruned; pending
-- ones stay until they are sent or given up.
create index webhook_delivery_finished on webhook_delivery (occurred_at) where state <> 'pending';

-- Onboarding links can be revoked one by one; a revoked link is refused
-- like an expired one. Listing a user's links walks this index.
alter table qwc_link add column revoked_at timestamptz;
create index qwc_link_user on qwc_link (username, created_at);
