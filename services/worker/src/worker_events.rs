//! What this worker decides about itself goes on the event log as worker
//! events (`<prefix>.workers.<id>.<kind>`), by this worker: a profile it
//! quarantined after failed boots, and one its health command took back;
//! and board events (`<prefix>.boards.<id>.<board>.<kind>`) for what it
//! decides about its boards (board_health.rs).
//! An operator's drain and readmit are recorded by the gateway, which knows
//! who asked. Deciding code only sends on the channel (it holds a mutex and
//! must not wait on NATS); one task publishes, a few tries each.

use std::time::Duration;

use async_nats::jetstream;
use testarena_events::{ArenaNames, BoardEvent, WorkerEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Tries per event before it is given up (logged): a record, not a
/// decision, so NATS being away for long loses it rather than blocking.
const TRIES: u32 = 5;

/// One event this worker decided: about itself, or about one of its boards.
pub(crate) enum Own {
    Worker(WorkerEvent),
    Board(BoardEvent),
}

impl Own {
    fn subject_and_body(&self, names: &ArenaNames) -> (String, Vec<u8>, &'static str) {
        match self {
            Self::Worker(e) => (
                names.worker_event_subject(&e.worker, e.body.kind()),
                e.to_json(),
                e.body.kind(),
            ),
            Self::Board(e) => (
                names.board_event_subject(&e.worker, &e.board, e.body.kind()),
                e.to_json(),
                e.body.kind(),
            ),
        }
    }
}

/// Where deciding code sends this worker's events.
#[derive(Clone)]
pub(crate) struct WorkerEvents(mpsc::UnboundedSender<Own>);

impl WorkerEvents {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Own>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self(sender), receiver)
    }

    pub fn send(&self, event: WorkerEvent) {
        // The publisher is gone only at shutdown: nothing to record then.
        let _ = self.0.send(Own::Worker(event));
    }

    pub fn send_board(&self, event: BoardEvent) {
        let _ = self.0.send(Own::Board(event));
    }
}

/// Publishes each event sent until `shutdown`.
pub(crate) async fn publish(
    js: jetstream::Context,
    names: ArenaNames,
    mut events: mpsc::UnboundedReceiver<Own>,
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
        let (subject, body, kind) = event.subject_and_body(&names);
        let mut backoff = Duration::from_millis(200);
        for attempt in 1..=TRIES {
            let stored = match js.publish(subject.clone(), body.clone().into()).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match stored {
                Ok(()) => break,
                Err(error) if attempt == TRIES => {
                    tracing::warn!(%error, kind, "could not record this worker's change")
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
}
