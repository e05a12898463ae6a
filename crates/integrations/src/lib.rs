//! What the integrations share: the gateway config file (`[[repos]]` whose
//! pushes start queues, `[[notify]]` rules), read by the gateway and the
//! notifier alike, so one file means the same to both.
//!
//! Invariant: depends on `testarena-events` only, never on a service crate.

mod gateway_file;
mod ref_filter;
mod secret;

pub use gateway_file::{
    same_repository, GatewayFile, GatewayFileError, NotifyOn, NotifyRule, NotifyTarget, RepoHook,
    StatusApi, StatusTarget,
};
pub use ref_filter::{RefFilter, RefFilterError};
pub use secret::Secret;
