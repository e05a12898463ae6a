//! The bisect view document: what the projector folds from a bisect's
//! events (table `bisects`), what `GET /api/bisect/{id}` serves, what the
//! scheduler's bisect driver decides from and what the CLI reads. One type.
//!
//! A read model like [`crate::QueueView`]: no `v`, absent values are `null`.

use serde::{Deserialize, Serialize};

use crate::BisectCommit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BisectView {
    pub id: String,
    /// `Running`, `Found`, `Inconclusive`, `Error` or `Cancelled`.
    pub status: String,
    pub source: BisectSourceView,
    /// The last commit known to pass: the resolved `good`, or, when none
    /// was given, the commit the walk-back found; `null` until known.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub good: Option<String>,
    /// The commit that fails: the `bad` ref as given until it is resolved,
    /// then its SHA.
    pub bad: String,
    /// `good` as requested; `null`: walk back from `bad`.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub good_ref: Option<String>,
    /// `bad` as requested.
    pub bad_ref: String,
    /// `null`: the worker's default profile.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub profile: Option<String>,
    pub requires: Vec<String>,
    pub tasks: Vec<BisectTaskView>,
    /// The case a step is decided by (`classname.name`); `null`: by the
    /// tasks' results.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub case: Option<String>,
    pub runs_per_step: u8,
    pub owner: String,
    /// The culprit, once `Found`.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub first_bad: Option<BisectCommit>,
    /// The first-parent range, oldest first (`bad` last); empty until resolved.
    pub commits: Vec<BisectCommit>,
    /// Steps in the order they were first queued.
    pub steps: Vec<BisectStepView>,
    /// Why it ended `Inconclusive`, `Error` or `Cancelled`.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reason: Option<String>,
    pub cancel_requested: bool,
    pub created_at: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BisectSourceView {
    pub repo: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BisectTaskView {
    pub id: String,
    pub scenario: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub timeout_s: Option<u32>,
}

/// One commit tested: its runs (queues) and, once they are over, the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BisectStepView {
    pub commit: String,
    /// `test` (the search) or `confirm` (the rerun of the culprit and its parent).
    pub phase: String,
    /// The step's queues, one per run, in run order.
    pub queues: Vec<String>,
    /// `pass`, `fail`, `flaky` or `skipped`; `null` while its runs go on.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub verdict: Option<String>,
    /// A `flaky` step's majority: `pass` or `fail` (a tie is `fail`).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub majority: Option<String>,
}

impl BisectView {
    pub fn is_ended(&self) -> bool {
        self.status != "Running"
    }

    /// The commit's line of the range, if it is in it.
    pub fn commit(&self, sha: &str) -> Option<&BisectCommit> {
        self.commits.iter().find(|c| c.commit == sha)
    }
}
