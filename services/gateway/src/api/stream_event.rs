//! One SSE event of the log stream as it is on the wire. Its own module so
//! the route (`log_stream.rs`) and what produces the events
//! (`log_follower.rs`) both depend on it and not on each other.

use poem_openapi::Object;

/// One SSE event as it is on the wire (the document describes one event,
/// the media type says there are many).
#[derive(Debug, Clone, Object)]
pub(crate) struct StreamEvent {
    /// `log`, a queue event type (`started`, `task_finished`, ...), or `end`.
    pub event: String,
    /// For `log` events: the batch's log stream sequence, for `Last-Event-ID`.
    pub id: Option<String>,
    /// JSON. For `log`: `{attempt, shard?, lines: [{ts_ms, source, stream, text}]}`
    /// (`shard`: the shard of a sharded queue whose worker read the lines);
    /// for queue events: the event as emitted; for `end`: the final queue
    /// view (`null` if the queue was deleted).
    pub data: String,
}
