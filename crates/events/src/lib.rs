//! The vocabulary every TestArena service shares: validated ids, the wire
//! events and log batches that travel over NATS JetStream, the subject and
//! stream names, and the queue/task lifecycle states.
//!
//! The queue view document (`QueueView`) lives here too, so the projector,
//! the gateway and the CLI share one type.
//!
//! Invariant: this crate depends on no service crate; every service depends on it.

mod ids;
mod log_batch;
mod names;
mod queue_view;
mod size_history;
mod status;
mod streams;
mod timestamp;
mod wire;
mod wire_version;

pub use ids::{GitRef, IdError, ProfileName, QueueId, RepoUrl, ScenarioPath, TaskId};
pub use log_batch::{LineProgress, LogBatch, LogLine, LogStream};
pub use names::{ArenaNames, QUEUE_LOG_FILE, QUEUE_STATUS_FILE};
pub use queue_view::{
    ArtifactView, Counts, JunitCaseView, JunitView, QueueView, SourceView, StageView, TaskProgress,
    TaskView,
};
pub use size_history::{SizeEntry, SizeHistory};
pub use status::{FinalStatus, QueueStatus, TaskResult, TaskState};
pub use streams::{await_streams, ensure_streams, streams_exist, StreamLimits};
pub use timestamp::{now_millis, now_rfc3339};
pub use wire::{
    ArtifactRecord, Event, EventBody, FirmwareSize, JunitCase, JunitSummary, Source, Stage,
    StageOutcome, TaskSpec, MAX_JUNIT_CASES, MAX_JUNIT_MESSAGE, WIRE_VERSION,
};
pub use wire_version::WireError;
