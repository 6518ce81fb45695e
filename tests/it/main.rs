//! End-to-end and storage tests, one binary (one link) for all. Every test
//! runs on SQLite, and on Postgres when `QBWCD_TEST_POSTGRES_URL` is set.

mod helpers;

mod links;

mod health;

mod admin_cli;
mod api;
mod binary;
mod captures;
mod cli;
mod crash;
mod doctor;
mod fake_qbwc;
mod iterators_live;
mod long_poll;
mod openapi;
mod ops;
mod qwc;
mod recovery;
mod replicas;
mod retention;
mod security;
mod sessions;
mod store_contract;
mod tls;
mod webhooks;
