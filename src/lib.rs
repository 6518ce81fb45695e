//! qbwcd: a QuickBooks Web Connector server.
//!
//! Data flows one way: HTTP ([`app`]) → [`soap`] (bytes to a typed call) →
//! [`qbwc`] (the protocol rules) → [`queue`] and [`store`]. [`diagnostics`]
//! and [`qbxml`] are leaves everyone may use.
#![forbid(unsafe_code)]

pub mod admins;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clip;
pub mod clock;
pub mod config;
pub mod console;
pub mod diagnostics;
pub mod metrics;
pub mod net;
pub mod onboarding;
pub mod qbwc;
pub mod qbxml;
pub mod queue;
pub mod qwc;
pub mod retention;
pub mod silence;
pub mod soap;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod types;
