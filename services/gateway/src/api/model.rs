//! Request and response bodies of the HTTP API, as the OpenAPI document shows
//! them. Queue views are read back from the JSON the projector stores
//! (`testarena_projector::QueueView`); a test keeps the two shapes in step.

use poem_openapi::Object;
use serde::Deserialize;

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// `[A-Za-z0-9_-]{1,64}`; generated when absent.
    pub id: Option<String>,
    pub source: SourceBody,
    /// A profile the workers know; the workers' default when absent.
    pub profile: Option<String>,
    /// 1 to 500 tasks, run in this order; ids unique within the queue.
    pub tasks: Vec<TaskBody>,
}

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    /// A git URL or path the workers can fetch.
    pub repo: String,
    /// Branch, tag or commit; may not start with `-`.
    #[oai(rename = "ref")]
    #[serde(rename = "ref")]
    pub git_ref: String,
}

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// `[A-Za-z0-9_-]{1,64}`, unique within the queue.
    pub id: String,
    /// Path of the scenario inside the repository (relative, no `..`).
    pub scenario: String,
    /// Overrides the profile's task timeout.
    pub timeout_s: Option<u32>,
}

#[derive(Debug, Clone, Object, Deserialize)]
pub struct QueueView {
    pub id: String,
    /// `Waiting`, `Running`, `Finished`, `Error` or `Cancelled`.
    pub status: String,
    pub source: SourceView,
    /// The commit the checkout resolved to.
    pub commit: Option<String>,
    pub profile: Option<String>,
    /// Delivery attempt shown (0 while waiting; 2+ after a worker died).
    pub attempt: u32,
    pub worker: Option<String>,
    pub submitted_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why the queue ended in `Error` or `Cancelled`.
    pub reason: Option<String>,
    pub cancel_requested: bool,
    pub counts: Counts,
    pub stages: Vec<StageView>,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Clone, Object, Deserialize)]
pub struct SourceView {
    pub repo: String,
    #[oai(rename = "ref")]
    #[serde(rename = "ref")]
    pub git_ref: String,
}

/// Tasks per state; `pass` + `fail` + `timeout` + `error` are the finished ones.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct Counts {
    pub total: u32,
    pub waiting: u32,
    pub running: u32,
    pub pass: u32,
    pub fail: u32,
    pub timeout: u32,
    pub error: u32,
    pub skipped: u32,
    pub cancelled: u32,
}

#[derive(Debug, Clone, Object, Deserialize)]
pub struct StageView {
    /// `checkout`, `build`, `boot` or `teardown`.
    pub stage: String,
    /// `running`, `ok`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Object, Deserialize)]
pub struct TaskView {
    pub id: String,
    pub scenario: String,
    pub timeout_s: Option<u32>,
    /// `Waiting`, `Running`, `Finished`, `Skipped` or `Cancelled`.
    pub status: String,
    /// For a finished task: `PASS`, `FAIL`, `TIMEOUT` or `ERROR`.
    pub result: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub message: Option<String>,
    pub junit: Option<JunitView>,
}

#[derive(Debug, Clone, Object, Deserialize)]
pub struct JunitView {
    pub tests: u32,
    pub failures: u32,
    pub errors: u32,
    pub skipped: u32,
    pub failed_cases: Vec<String>,
}

#[derive(Debug, Clone, Object)]
pub struct QueuePage {
    pub queues: Vec<QueueView>,
    /// Queues matching the filter, over all pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
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
