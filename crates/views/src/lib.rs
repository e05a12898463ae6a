//! The read side of the projector's SQLite views: every SQL read of the
//! gateway and the scheduler (`views.rs`), and the wait until the projector
//! has applied a stream sequence (`applied_watch.rs`); the workers' running
//! queues and state changes (`worker_views.rs`). Read-only: only the
//! projector writes a view.

mod applied_watch;
mod views;
mod worker_views;

pub use applied_watch::AppliedWatch;
pub use views::{
    MeasuredRow, MetricsCounts, QueueFilter, StoredHistory, StoredTest, TestFilter, Views,
    ViewsError,
};
