//! Publishes one run's events through the run's [`Publisher`]: each is
//! retried until stored, within the run's bound (publish.rs). An event that
//! cannot be stored aborts the run without acknowledging it, so the queue
//! is redelivered rather than lost. Each event's message id is unique to
//! its run and position, so a retry after a lost ack is stored once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use testarena_events::{ArenaNames, Event, EventBody, QueueId};

use crate::log_batcher::shard_tag;
use crate::publish::{PublishError, Publisher};

#[derive(Debug, thiserror::Error)]
#[error("could not store a {kind} event for queue {queue_id}: {source}")]
pub(crate) struct EmitError {
    kind: &'static str,
    queue_id: QueueId,
    source: PublishError,
}

#[derive(Clone)]
pub(crate) struct Emitter {
    publisher: Publisher,
    names: ArenaNames,
    pub queue_id: QueueId,
    pub attempt: u32,
    /// The shard of a sharded queue this run is: every event says it.
    pub shard: Option<u8>,
    /// Events emitted by this run so far: the tail of each message id.
    emitted: Arc<AtomicU64>,
}

impl Emitter {
    pub(crate) fn new(
        publisher: Publisher,
        names: ArenaNames,
        queue_id: QueueId,
        attempt: u32,
    ) -> Self {
        Self {
            publisher,
            names,
            queue_id,
            attempt,
            shard: None,
            emitted: Arc::default(),
        }
    }

    /// The emitter of shard `shard` of a sharded queue.
    pub(crate) fn for_shard(mut self, shard: Option<u8>) -> Self {
        self.shard = shard;
        self
    }

    /// The run's way into JetStream, shared with its log batcher.
    pub(crate) fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    pub(crate) async fn emit(&self, body: EventBody) -> Result<u64, EmitError> {
        let kind = body.kind();
        let subject = self.names.event_subject(&self.queue_id, kind);
        let payload = Event::new(self.queue_id.clone(), body)
            .of_shard(self.shard)
            .to_json();
        let n = self.emitted.fetch_add(1, Ordering::Relaxed);
        let message_id = format!(
            "{}:{}{}:{}:{n}",
            self.queue_id,
            self.attempt,
            shard_tag(self.shard),
            kind
        );
        self.publisher
            .publish(&subject, &message_id, payload.into())
            .await
            .map_err(|source| EmitError {
                kind,
                queue_id: self.queue_id.clone(),
                source,
            })
    }
}
