-- A company's users (the console's company page, a company's health) are
-- read by company; without this index each read walked every user of
-- every company.
create index app_user_company on app_user (company_id, username);
