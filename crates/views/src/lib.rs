//! The read side of the projector's SQLite views: every SQL read of the
//! gateway and the scheduler (`views.rs`; the queue list in `queue_list.rs`,
//! the test list in `test_list.rs`), and the wait until the projector has
//! applied a stream sequence (`applied_watch.rs`); the workers' running
//! queues and state changes (`worker_views.rs`); the boards view
//! (`board_views.rs`). Read-only: only the projector writes a view.

mod applied_watch;
mod board_views;
#[cfg(test)]
mod query_plan;
mod queue_list;
mod test_list;
mod views;
mod worker_views;

pub use applied_watch::AppliedWatch;
pub use board_views::StoredBoard;
pub use queue_list::{ListedPage, PageStart, QueueFilter, COUNT_CAP};
pub use test_list::TestPage;
pub use views::{
    MeasuredRow, MetricsCounts, StoredHistory, StoredTest, TestFilter, Views, ViewsError,
};
