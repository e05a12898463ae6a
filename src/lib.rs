//! The `testarena` binary's library: the command line, the embedded stack of
//! `testarena up`, and the private nats-server it (and the tests) run.

pub mod cli;
mod heap_memory;
mod init;
pub mod nats_server;
mod secret_scrub;
pub mod stack;
mod telemetry;
