//! Publishes one run's events through the run's [`Publisher`]: each is
//! retried until stored, within the run's bound (publish.rs). An event that
//! cannot be stored aborts the run without acknowledging it, so the queue
//! is redelivered rather than lost. Each event's message id is unique to
//! its run and position, so a retry after a lost ack is stored once.
//!
//! Acknowledgements are pipelined: [`Emitter::send`] writes the event and
//! goes on, a watcher per event awaits its acknowledgement (retrying as
//! above, retries in send order), and [`Emitter::emit`] — used where
//! something depends on the event being stored, such as `finished` before
//! the queue's ack — first waits for every earlier one, oldest first, then
//! sends its own and waits for it. The pipeline waits for what it sent while
//! each task runs (pipeline.rs), so only the events written back to back
//! before a task starts are ever in flight together: a stage's events no
//! longer each cost a round trip before the task starts. What stays true:
//! - nothing lost: an event whose watcher gives up stops the run at once
//!   (its commands are stopped, as when a log batch cannot be stored), and
//!   the next `emit` fails, so the run never says `finished`;
//! - order: events are written in order on one connection, retried in
//!   order, and the stream sequences acknowledged are checked to rise in
//!   emit order. An earlier event stored after a later one (a publish lost
//!   while the one written right after it was stored: a broker failing
//!   between the two) abandons the run like a lost one: its next attempt
//!   writes the queue's history anew. Nothing is sent after an event not
//!   yet known stored but the events of that same burst.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use testarena_events::{ArenaNames, Event, EventBody, QueueId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::log_batcher::shard_tag;
use crate::publish::{PublishError, Publisher};
use crate::stop_signal::StopReason;

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
    in_flight: Arc<Mutex<InFlight>>,
    /// Held while waiting for events to be stored, so two waiters cannot
    /// see their sequences in the wrong order.
    settling: Arc<tokio::sync::Mutex<()>>,
}

/// Events sent and not yet seen stored, oldest first, and the stream
/// sequence of the last one seen stored.
#[derive(Default)]
struct InFlight {
    watchers: VecDeque<Watcher>,
    last_sequence: u64,
    /// Fires when the last event sent is stored or given up (and every
    /// one before it).
    last_done: Option<oneshot::Receiver<()>>,
}

/// One event's acknowledgement being awaited.
struct Watcher {
    kind: &'static str,
    stored: JoinHandle<Result<u64, PublishError>>,
}

impl Drop for InFlight {
    /// A run dropped with events in flight (its future cut short) leaves no
    /// watcher behind.
    fn drop(&mut self) {
        for watcher in &self.watchers {
            watcher.stored.abort();
        }
    }
}

/// Until the event before is stored or given up; at once if there is none
/// or it was awaited already.
async fn earlier_done(earlier: &mut Option<oneshot::Receiver<()>>) {
    if let Some(done) = earlier.take() {
        // An error: its watcher was aborted with the run.
        let _ = done.await;
    }
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
            in_flight: Arc::default(),
            settling: Arc::default(),
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

    /// Writes the event and returns without waiting for it to be stored;
    /// fails at once only when the run is already lost.
    pub(crate) async fn send(&self, body: EventBody) -> Result<(), EmitError> {
        let kind = body.kind();
        let subject = self.names.event_subject(&self.queue_id, kind);
        let payload = Event::new(self.queue_id.clone(), body)
            .of_shard(self.shard)
            .to_json();
        let payload = bytes::Bytes::from(payload);
        let n = self.emitted.fetch_add(1, Ordering::Relaxed);
        let message_id = format!(
            "{}:{}{}:{}:{n}",
            self.queue_id,
            self.attempt,
            shard_tag(self.shard),
            kind
        );
        // Written to the connection here, so events leave in send order.
        let sent = self
            .publisher
            .send(&subject, &message_id, payload)
            .await
            .map_err(|source| self.error(kind, source))?;
        let publisher = self.publisher.clone();
        let mut in_flight = self.lock();
        // Retries go in send order: an event published again waits until
        // every earlier one is stored (or given up), so a failover that
        // lost several in flight stores them again in order.
        let (done, next_waits) = oneshot::channel();
        let mut earlier = in_flight.last_done.replace(next_waits);
        let stored = tokio::spawn(async move {
            let stored = publisher.stored(sent, earlier_done(&mut earlier)).await;
            if let Err(error) = &stored {
                tracing::error!(%error, kind, "an event could not be stored; stopping the run");
                let why = format!("{kind} event: {error}");
                publisher.stop_run(StopReason::NatsUnreachable(why));
            }
            earlier_done(&mut earlier).await;
            let _ = done.send(());
            stored
        });
        in_flight.watchers.push_back(Watcher { kind, stored });
        Ok(())
    }

    /// Waits until every event sent before is stored, then sends this one
    /// and waits until it is stored: nothing after an event that is not
    /// stored reaches the stream this way (`finished` above all).
    pub(crate) async fn emit(&self, body: EventBody) -> Result<(), EmitError> {
        self.stored().await?;
        self.send(body).await?;
        self.stored().await
    }

    /// Waits until every event sent so far is stored; the first that is
    /// not, or that was stored out of order, fails the run.
    pub(crate) async fn stored(&self) -> Result<(), EmitError> {
        let _settling = self.settling.lock().await;
        loop {
            let Some(Watcher { kind, stored }) = self.lock().watchers.pop_front() else {
                return Ok(());
            };
            let sequence = stored
                .await
                .unwrap_or_else(|e| Err(PublishError::RunLost(format!("its watcher ended: {e}"))))
                .map_err(|source| self.error(kind, source))?;
            let mut in_flight = self.lock();
            if sequence <= in_flight.last_sequence {
                let why = PublishError::OutOfOrder {
                    sequence,
                    after: in_flight.last_sequence,
                };
                self.publisher
                    .stop_run(StopReason::NatsUnreachable(why.to_string()));
                return Err(self.error(kind, why));
            }
            in_flight.last_sequence = sequence;
        }
    }

    fn error(&self, kind: &'static str, source: PublishError) -> EmitError {
        EmitError {
            kind,
            queue_id: self.queue_id.clone(),
            source,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}
