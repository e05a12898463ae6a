//! What this worker decides about itself goes on the event log as worker
//! events (`<prefix>.workers.<id>.<kind>`), by this worker: a profile it
//! quarantined after failed boots, and one its health command took back.
//! An operator's drain and readmit are recorded by the gateway, which knows
//! who asked. Deciding code only sends on the channel (it holds a mutex and
//! must not wait on NATS); one task publishes, a few tries each.

use std::time::Duration;

use async_nats::jetstream;
use testarena_events::{ArenaNames, WorkerEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Tries per event before it is given up (logged): a record, not a
/// decision, so NATS being away for long loses it rather than blocking.
const TRIES: u32 = 5;

/// Where deciding code sends this worker's events.
#[derive(Clone)]
pub(crate) struct WorkerEvents(mpsc::UnboundedSender<WorkerEvent>);

impl WorkerEvents {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<WorkerEvent>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self(sender), receiver)
    }

    pub fn send(&self, event: WorkerEvent) {
        // The publisher is gone only at shutdown: nothing to record then.
        let _ = self.0.send(event);
    }
}

/// Publishes each event sent until `shutdown`.
pub(crate) async fn publish(
    js: jetstream::Context,
    names: ArenaNames,
    mut events: mpsc::UnboundedReceiver<WorkerEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let subject = names.worker_event_subject(&event.worker, event.body.kind());
        let mut backoff = Duration::from_millis(200);
        for attempt in 1..=TRIES {
            let stored = match js.publish(subject.clone(), event.to_json().into()).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match stored {
                Ok(()) => break,
                Err(error) if attempt == TRIES => {
                    tracing::warn!(%error, kind = event.body.kind(), "could not record this worker's change")
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
}
