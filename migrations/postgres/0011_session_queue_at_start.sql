-- How many jobs were waiting when a session opened. receiveResponseXML's
-- percentage is estimated from it while many jobs remain, so an answer
-- never counts the whole queue (a cost that grew with the queue); near the
-- end the count is exact.
alter table session add column queue_at_start bigint not null default 0;
