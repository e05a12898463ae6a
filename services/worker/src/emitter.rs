//! Publishes one run's events. Every event is retried until JetStream has
//! stored it (bounded): an event that cannot be stored aborts the run
//! without acknowledging it, so the queue is redelivered rather than lost.

use std::time::Duration;

use async_nats::jetstream;
use testarena_events::{ArenaNames, Event, EventBody, QueueId};

const ATTEMPTS: u32 = 8;

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
        }
    }

    pub(crate) async fn emit(&self, body: EventBody) -> Result<u64, EmitError> {
        let kind = body.kind();
        let subject = self.names.event_subject(&self.queue_id, kind);
        let payload = Event::new(self.queue_id.clone(), body).to_json();
        let mut backoff = Duration::from_millis(50);
        let mut last_error = String::new();
        for _ in 0..ATTEMPTS {
            let result = match self
                .js
                .publish(subject.clone(), payload.clone().into())
                .await
            {
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
