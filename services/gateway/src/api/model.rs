//! Request and response bodies of the HTTP API, as the OpenAPI document shows
//! them. The queue view itself is `testarena_events::QueueView`, the one type
//! the projector writes and the CLI reads; so are the pages of views the
//! CLI reads too (`QueuePage`, `BisectList`, ...).

use poem_openapi::Object;
use serde::Deserialize;
pub use testarena_events::{
    ArtifactList, ArtifactView, BisectCreated, BisectList, QueuePage, QueueView,
};

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// `[A-Za-z0-9_-]{1,64}`; generated when absent (or `null`).
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: Option<String>,
    pub source: SourceBody,
    /// A profile the workers know; the workers' default when absent (or `null`).
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub profile: Option<String>,
    /// 1 to 500 tasks, run in this order; ids unique within the queue.
    #[oai(validator(min_items = 1, max_items = 500))]
    pub tasks: Vec<TaskBody>,
    /// 0 to 16 labels (`key=value`) a worker must have to run the queue.
    #[oai(default, validator(max_items = 16))]
    #[serde(default)]
    pub requires: Vec<String>,
    /// `high`, `normal` (when absent) or `low`.
    #[oai(nullable, validator(pattern = r"^(high|normal|low)$"))]
    #[serde(default)]
    pub priority: Option<String>,
    /// Who the queue is for, the unit of fair share: 1 to 64 characters,
    /// no spaces. When absent: the name of the API token used, else
    /// `anonymous`.
    #[oai(
        nullable,
        validator(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$"
        )
    )]
    #[serde(default)]
    pub owner: Option<String>,
    /// Worker slots to spread the tasks over, 1 (when absent) to 64: each
    /// shard checks out, builds and boots on its own slot and takes tasks
    /// from the queue's shared list, longest recorded duration first.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "64")))]
    #[serde(default)]
    pub shards: Option<u8>,
}

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    /// A git URL or path the workers can fetch: not blank, at most 2048
    /// bytes, no control characters, not starting with `-` or `ext::`.
    #[oai(validator(
        min_length = 1,
        max_length = 2048,
        pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub repo: String,
    /// Branch, tag or commit: 1 to 255 bytes, no whitespace or `..`, not
    /// starting with `-`.
    #[oai(
        rename = "ref",
        validator(
            min_length = 1,
            max_length = 255,
            pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    #[serde(rename = "ref")]
    pub git_ref: String,
}

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// `[A-Za-z0-9_-]{1,64}`, unique within the queue.
    #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    /// Path of the scenario inside the repository: relative, at most 1024
    /// bytes, no `..` segment, no `:` or control characters.
    #[oai(validator(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^-/\\\s:\x00-\x1f\x7f-\x9f][^:\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub scenario: String,
    /// Overrides the profile's task timeout, in seconds (`null`: the profile's).
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "604800")))]
    pub timeout_s: Option<u32>,
    /// Reruns of a `FAIL` or `TIMEOUT`, 0 to 5 (`null`: the profile's
    /// `retries`). A task that fails and then passes ends `FLAKY`.
    #[serde(default)]
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "5")))]
    pub retries: Option<u8>,
}

#[derive(Debug, Clone, Object)]
pub struct EventList {
    /// The queue's events in stream order, each as emitted (see `schemas/`).
    pub events: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Object)]
pub struct Accepted {
    pub id: String,
    /// Events-stream sequence of the event this request published.
    pub seq: u64,
}

/// `GET /api/tests`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct TestList {
    /// Ordered by repo, profile, task, case: one page, at most `limit`.
    pub tests: Vec<testarena_events::TestSummary>,
    /// The `cursor` of the next page; `null` on the last.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Tests the filters select, on every page: exact up to 10000; when
    /// more match, 10000 and `total_capped` is `true`.
    pub total: u64,
    /// `true` when more than 10000 tests match, so `total` (10000) is a
    /// lower bound: "10,000+".
    pub total_capped: bool,
}

/// `GET /api/tests/history`: one test and its runs, newest first; its runs
/// in bisect step queues apart.
#[derive(Debug, Clone, Object)]
pub struct TestHistoryPage {
    /// Its state and figures over its last 30 runs (bisect runs left out).
    pub test: testarena_events::TestSummary,
    /// Its runs in ordinary queues, newest first.
    pub runs: Vec<testarena_events::TestRun>,
    /// Its runs in bisect step queues, newest first, each with its
    /// `bisect`: kept apart, and left out of the test's state and flip rate.
    pub bisect_runs: Vec<testarena_events::TestRun>,
    /// The failed runs of `runs`, grouped by their message's first line,
    /// the most frequent first.
    pub failures: Vec<testarena_events::FailureGroup>,
    /// Its quarantines and their ends, newest first: who, when, why.
    pub quarantines: Vec<testarena_events::QuarantineRecord>,
}

/// `POST /api/tests/quarantine`.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRequest {
    /// The repository URL, exactly as queues submit it.
    #[oai(validator(
        min_length = 1,
        max_length = 2048,
        pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub repo: String,
    /// `null` or absent: the worker's default profile.
    #[serde(default)]
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub profile: Option<String>,
    /// The task id.
    #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub task: String,
    /// A JUnit case (`classname.name`, 1 to 512 bytes, no control
    /// characters); `null` or absent: the task itself.
    #[serde(default)]
    #[oai(
        nullable,
        validator(
            min_length = 1,
            max_length = 512,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
        )
    )]
    pub case: Option<String>,
    /// Why: shown wherever the quarantine is (1 to 1024 bytes, not blank).
    #[oai(validator(min_length = 1, max_length = 1024, pattern = r"\S"))]
    pub reason: String,
}

/// `DELETE /api/tests/quarantine`.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnquarantineRequest {
    #[oai(validator(
        min_length = 1,
        max_length = 2048,
        pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub repo: String,
    #[serde(default)]
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub profile: Option<String>,
    #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub task: String,
    #[serde(default)]
    #[oai(
        nullable,
        validator(
            min_length = 1,
            max_length = 512,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
        )
    )]
    pub case: Option<String>,
    /// Why it ends, if said (at most 1024 bytes; empty is the same as none).
    #[serde(default)]
    #[oai(nullable, validator(max_length = 1024))]
    pub reason: Option<String>,
}

/// A quarantine change stored in the events stream whose view did not
/// catch up in time.
#[derive(Debug, Clone, Object)]
pub struct TestEventAccepted {
    /// The event's sequence in the events stream.
    pub seq: u64,
}

/// `POST /api/bisect`.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BisectRequest {
    /// At most 40 of `[A-Za-z0-9_-]`; generated when absent (or `null`).
    #[serde(default)]
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9_-]{1,40}$"))]
    pub id: Option<String>,
    pub source: BisectSourceBody,
    /// The last commit known to pass (ref or SHA); absent (or `null`): the
    /// search walks back from `bad` along first parents (`bad~1`, `~2`,
    /// `~4`, … at most 64 commits or the root) until a step passes.
    #[serde(default)]
    #[oai(
        nullable,
        validator(
            min_length = 1,
            max_length = 255,
            pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub good: Option<String>,
    /// The commit that fails (ref or SHA).
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub bad: String,
    /// A profile the workers know; the workers' default when absent (or `null`).
    #[serde(default)]
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub profile: Option<String>,
    /// 0 to 16 labels (`key=value`) a worker must have to run the steps.
    #[oai(default, validator(max_items = 16))]
    #[serde(default)]
    pub requires: Vec<String>,
    /// The failing tasks: 1 to 500, ids unique.
    #[oai(validator(min_items = 1, max_items = 500))]
    pub tasks: Vec<BisectTaskBody>,
    /// Runs per step, 1 to 10 (default 1). A step passes only if all its
    /// runs pass and fails only if all fail; a mixed step reruns up to
    /// twice as many and is decided by majority (`flaky`).
    #[serde(default)]
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "10")))]
    pub runs_per_step: Option<u8>,
    /// Bisect by one case of the tasks' cases (JUnit or console), named as
    /// the test history names it (`classname.name`, or the name alone): a
    /// step passes or fails with that case; a commit where it did not run
    /// is skipped. Absent (or `null`): by the tasks' results.
    #[serde(default)]
    #[oai(
        nullable,
        validator(
            min_length = 1,
            max_length = 512,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
        )
    )]
    pub case: Option<String>,
}

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BisectSourceBody {
    /// A git URL or path the workers (and the gateway) can fetch.
    #[oai(validator(
        min_length = 1,
        max_length = 2048,
        pattern = r"^[^-\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub repo: String,
}

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BisectTaskBody {
    /// `[A-Za-z0-9_-]{1,64}`, unique within the bisect.
    #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    /// Path of the scenario inside the repository, as in a queue's task.
    #[oai(validator(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^-/\\\s:\x00-\x1f\x7f-\x9f][^:\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub scenario: String,
    /// Overrides the profile's task timeout, in seconds (`null`: the profile's).
    #[serde(default)]
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "604800")))]
    pub timeout_s: Option<u32>,
}
