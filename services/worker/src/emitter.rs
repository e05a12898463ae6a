//! Publishes one run's events. Every event is retried until JetStream has
//! stored it (bounded): an event that cannot be stored aborts the run
//! without acknowledging it, so the queue is redelivered rather than lost.
//! Each event carries a message id unique to its run and position, so a
//! retry after a lost ack (a broker failover) is stored once, not twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;

use async_nats::jetstream;
use testarena_events::{ArenaNames, Event, EventBody, QueueId};

/// How long an event is retried before the run is abandoned: long enough to
/// ride out a JetStream leader election or a NATS restart.
const RETRY_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
#[error("could not store a {kind} event for queue {queue_id}: {message}")]
pub(crate) struct EmitError {
    kind: &'static str,
    queue_id: QueueId,
    message: String,
}

#[derive(Clone)]
pub(crate) struct Emitter {
    js: jetstream::Context,
    names: ArenaNames,
    pub queue_id: QueueId,
    pub attempt: u32,
    /// Events emitted by this run so far: the tail of each message id.
    emitted: Arc<AtomicU64>,
}

impl Emitter {
    pub(crate) fn new(
        js: jetstream::Context,
        names: ArenaNames,
        queue_id: QueueId,
        attempt: u32,
    ) -> Self {
        Self {
            js,
            names,
            queue_id,
            attempt,
            emitted: Arc::default(),
        }
    }

    pub(crate) async fn emit(&self, body: EventBody) -> Result<u64, EmitError> {
        let kind = body.kind();
        let subject = self.names.event_subject(&self.queue_id, kind);
        let payload = Event::new(self.queue_id.clone(), body).to_json();
        let n = self.emitted.fetch_add(1, Ordering::Relaxed);
        let message_id = format!("{}:{}:{}:{n}", self.queue_id, self.attempt, kind);
        let mut backoff = Duration::from_millis(50);
        let mut last_error = String::new();
        let started = std::time::Instant::now();
        while started.elapsed() < RETRY_FOR {
            let publish = PublishMessage::build()
                .payload(payload.clone().into())
                .message_id(&message_id);
            let result = match self.js.send_publish(subject.clone(), publish).await {
                Ok(ack) => ack.await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(ack) => return Ok(ack.sequence),
                Err(e) => {
                    tracing::warn!(error = %e, kind, queue_id = %self.queue_id, "publishing an event failed; retrying");
                    last_error = e;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        Err(EmitError {
            kind,
            queue_id: self.queue_id.clone(),
            message: last_error,
        })
    }
}
