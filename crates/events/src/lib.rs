//! The vocabulary every TestArena service shares: validated ids, the wire
//! events and log batches that travel over NATS JetStream, the subject and
//! stream names, and the queue/task lifecycle states.
//!
//! The queue view document (`QueueView`) lives here too, so the projector,
//! the gateway and the CLI share one type, and so do the API's pages of
//! views (`QueuePage`, `ArtifactList`, `BisectList`, `WorkersPage`).
//!
//! Invariant: this crate depends on no service crate; every service depends on it.

mod bisect_event;
mod bisect_view;
mod board;
mod board_answer;
mod board_event;
mod delivery_record;
mod event_log;
mod fleet;
mod fleet_bucket;
mod ids;
mod log_attempts;
mod log_batch;
mod names;
mod pages;
mod queue_view;
mod routable;
mod size_budget;
mod size_diff;
mod size_history;
mod status;
mod streams;
mod test_event;
mod test_history;
mod test_key;
mod test_page;
mod test_state;
mod timestamp;
mod waiting;
mod wire;
mod wire_version;
mod worker_event;
mod worker_queues;

pub use bisect_event::{
    step_queue_id, BisectCommit, BisectEnd, BisectEvent, BisectEventBody, RunSide, StepPhase,
    StepVerdict, MAX_RANGE_COMMITS, MAX_RUNS_PER_STEP, MAX_WALK_BACK,
};
pub use bisect_view::{BisectSourceView, BisectStepView, BisectTaskView, BisectView};
pub use board::{
    BoardAdmission, BoardChange, BoardHistory, BoardRecord, BoardRef, BoardRun, BoardState,
    BoardView, BoardsPage, ConsoleTailRequest, HealthResult, PowerAction, PowerRequest,
};
pub use board_answer::{BoardAnswer, Reservation};
pub use board_event::{BoardEvent, BoardEventBody};
pub use delivery_record::{
    ensure_notifications_bucket, notifications_bucket_config, DeliveryKind, DeliveryRecord,
    DeliveryState, NotificationList, DELIVERY_MEMORY,
};
pub use event_log::{EventLog, EventLogError, Stored};
pub use fleet::{
    parse_labels, Label, OperatorReply, Owner, Presence, Priority, ProfileAdmission, ProfileState,
    ProfileStateView, ReadmitRequest, WorkerRecord, WorkerView, MAX_REQUIRES, MAX_WORKER_LABELS,
};
pub use fleet_bucket::{fleet_bucket_config, watch_registry, RegistryChange, FLEET_MEMORY};
pub use ids::{
    BisectId, BoardName, CaseName, GitRef, IdError, ProfileName, QueueId, RepoUrl, ScenarioPath,
    TaskId,
};
pub use log_attempts::LogAttempts;
pub use log_batch::{LineProgress, LogBatch, LogLine, LogStream};
pub use names::{ArenaNames, QUEUE_LOG_FILE, QUEUE_STATUS_FILE};
pub use pages::{ArtifactList, BisectCreated, BisectList, BisectSteps, QueuePage, WorkersPage};
pub use queue_view::{
    ArtifactView, Counts, JunitCaseView, JunitView, QueueView, ShardView, SourceView, StageView,
    TaskProgress, TaskView, TryView,
};
pub use routable::{check_routable, describe_needs, Unroutable};
pub use size_budget::{over_budget, percent_of};
pub use size_diff::{
    size_diff, Measured, SizeChanges, SizeDiff, SizeDiffBase, SymbolChange, SIZE_DIFF_TOP,
};
pub use size_history::{SizeEntry, SizeHistory, SizeSource, SizeSources};
pub use status::{FinalStatus, QueueStatus, TaskResult, TaskState};
pub use streams::{await_streams, ensure_streams, streams_exist, StreamLimits};
pub use test_event::{TestEvent, TestEventBody, MAX_REASON};
pub use test_history::{
    flip_rate, window_figures, RecentRun, TestRun, TestSummary, WindowFigures,
    DEFAULT_FLAKY_FLIP_RATE, DEFAULT_WINDOW,
};
pub use test_key::{TestKey, TestRef, MAX_CASE_NAME};
pub use test_page::{failure_groups, FailureGroup, QuarantineRecord};
pub use test_state::{FailureNote, FailureNoteKind, RunOutcome, TestState, FAILING_STREAK};
pub use timestamp::{now_millis, now_rfc3339, rfc3339_of_millis};
pub use waiting::{WaitingInfo, WaitingReply, WaitingRequest};
pub use wire::{
    ArtifactRecord, CommitContext, Event, EventBody, FirmwareSize, JunitCase, JunitSummary,
    SizeBudget, Source, Stage, StageOutcome, SymbolSize, TaskSpec, TaskTry, MAX_COMMIT_SUBJECT,
    MAX_FIRMWARE_SYMBOLS, MAX_JUNIT_CASES, MAX_JUNIT_MESSAGE, MAX_RETRIES, MAX_SHARDS,
    MAX_SYMBOL_NAME, WIRE_VERSION,
};
pub use wire_version::WireError;
pub use worker_event::{
    bounded_reason, WorkerChange, WorkerEvent, WorkerEventBody, MAX_WORKER_REASON,
};
pub use worker_queues::{running_by_worker, RunningQueue};
