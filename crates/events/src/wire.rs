//! The JSON events on the events stream. This is a public contract: every
//! type here has a JSON Schema in `schemas/`, and a change to a field needs a
//! new `v` and an upcast in readers.

use serde::{Deserialize, Serialize};

use crate::fleet::{Label, Owner, Priority};
use crate::{
    BisectId, FinalStatus, GitRef, ProfileName, QueueId, RepoUrl, ScenarioPath, TaskId, TaskResult,
    WireError,
};

pub const WIRE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub v: u32,
    pub queue_id: QueueId,
    /// RFC 3339, UTC, set by the emitter.
    pub at: String,
    /// The shard of a sharded queue (`shards` > 1) whose worker wrote the
    /// event, or that a `dispatched` gives a slot; absent for an unsharded
    /// queue and for events of the queue as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u8>,
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    pub fn new(queue_id: QueueId, body: EventBody) -> Self {
        Self {
            v: WIRE_VERSION,
            queue_id,
            at: crate::now_rfc3339(),
            shard: None,
            body,
        }
    }

    /// The same event, written by shard `shard`'s worker.
    pub fn of_shard(mut self, shard: Option<u8>) -> Self {
        self.shard = shard;
        self
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing these plain structs cannot fail: no maps with non-string keys.
        serde_json::to_vec(self).expect("event serializes")
    }

    /// Parses an event; one of another wire version is a `WireError::UnknownVersion`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WireError> {
        crate::wire_version::decode(bytes)
    }
}

impl crate::wire_version::Versioned for Event {
    fn version(&self) -> u64 {
        u64::from(self.v)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// A user submitted a queue (gateway).
    Submitted {
        source: Source,
        /// `None`: the worker's default profile.
        profile: Option<ProfileName>,
        tasks: Vec<TaskSpec>,
        /// Labels a worker must have to run it (sorted, no duplicates).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        requires: Vec<Label>,
        #[serde(default, skip_serializing_if = "Priority::is_normal")]
        priority: Priority,
        /// Who it is for: the unit of fair share. Absent in events written
        /// before owners existed: `anonymous`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Owner>,
        /// Worker slots the tasks are spread over (1–64); 1 runs them in
        /// order on one worker.
        #[serde(default = "one_shard", skip_serializing_if = "is_one_shard")]
        shards: u8,
        /// The order in which shards claim the tasks (indices into `tasks`,
        /// longest recorded duration first); empty: task order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        claim_order: Vec<u16>,
        /// The bisect this queue is a step of (its driver submitted it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bisect: Option<BisectId>,
        /// The queue this one reruns (`POST /api/queue/{id}/rerun`), at
        /// that queue's resolved commit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rerun_of: Option<QueueId>,
    },
    /// The scheduler's dispatcher gave the queue to one worker; published on
    /// `<prefix>.events.<queue>.dispatched.<worker>`, the subject that
    /// worker's consumer filters on.
    Dispatched {
        worker: String,
        /// Attempts already made (a worker that died had started some):
        /// this delivery's attempt is `attempt_base` + its delivery count.
        attempt_base: u32,
        /// The stream sequence of the queue's `submitted` event.
        submitted_seq: u64,
        /// The board leased to it, for a queue of a board profile.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        board: Option<crate::BoardName>,
    },
    /// A worker took the queue; `attempt` counts deliveries, from 1.
    Started {
        worker: String,
        attempt: u32,
    },
    StageStarted {
        stage: Stage,
        attempt: u32,
    },
    StageFinished {
        stage: Stage,
        attempt: u32,
        outcome: StageOutcome,
        duration_ms: u64,
        /// The resolved commit SHA, on the checkout stage.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
        /// What the resolved commit is (subject, author, date, place in
        /// first-parent history), on the checkout stage when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit_context: Option<CommitContext>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A shard of a sharded queue takes a task from the queue's shared
    /// list. Published on `<prefix>.events.<queue>.task_claimed.<task>`,
    /// conditional on that subject's last sequence, so one shard wins.
    TaskClaimed {
        task_id: TaskId,
        attempt: u32,
    },
    /// A shard of a sharded queue builds for every shard: the others wait
    /// for its build stage and restore its outputs. Published on
    /// `<prefix>.events.<queue>.build_claimed`, conditional on that
    /// subject's last sequence, so one shard's claim is stored.
    BuildClaimed {
        attempt: u32,
        /// The build cache key (64 hex digits) the outputs are kept under.
        key: String,
    },
    /// A shard of a sharded queue ran out of tasks to claim, or stopped.
    /// The queue's `finished` comes from the shard that sees every task
    /// finished (or stopped the queue).
    ShardFinished {
        attempt: u32,
    },
    TaskStarted {
        task_id: TaskId,
        attempt: u32,
    },
    TaskFinished {
        task_id: TaskId,
        attempt: u32,
        result: TaskResult,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        junit: Option<JunitSummary>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Every try of the task in order, when it was retried (absent for
        /// a single try); `result` is the outcome over all of them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tries: Vec<TaskTry>,
    },
    /// Tasks that will not run because an earlier stage failed or the queue
    /// was cancelled are named here with their final state.
    Finished {
        status: FinalStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    CancelRequested {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Deleted {},
    /// A file of the run is in the artifacts bucket (worker): a build
    /// artifact (`task` absent) or a file a task wrote to its result dir.
    ArtifactStored {
        attempt: u32,
        #[serde(flatten)]
        artifact: ArtifactRecord,
        /// The object's name in the artifacts bucket.
        object: String,
    },
    /// The section sizes of the profile's `elf` after the build (worker).
    FirmwareMeasured {
        attempt: u32,
        /// The profile the worker ran (the default one resolved).
        profile: ProfileName,
        #[serde(flatten)]
        size: FirmwareSize,
        /// The profile's `size_budget`, when it has one: exceeding it fails
        /// the queue's verdict.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<SizeBudget>,
        /// The ELF's largest symbols (functions and objects), largest
        /// first, at most [`MAX_FIRMWARE_SYMBOLS`]; absent for an ELF
        /// without a symbol table.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        symbols: Vec<SymbolSize>,
    },
}

impl EventBody {
    /// A `submitted` with no labels required, `normal` priority and no
    /// owner (a producer that does not route: benchmarks, tests, tools).
    pub fn submitted(source: Source, profile: Option<ProfileName>, tasks: Vec<TaskSpec>) -> Self {
        Self::Submitted {
            source,
            profile,
            tasks,
            requires: Vec::new(),
            priority: Priority::Normal,
            owner: None,
            shards: 1,
            claim_order: Vec::new(),
            bisect: None,
            rerun_of: None,
        }
    }

    /// The last token of the event's subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Submitted { .. } => "submitted",
            Self::Dispatched { .. } => "dispatched",
            Self::Started { .. } => "started",
            Self::StageStarted { .. } => "stage_started",
            Self::StageFinished { .. } => "stage_finished",
            Self::TaskClaimed { .. } => "task_claimed",
            Self::BuildClaimed { .. } => "build_claimed",
            Self::ShardFinished { .. } => "shard_finished",
            Self::TaskStarted { .. } => "task_started",
            Self::TaskFinished { .. } => "task_finished",
            Self::Finished { .. } => "finished",
            Self::CancelRequested { .. } => "cancel_requested",
            Self::Deleted {} => "deleted",
            Self::ArtifactStored { .. } => "artifact_stored",
            Self::FirmwareMeasured { .. } => "firmware_measured",
        }
    }

    pub const KINDS: [&'static str; 15] = [
        "submitted",
        "dispatched",
        "started",
        "stage_started",
        "stage_finished",
        "task_claimed",
        "build_claimed",
        "shard_finished",
        "task_started",
        "task_finished",
        "finished",
        "cancel_requested",
        "deleted",
        "artifact_stored",
        "firmware_measured",
    ];
}

/// Most shards a queue may ask for.
pub const MAX_SHARDS: u8 = 64;

fn one_shard() -> u8 {
    1
}

fn is_one_shard(shards: &u8) -> bool {
    *shards == 1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub repo: RepoUrl,
    #[serde(rename = "ref")]
    pub git_ref: GitRef,
}

impl Source {
    pub fn parse(repo: &str, git_ref: &str) -> Result<Self, crate::IdError> {
        Ok(Self {
            repo: RepoUrl::parse(repo)?,
            git_ref: GitRef::parse(git_ref)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: TaskId,
    pub scenario: ScenarioPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u32>,
    /// Reruns of a `FAIL` or `TIMEOUT` (0–5); `None`: the profile's `retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u8>,
}

impl TaskSpec {
    /// A task with the profile's timeout and retries.
    pub fn parse(id: &str, scenario: &str) -> Result<Self, crate::IdError> {
        Ok(Self {
            id: TaskId::parse(id)?,
            scenario: ScenarioPath::parse(scenario)?,
            timeout_s: None,
            retries: None,
        })
    }
}

/// Most reruns a task may ask for.
pub const MAX_RETRIES: u8 = 5;

/// One try of a task that was retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTry {
    /// `PASS`, `FAIL`, `TIMEOUT` or `ERROR` (never `FLAKY`: that is the
    /// outcome of several tries).
    pub result: TaskResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Checkout,
    Build,
    Boot,
    Teardown,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checkout => "checkout",
            Self::Build => "build",
            Self::Boot => "boot",
            Self::Teardown => "teardown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    Ok,
    Failed,
    Skipped,
    Cancelled,
    /// The build's outputs were restored from the worker's build cache
    /// and the build command did not run.
    Cached,
    /// A shard of a sharded queue restored the outputs of the build
    /// another shard of the queue ran, and did not build itself.
    Shared,
}

impl StageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::Cached => "cached",
            Self::Shared => "shared",
        }
    }
}

/// One stored artifact as the `artifact_stored` event says it (the view's
/// `ArtifactView` is its read-model twin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// The checkout-relative path of a build artifact, or `<task>/<file>`
    /// for a file a task wrote to its result dir.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// The task whose result dir held the file; absent for a build artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
}

/// A checked-out commit as a person reads it, from the worker's mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct CommitContext {
    /// The first line of the message, at most [`MAX_COMMIT_SUBJECT`] bytes.
    pub subject: String,
    /// `Name <email>`.
    pub author: String,
    /// The author date, RFC 3339 in UTC.
    pub date: String,
    /// Commits before it on its first-parent chain (0 for a root commit):
    /// the order of commits along a branch, without a mirror to ask.
    pub first_parent_depth: u64,
}

/// Most bytes of a commit's subject kept.
pub const MAX_COMMIT_SUBJECT: usize = 200;

/// An ELF's section sizes as `size` (Berkeley format) counts them, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct FirmwareSize {
    /// Allocated read-only sections: code and constants.
    pub text: u64,
    /// Allocated writable sections with contents (initialised data).
    pub data: u64,
    /// Allocated writable sections without contents (zeroed at start).
    pub bss: u64,
}

impl FirmwareSize {
    /// What the image takes in flash: code, constants and the initial
    /// values of initialised data.
    pub fn flash(&self) -> u64 {
        self.text + self.data
    }

    /// What it takes in RAM at start: initialised and zeroed data.
    pub fn ram(&self) -> u64 {
        self.data + self.bss
    }
}

/// A profile's `size_budget`: the most flash and RAM its firmware may take
/// (either may be absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeBudget {
    /// Most bytes of `text` + `data`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub flash_bytes: Option<u64>,
    /// Most bytes of `data` + `bss`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub ram_bytes: Option<u64>,
}

/// One symbol of the firmware ELF's symbol table and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSize {
    /// As in the symbol table (not demangled), at most [`MAX_SYMBOL_NAME`] bytes.
    pub name: String,
    pub size: u64,
}

/// Most symbols one `firmware_measured` carries.
pub const MAX_FIRMWARE_SYMBOLS: usize = 500;
/// Most bytes of a symbol's name kept.
pub const MAX_SYMBOL_NAME: usize = 256;

/// Counts parsed from the JUnit XML a task wrote into its result directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitSummary {
    pub tests: u32,
    pub failures: u32,
    pub errors: u32,
    pub skipped: u32,
    #[serde(default)]
    pub failed_cases: Vec<String>,
    /// Every case, in file order: at most [`MAX_JUNIT_CASES`], each
    /// message at most [`MAX_JUNIT_MESSAGE`] bytes. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<JunitCase>,
}

/// Most JUnit cases one task's event and view keep.
pub const MAX_JUNIT_CASES: usize = 500;
/// Most bytes of one case's message kept.
pub const MAX_JUNIT_MESSAGE: usize = 2048;

/// One `<testcase>` of a task's JUnit XML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitCase {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classname: Option<String>,
    /// From the case's `time` attribute (seconds); 0 when absent.
    #[serde(default)]
    pub time_ms: u64,
    /// `passed`, `failed`, `error` or `skipped`.
    pub result: String,
    /// The failure's, error's or skip's `message` attribute, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_is_flat_with_a_type_tag() {
        let event = Event::new(
            QueueId::parse("q1").unwrap(),
            EventBody::Started {
                worker: "w1".into(),
                attempt: 1,
            },
        );
        let json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(json["type"], "started");
        assert_eq!(json["queue_id"], "q1");
        assert_eq!(json["v"], 1);
        assert_eq!(json["attempt"], 1);
        assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn kinds_match_the_serde_tags() {
        let body = EventBody::Deleted {};
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["type"], body.kind());
        assert!(EventBody::KINDS.contains(&body.kind()));
    }

    #[test]
    fn an_event_with_a_bad_queue_id_does_not_parse() {
        let raw = br#"{"v":1,"queue_id":"a.b","at":"x","type":"deleted"}"#;
        assert!(Event::from_json(raw).is_err());
    }
}
