-- Live sessions: when the session last sent or answered a job, so an idle
-- live session can end after live_idle_seconds.
alter table session add column last_work_at text;
