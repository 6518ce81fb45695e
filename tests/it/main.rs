//! End-to-end and storage tests, one binary (one link) for all. Every test
//! runs on SQLite, and on Postgres when `QBWCD_TEST_POSTGRES_URL` is set.

mod helpers;

mod limits;
mod links;
mod manage;
mod manage_cli;

mod health;

mod admin_cli;
mod api;
mod binary;
mod branding;
mod browser;
mod captures;
mod cli;
mod cli_surface;
mod console;
mod crash;
mod doctor;
mod events;
mod fake_qbwc;
mod iterators_live;
mod long_poll;
mod openapi;
mod ops;
mod postgres_tls;
mod qbxml_cli;
mod qbxml_json;
mod qbxml_schema;
mod qwc;
mod recovery;
mod replicas;
mod retention;
mod security;
mod sessions;
mod store_contract;
mod tls;
mod tokens;
mod webhooks;
