//! How far the events stream has got. Read just before a mirror fetch
//! begins, it tells which queues that fetch serves: every queue whose
//! `submitted` event the stream already held was submitted before the fetch
//! began, so the fetch saw everything its user pushed before submitting.
//! Sequence numbers come from one server (the stream's leader), so unlike
//! timestamps they need no agreement between the clocks of hosts.

use async_nats::jetstream;

#[derive(Clone)]
pub(crate) struct StreamPosition {
    js: jetstream::Context,
    stream: String,
}

impl StreamPosition {
    pub(crate) fn new(js: jetstream::Context, stream: String) -> Self {
        Self { js, stream }
    }

    /// The stream's last sequence now, or `None` if the server did not say
    /// (then a fetch serves only the queue that made it).
    pub(crate) async fn last_sequence(&self) -> Option<u64> {
        match self.js.get_stream(&self.stream).await {
            Ok(stream) => Some(stream.cached_info().state.last_sequence),
            Err(e) => {
                tracing::warn!(stream = %self.stream, error = %e, "reading the events stream's position failed");
                None
            }
        }
    }
}
