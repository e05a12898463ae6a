//! TestArena's integration tests: real nats-server, real processes, real
//! git and SQLite. One test binary; each test starts its own stack.

mod stack;

mod api;
mod delivery;
mod engine;
mod projection;
mod schemas;
