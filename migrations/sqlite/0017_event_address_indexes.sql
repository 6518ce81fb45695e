-- Events are read by people (`qbwcd events`, GET /events): they name the
-- peer's address where one was involved (who sent a refused password,
-- which connector was told to wait), and are read by kind and by time as
-- well as by company (event_company). See store/sql/events.rs.
alter table event add column address text;
create index event_kind on event (kind, id);
create index event_at on event (at, id);
