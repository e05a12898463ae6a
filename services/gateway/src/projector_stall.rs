//! What the projector says when it cannot write the views (a full disk):
//! its reason, announced at every retry on `<prefix>.applied.<projector>.stalled`,
//! until an empty message says it applies again. `/readyz` shows it. Core
//! NATS may drop a message, so a reason not heard again for `FORGET_AFTER`
//! is forgotten rather than kept forever.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Several of the projector's retries (2 s apart) without a word.
const FORGET_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
pub(crate) struct ProjectorStall {
    /// The last reason heard, and when.
    heard: Arc<Mutex<Option<(Instant, String)>>>,
}

impl ProjectorStall {
    /// Subscribes to the announcements; the task ends with `shutdown`.
    pub(crate) async fn start(
        client: &async_nats::Client,
        subject: String,
        shutdown: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), async_nats::SubscribeError> {
        let stall = Self::default();
        let mut subscription = client.subscribe(subject).await?;
        let heard = stall.heard.clone();
        let task = tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    message = subscription.next() => message,
                };
                let Some(message) = message else { break };
                let reason = String::from_utf8_lossy(&message.payload).into_owned();
                let mut heard = heard.lock().unwrap_or_else(|e| e.into_inner());
                *heard = (!reason.is_empty()).then(|| (Instant::now(), reason));
            }
        });
        Ok((stall, task))
    }

    /// Why the projector does not apply, if it said so lately.
    pub(crate) fn current(&self) -> Option<String> {
        let heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        heard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < FORGET_AFTER)
            .map(|(_, reason)| reason.clone())
    }
}
