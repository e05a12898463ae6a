//! TestArena's integration tests: real nats-server, real processes, real
//! git and SQLite. One test binary; each test starts its own stack.

mod small_disk;
mod stack;

mod api;
mod artifacts;
mod bisect;
mod board_leases;
mod board_sim;
mod boards;
mod boards_api;
mod boards_worker;
mod broker_loss;
mod build_cache;
mod cli;
mod commit_context;
mod console_cases;
mod delivery;
mod disk_full;
mod engine;
mod event_order;
mod firmware_size;
mod fleet;
mod integrations;
mod isolation;
mod live;
mod log_marks;
mod notifier;
mod operations;
mod outage;
mod paused_worker;
mod plain_commands;
mod projection;
mod rerun;
mod results;
mod retention;
mod schemas;
mod security;
mod sharding;
mod shared_builds;
mod worker_changes;
