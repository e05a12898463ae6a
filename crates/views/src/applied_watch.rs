//! Lets a request wait until this service's projector has applied a given
//! events-stream sequence, so a client's next read sees its own write.
//!
//! The projector announces each committed sequence on core NATS; as core
//! NATS may drop a message, a waiter also re-reads the committed offset from
//! the database every few tens of milliseconds.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::views::Views;

const POLL_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct AppliedWatch {
    applied: watch::Sender<u64>,
    views: Views,
}

impl AppliedWatch {
    /// Subscribes to the projector's announcements; the returned task ends
    /// with `shutdown`.
    pub async fn start(
        client: &async_nats::Client,
        subject: String,
        views: Views,
        shutdown: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), async_nats::SubscribeError> {
        let (applied, _) = watch::channel(0);
        let mut subscription = client.subscribe(subject).await?;
        let sender = applied.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    message = subscription.next() => {
                        let Some(message) = message else { break };
                        if let Some(seq) = std::str::from_utf8(&message.payload).ok().and_then(|s| s.parse().ok()) {
                            sender.send_if_modified(|current| raise(current, seq));
                        }
                    }
                }
            }
        });
        Ok((Self { applied, views }, task))
    }

    /// The views at `db_path` (opened lazily) and a watch of the sequence
    /// their projector announces on `subject`: what a reader of the views
    /// that waits for its own writes needs. The task ends with `shutdown`.
    pub async fn open_views(
        client: &async_nats::Client,
        subject: String,
        db_path: &std::path::Path,
        shutdown: CancellationToken,
    ) -> Result<(Views, Self, JoinHandle<()>), async_nats::SubscribeError> {
        let views = Views::open_lazy(db_path);
        let (applied, task) = Self::start(client, subject, views.clone(), shutdown).await?;
        Ok((views, applied, task))
    }

    /// True once `seq` is applied; false if `timeout` passes first.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut receiver = self.applied.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if *receiver.borrow_and_update() >= seq {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let slice = POLL_EVERY.min(deadline - now);
            if tokio::time::timeout(slice, receiver.changed())
                .await
                .is_err()
            {
                if let Ok(committed) = self.views.applied_events().await {
                    self.applied
                        .send_if_modified(|current| raise(current, committed));
                }
            }
        }
    }
}

fn raise(current: &mut u64, seq: u64) -> bool {
    if seq > *current {
        *current = seq;
        true
    } else {
        false
    }
}
