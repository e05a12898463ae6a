//! The firmware sizes history as `GET /api/sizes` serves it and the CLI
//! and dashboard read it: one entry per commit, newest first. A read model
//! (the projector's `firmware_sizes` table), not a wire event.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeHistory {
    /// Newest first; one per commit (its latest measured queue).
    pub sizes: Vec<SizeEntry>,
}

/// The firmware a queue built from one commit measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeEntry {
    /// The commit the checkout resolved to.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub commit: Option<String>,
    pub queue_id: String,
    /// The profile the worker ran.
    pub profile: String,
    /// When the worker measured it (RFC 3339, UTC).
    pub measured_at: String,
    /// Bytes of code and read-only data.
    pub text: u64,
    /// Bytes of initialised writable data.
    pub data: u64,
    /// Bytes of zero-initialised data.
    pub bss: u64,
}
