//! The `lookout` binary's library: configuration, wiring and shutdown. The only crate that
//! knows every other one. `main.rs` is the command line on top of it; tests start a
//! [`Server`] in process.

pub mod alerts;
pub mod auth;
pub mod checks;
pub mod config;
pub mod crash_loop;
pub mod demo;
pub mod ingest_bench;
pub mod listener;
pub mod loadgen;
pub mod process;
pub mod query_bench;
pub mod request_id;
pub mod self_metrics;
pub mod server;
pub mod sink;

pub use config::Config;
pub use server::Server;
