//! The projector: the only writer of the views. It follows the events stream
//! and the logs stream from the sequences it last committed, folds events
//! into queue views ([`projection::apply`]), and writes SQLite and the
//! per-queue folders. Each batch and its stream sequence commit together, so
//! a projector killed anywhere resumes without losing or doubling anything.

mod auto_quarantine;
mod bisect_projection;
mod bisect_store;
mod board_view;
mod event_batch;
mod expected_durations;
mod expiry;
mod firmware_sizes;
mod projection;
mod queue_folder;
mod retention;
mod runner;
mod snapshot;
mod stall;
mod store;
mod task_progress;
mod test_history;
mod verdict;
mod view;
mod view_counts;
mod worker_changes;

pub use retention::Retention;
pub use runner::{rebuild, run, ProjectorConfig, RebuildFrom, RebuildReport};
pub use store::open_view_db;
pub use view::{Counts, JunitView, QueueView, SourceView, StageView, TaskView};
