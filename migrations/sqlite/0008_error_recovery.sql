-- qbXML error recovery. Every write is sent with newMessageSetID =
-- message_set_id (persisted when it is claimed, before it leaves). A write
-- whose answer was lost is checked in the company's next session with a
-- status-only message set (recovering = true while that check is out).
alter table job add column message_set_id text;
alter table job add column recovering boolean not null default false;
-- The last message set QuickBooks answered for this company file; the next
-- write clears its recovery record with oldMessageSetID.
alter table company add column last_message_set_id text;
