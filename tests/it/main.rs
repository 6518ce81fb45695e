//! End-to-end and storage tests, one binary (one link) for all. Every test
//! runs on SQLite, and on Postgres when `QBWCD_TEST_POSTGRES_URL` is set.

mod helpers;

mod api;
mod binary;
mod captures;
mod cli;
mod doctor;
mod fake_qbwc;
mod ops;
mod sessions;
mod store_contract;
