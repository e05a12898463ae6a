//! The queue view document: what `GET /api/queue/{id}` returns, what
//! `queue_status.json` holds, and what the `view_json` column stores.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    pub id: String,
    pub status: String,
    pub source: SourceView,
    pub commit: Option<String>,
    pub profile: Option<String>,
    /// Delivery attempt of the run shown; 0 while waiting.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceView {
    pub repo: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageView {
    pub stage: String,
    /// `running`, `ok`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: String,
    pub scenario: String,
    pub timeout_s: Option<u32>,
    pub status: String,
    pub result: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub message: Option<String>,
    pub junit: Option<JunitView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JunitView {
    pub tests: u32,
    pub failures: u32,
    pub errors: u32,
    pub skipped: u32,
    pub failed_cases: Vec<String>,
}
