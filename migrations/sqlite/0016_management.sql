-- The management surface (issue 13).

-- A disabled company's Web Connector users are refused at authenticate
-- (nvu, reason company_disabled); its work stays queued. Null = enabled.
alter table company add column disabled_at text;

-- A SHA-256 over what an idempotent submission asked for (qbXML, version,
-- onError, priority, dependencies, webhook), so a key reused with another
-- body is refused instead of silently answered with the first job. Null
-- for jobs without a key and for jobs queued before this column existed.
alter table job add column submission_hash text;

-- The oldMessageSetID a write was last sent with (the company's last
-- answered set at its claim), set by the claim itself: the job view shows
-- the request exactly as sent, and sendRequestXML need not read the company
-- for every write.
alter table job add column old_message_set_id text;

-- Job listings, newest first per company: company_id and seq never change,
-- so no claim or answer rewrites an entry of this index (only the insert).
create index job_company_seq on job (company_id, seq);

-- A user's and a company's sessions, for removing them.
create index session_by_user on session (user_id);
