//! The firmware sizes history as `GET /api/sizes` serves it and the CLI
//! and dashboard read it: one entry per commit, newest first. A read model
//! (the projector's `firmware_sizes` table), not a wire event.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeHistory {
    /// Newest first in commit order (first-parent depth; entries without
    /// one after, newest measured first); one per commit (its latest
    /// measured queue).
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
    /// The commit's place along its branch (commits before it on its
    /// first-parent chain), the x-axis's order; `null` when not recorded.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub first_parent_depth: Option<u64>,
    /// The profile's budget of `text` + `data`, when it has one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub flash_budget: Option<u64>,
    /// The profile's budget of `data` + `bss`, when it has one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub ram_budget: Option<u64>,
}

/// What `GET /api/sizes/sources` lists: the repositories and profiles with
/// measured firmware, for the Sizes page's picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeSources {
    /// The latest measured first.
    pub sources: Vec<SizeSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeSource {
    /// The source URL, exactly as submitted.
    pub repo: String,
    /// The profile the worker ran.
    pub profile: String,
    /// Commits measured.
    pub commits: u64,
    /// The latest measure (RFC 3339, UTC).
    pub last_measured_at: String,
}
