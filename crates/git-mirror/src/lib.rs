//! Bare git mirrors read with the `git` binary, for the services that look
//! into a repository without checking it out: the scheduler (a bisect's
//! range) and the gateway (a repository's `testarena.toml`).
//!
//! Invariant: depends on `testarena-events` only, never on a service crate.

mod bare_mirror;
mod git_command;

pub use bare_mirror::{Mirror, MirrorError, Mirrors};
