//! End-to-end and storage tests, one binary (one link) for all. Every test
//! runs on SQLite, and on Postgres when `QBWCD_TEST_POSTGRES_URL` is set.

mod helpers;

mod links;

mod health;

mod admin_cli;
mod api;
mod captures;
mod cli;
mod fake_qbwc;
mod qwc;
mod sessions;
mod store_contract;
