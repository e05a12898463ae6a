//! The queue view document the projector writes: what `GET /api/queue/{id}`
//! returns, what `queue_status.json` holds, and what the `view_json` column
//! stores. The one type lives in `testarena-events`, shared with the gateway
//! and the CLI.

pub use testarena_events::{
    Counts, JunitCaseView, JunitView, QueueView, ShardView, SourceView, StageView, TaskView,
};
