//! The queue view document: what the projector writes (the `view_json`
//! column and `queue_status.json`), what `GET /api/queue/{id}` serves and
//! what the CLI reads. One type, so the three cannot drift apart.
//!
//! It is a read model, not a wire event: it has no `v`, and an absent value
//! is `null` (every `Option` field is present and marked nullable in the
//! OpenAPI document). With the `openapi` feature the types are also
//! poem-openapi `Object`s, so the gateway's document is derived from them.

use serde::{Deserialize, Serialize};

use crate::{Priority, QueueStatus, TaskResult};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct QueueView {
    pub id: String,
    /// `Waiting`, `Running`, `Finished`, `Error` or `Cancelled`.
    pub status: QueueStatus,
    pub source: SourceView,
    /// The commit the checkout resolved to.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub commit: Option<String>,
    /// What that commit is (subject, author, date, first-parent depth),
    /// as the worker read it at checkout; `null` before, or when unread.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub commit_context: Option<crate::CommitContext>,
    /// `null`: the worker's default profile.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub profile: Option<String>,
    /// Labels a worker must have to run it (`requires` of the submit).
    #[serde(default)]
    pub requires: Vec<String>,
    /// `high`, `normal` or `low`.
    #[serde(default)]
    pub priority: Priority,
    /// Who it is for: the unit of fair share.
    #[serde(default = "anonymous_owner")]
    pub owner: String,
    /// While `Waiting`: 1 = the next to start among the queues its workers
    /// could take; `null` otherwise. The gateway's dispatcher fills it when
    /// serving the view; it is not stored.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub position: Option<u32>,
    /// While `Waiting`: why it has not started ("waiting for a worker with
    /// profile qemu-arm and board=x", "waiting for a free slot"). Filled
    /// like `position`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub waiting_reason: Option<String>,
    /// While `Waiting`: `true` when some live worker offers and admits its
    /// profile and labels (it waits for a free slot, so an ETA means
    /// something), `false` when none can run it now. Filled like `position`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub worker_available: Option<bool>,
    /// Delivery attempt of the run shown (0 while waiting; 2+ after a worker died).
    pub attempt: u32,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub worker: Option<String>,
    pub submitted_at: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub started_at: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub finished_at: Option<String>,
    /// Why the queue ended in `Error` or `Cancelled`, or why a `Finished`
    /// one failed beyond its tasks (its firmware over its size budget).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reason: Option<String>,
    /// The one-word outcome of an ended queue: `passed` (`Finished`, every
    /// task `PASS`), `failed` (`Finished`, any other task result), `error`
    /// (`Error`) or `cancelled` (`Cancelled`); `null` until it ends.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub verdict: Option<String>,
    pub cancel_requested: bool,
    /// The shards of a sharded queue (`shards` > 1 in the submit), each
    /// with the worker that runs it; empty for an unsharded queue.
    #[serde(default)]
    pub shards: Vec<ShardView>,
    pub counts: Counts,
    pub stages: Vec<StageView>,
    pub tasks: Vec<TaskView>,
    /// Files of the shown attempt stored in the artifacts bucket, in the
    /// order they were stored.
    #[serde(default)]
    pub artifacts: Vec<ArtifactView>,
    /// Section sizes of the profile's `elf` after the build; `null` when
    /// the profile names none or it was not read.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub firmware: Option<crate::FirmwareSize>,
    /// The profile's `size_budget` the firmware was held to; `null`
    /// without one. Over it, a finished queue's verdict is `failed` and
    /// `reason` says by how much ("flash 103 % of budget").
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub firmware_budget: Option<crate::SizeBudget>,
    /// The bisect this queue is a step of; `null` for an ordinary queue.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub bisect: Option<String>,
    /// The queue this one reruns (at its resolved commit); `null` for a
    /// queue submitted anew.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub rerun_of: Option<String>,
    /// When `--retention-days` expired the queue: its log batches, its
    /// events but `submitted` and how it ended, and its artifacts left
    /// JetStream (the log answers 410); the view, its test history and
    /// sizes stay. `null` while retained.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub log_expired_at: Option<String>,
}

/// One stored artifact, as the view lists it and
/// `GET /api/queue/{id}/artifacts` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ArtifactView {
    /// A build artifact's path in the checkout, or `<task>/<file>`.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// The task whose result dir held the file; `null` for a build artifact.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub task: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SourceView {
    pub repo: String,
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "openapi", oai(rename = "ref"))]
    pub git_ref: String,
}

/// Tasks per state, each task counted once: the counts other than `total`
/// add up to `total`. `pass` + `fail` + `timeout` + `error` + `flaky` +
/// `quarantined` are the finished ones; `quarantined` counts finished tasks
/// whose `FAIL` or `TIMEOUT` a quarantine excuses (and they are in neither
/// `fail` nor `timeout`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Counts {
    pub total: u32,
    pub waiting: u32,
    pub running: u32,
    pub pass: u32,
    pub fail: u32,
    pub timeout: u32,
    pub error: u32,
    /// Failed, then passed on a retry.
    #[serde(default)]
    pub flaky: u32,
    pub skipped: u32,
    pub cancelled: u32,
    #[serde(default)]
    pub quarantined: u32,
}

/// One shard of a sharded queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ShardView {
    /// 0 to `shards` - 1.
    pub shard: u8,
    /// `waiting` (no worker took it yet), `running` or `finished` (it ran
    /// out of tasks to claim, or stopped).
    pub status: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub worker: Option<String>,
    /// Delivery attempt of this shard (0 while waiting; 2+ after its
    /// worker died and another took its tasks over).
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct StageView {
    /// `checkout`, `build`, `boot` or `teardown`.
    pub stage: String,
    /// `running`, `ok`, `failed`, `skipped`, `cancelled`, `cached` (the
    /// build restored from a build cache) or `shared` (a shard restored
    /// the build another shard of the queue ran).
    pub status: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub started_at: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub finished_at: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub duration_ms: Option<u64>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub message: Option<String>,
    /// The shard whose stage this is; `null` for an unsharded queue.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub shard: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskView {
    pub id: String,
    pub scenario: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub timeout_s: Option<u32>,
    /// `Waiting`, `Running`, `Finished`, `Skipped` or `Cancelled`.
    pub status: String,
    /// For a finished task: `PASS`, `FAIL`, `TIMEOUT`, `ERROR` or `FLAKY`
    /// (failed, then passed on a retry).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub result: Option<TaskResult>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub exit_code: Option<i32>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub duration_ms: Option<u64>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub started_at: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub finished_at: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub message: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub junit: Option<JunitView>,
    /// How far a running task of the shown attempt got, from its output
    /// (`progress_regex` or "case 12 of 25", "[12/25]"); `null` otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub progress: Option<TaskProgress>,
    /// Duration of the last `PASS` or `FAIL` run of this task id, with the
    /// same repository and profile, in an earlier queue; `null` when none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub expected_duration_ms: Option<u64>,
    /// Every try, in order, when the task was retried; empty for one try.
    #[serde(default)]
    pub tries: Vec<TryView>,
    /// The task's `FAIL` or `TIMEOUT` is excused: the task, or every failed
    /// JUnit case of it, is quarantined. It does not fail the queue.
    #[serde(default)]
    pub quarantined: bool,
    /// The worker that ran (runs) it; `null` until it starts.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub worker: Option<String>,
    /// The shard that ran it, for a sharded queue; `null` otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub shard: Option<u8>,
}

/// One try of a retried task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TryView {
    /// `PASS`, `FAIL`, `TIMEOUT` or `ERROR`.
    pub result: TaskResult,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

/// `done` of `total` steps of a running task, as its output last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskProgress {
    pub done: u32,
    pub total: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct JunitView {
    pub tests: u32,
    pub failures: u32,
    pub errors: u32,
    pub skipped: u32,
    pub failed_cases: Vec<String>,
    /// Every case, in file order; at most 500, each message at most 2 KiB.
    #[serde(default)]
    pub cases: Vec<JunitCaseView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct JunitCaseView {
    pub name: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub classname: Option<String>,
    pub time_ms: u64,
    /// `passed`, `failed`, `error` or `skipped`.
    pub result: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub message: Option<String>,
}

fn anonymous_owner() -> String {
    crate::Owner::ANONYMOUS.to_owned()
}

impl QueueView {
    /// True once the queue can no longer change (`Finished`, `Error`, `Cancelled`).
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The view's words are enums in Rust and the same strings in
    /// `view_json` and on the API as when they were `String`s.
    #[test]
    fn statuses_results_and_priority_keep_their_words() {
        let task = serde_json::json!({
            "id": "t1", "scenario": "t.sh", "timeout_s": null, "status": "Finished",
            "result": "FLAKY", "exit_code": 0, "duration_ms": 5, "started_at": null,
            "finished_at": null, "message": null, "junit": null,
            "tries": [{"result": "TIMEOUT", "exit_code": null, "duration_ms": 3}]
        });
        let view = serde_json::json!({
            "id": "q", "status": "Waiting", "source": {"repo": "/r", "ref": "main"},
            "commit": null, "profile": null, "priority": "high", "attempt": 0,
            "worker": null, "submitted_at": "2026-01-01T00:00:00Z", "started_at": null,
            "finished_at": null, "reason": null, "cancel_requested": false,
            "counts": Counts::default(), "stages": [], "tasks": [task]
        });
        let parsed: QueueView = serde_json::from_value(view).unwrap();
        assert_eq!(
            (parsed.status, parsed.priority, parsed.tasks[0].result),
            (
                QueueStatus::Waiting,
                Priority::High,
                Some(TaskResult::Flaky)
            )
        );
        assert_eq!(parsed.tasks[0].tries[0].result, TaskResult::Timeout);
        let written = serde_json::to_value(&parsed).unwrap();
        assert_eq!(
            (&written["status"], &written["priority"]),
            (&serde_json::json!("Waiting"), &serde_json::json!("high"))
        );
        assert_eq!(written["tasks"][0]["result"], "FLAKY");
        assert_eq!(written["tasks"][0]["tries"][0]["result"], "TIMEOUT");
        assert!(parsed.status == "Waiting" && parsed.priority == "high");
        assert_eq!(
            format!("[{:<8}]", parsed.tasks[0].result.unwrap()),
            "[FLAKY   ]"
        );
    }

    #[test]
    fn a_view_without_a_priority_is_normal() {
        let view = serde_json::json!({
            "id": "q", "status": "Finished", "source": {"repo": "/r", "ref": "main"},
            "commit": null, "profile": null, "attempt": 1, "worker": null,
            "submitted_at": "2026-01-01T00:00:00Z", "started_at": null,
            "finished_at": null, "reason": null, "cancel_requested": false,
            "counts": Counts::default(), "stages": [], "tasks": []
        });
        let parsed: QueueView = serde_json::from_value(view).unwrap();
        assert_eq!(parsed.priority, Priority::Normal);
        assert!(parsed.is_terminal());
    }
}
