//! Events about a bisect: the search for the first commit where a test
//! fails. A bisect is not a queue (its steps are), so its events live on
//! `<prefix>.bisect.<bisect_id>.<kind>`, in the events stream beside the
//! queues' and tests' events. A public contract with schemas in
//! `schemas/bisect/`, versioned like [`crate::Event`].
//!
//! The range event carries each commit's subject and author, so the view
//! and a restarted driver never need git to show or continue a bisect.

use serde::{Deserialize, Serialize};

use crate::fleet::{Label, Owner};
use crate::{
    BisectId, CaseName, GitRef, ProfileName, QueueId, RepoUrl, TaskSpec, WireError, WIRE_VERSION,
};

/// Most runs a step may ask for (`runs_per_step`); a mixed step reruns up to twice as many.
pub const MAX_RUNS_PER_STEP: u8 = 10;
/// Most first-parent commits a range may hold (the range event carries them all).
pub const MAX_RANGE_COMMITS: usize = 1000;
/// How far back, in first-parent commits, a bisect without `good` looks for a pass.
pub const MAX_WALK_BACK: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectEvent {
    pub v: u32,
    pub bisect_id: BisectId,
    /// RFC 3339, UTC, set by the emitter.
    pub at: String,
    #[serde(flatten)]
    pub body: BisectEventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BisectEventBody {
    /// A user asked for a bisect (gateway). `good` absent: the driver walks
    /// back from `bad` until a step passes.
    Requested {
        repo: RepoUrl,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        good: Option<GitRef>,
        bad: GitRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile: Option<ProfileName>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        requires: Vec<Label>,
        tasks: Vec<TaskSpec>,
        /// Bisect by this case of the tasks' cases (JUnit or console):
        /// a step is decided by the case's result, not the task's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        case: Option<CaseName>,
        runs_per_step: u8,
        owner: Owner,
    },
    /// The refs resolved and the first-parent history between them:
    /// `commits` oldest first, `bad` last; with `good`, it is first.
    RangeResolved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        good: Option<String>,
        bad: String,
        commits: Vec<BisectCommit>,
    },
    /// A run of a step was submitted as the queue `queue_id`.
    StepQueued {
        commit: String,
        phase: StepPhase,
        run: u8,
        queue_id: QueueId,
    },
    /// A step's runs are over and decided.
    StepDecided {
        commit: String,
        phase: StepPhase,
        verdict: StepVerdict,
        /// Which way a `flaky` step's majority went (a tie counts as `fail`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        majority: Option<RunSide>,
    },
    /// Without `good`: the walk-back found a commit that passes.
    GoodFound {
        commit: String,
    },
    /// The bisect is over.
    Ended {
        status: BisectEnd,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_bad: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    CancelRequested {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Deleted {},
}

impl BisectEventBody {
    /// The last token of the event's subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Requested { .. } => "requested",
            Self::RangeResolved { .. } => "range_resolved",
            Self::StepQueued { .. } => "step_queued",
            Self::StepDecided { .. } => "step_decided",
            Self::GoodFound { .. } => "good_found",
            Self::Ended { .. } => "ended",
            Self::CancelRequested { .. } => "cancel_requested",
            Self::Deleted {} => "deleted",
        }
    }

    pub const KINDS: [&'static str; 8] = [
        "requested",
        "range_resolved",
        "step_queued",
        "step_decided",
        "good_found",
        "ended",
        "cancel_requested",
        "deleted",
    ];
}

/// One commit of the range, as the range event carries it and the view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BisectCommit {
    /// Full SHA.
    pub commit: String,
    /// The first line of the message.
    pub subject: String,
    /// `Name <email>`.
    pub author: String,
}

/// `test`: a step of the search (endpoints, walk-back, halving);
/// `confirm`: the rerun of the culprit and its parent before `Found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    Test,
    Confirm,
}

impl StepPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Confirm => "confirm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    Pass,
    Fail,
    /// Runs disagreed; decided by majority over up to twice the runs.
    Flaky,
    /// The commit could not be tested (its build failed): searched around.
    Skipped,
}

impl StepVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Flaky => "flaky",
            Self::Skipped => "skipped",
        }
    }
}

/// The side a run, or a flaky step's majority, came down on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunSide {
    Pass,
    Fail,
}

impl RunSide {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
        }
    }
}

/// How a bisect ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BisectEnd {
    Found,
    Inconclusive,
    Error,
    Cancelled,
}

impl BisectEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Found => "Found",
            Self::Inconclusive => "Inconclusive",
            Self::Error => "Error",
            Self::Cancelled => "Cancelled",
        }
    }
}

impl BisectEvent {
    pub fn new(bisect_id: BisectId, body: BisectEventBody) -> Self {
        Self {
            v: WIRE_VERSION,
            bisect_id,
            at: crate::now_rfc3339(),
            body,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("bisect event serializes")
    }

    /// Parses a bisect event; one of another wire version is a `WireError::UnknownVersion`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WireError> {
        crate::wire_version::decode(bytes)
    }
}

impl crate::wire_version::Versioned for BisectEvent {
    fn version(&self) -> u64 {
        u64::from(self.v)
    }
}

/// The queue id of one run of a step: derived, so a restarted driver that
/// decides the same run again submits the same id, which the submit's
/// conditional publish refuses to store twice.
pub fn step_queue_id(bisect: &BisectId, commit: &str, phase: StepPhase, run: u8) -> QueueId {
    let short: String = commit.chars().take(12).collect();
    let tag = match phase {
        StepPhase::Test => 'r',
        StepPhase::Confirm => 'c',
    };
    QueueId::parse(format!("{bisect}-{short}-{tag}{run}"))
        .expect("a bisect id, 12 hex digits and a run number make a queue id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_decision_is_flat_with_its_kind_as_type() {
        let event = BisectEvent::new(
            BisectId::parse("b1").unwrap(),
            BisectEventBody::StepDecided {
                commit: "abc".into(),
                phase: StepPhase::Test,
                verdict: StepVerdict::Flaky,
                majority: Some(RunSide::Fail),
            },
        );
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["type"], event.body.kind());
        assert_eq!(json["bisect_id"], "b1");
        assert_eq!(json["verdict"], "flaky");
        assert_eq!(json["majority"], "fail");
        assert_eq!(BisectEvent::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn step_queue_ids_are_valid_for_the_longest_bisect_id() {
        let bisect = BisectId::parse("b".repeat(BisectId::MAX_LEN)).unwrap();
        let id = step_queue_id(&bisect, &"f".repeat(40), StepPhase::Confirm, 20);
        assert!(id.as_str().ends_with("-ffffffffffff-c20"));
        assert!(BisectId::parse("b".repeat(BisectId::MAX_LEN + 1)).is_err());
    }
}
