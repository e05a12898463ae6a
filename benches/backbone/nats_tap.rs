//! A plain core-NATS subscriber that stamps each message the moment it
//! arrives, as any subscriber of the arena would see it. The stamping task
//! belongs to the [`Tap`] and ends with it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct Received {
    pub message: async_nats::Message,
    pub at: Instant,
    /// Wall clock at arrival, ns since the epoch (to compare with a stamp
    /// another process wrote).
    pub wall_ns: u128,
}

impl Received {
    /// `(queue_id, kind)` of an `arena.events.<queue_id>.<kind>` subject.
    pub fn event(&self) -> (&str, &str) {
        let mut tokens = self.message.subject.as_str().split('.').skip(2);
        (
            tokens.next().unwrap_or_default(),
            tokens.next().unwrap_or_default(),
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.message.payload).unwrap_or_default()
    }
}

pub struct Tap {
    rx: mpsc::UnboundedReceiver<Received>,
    task: JoinHandle<()>,
}

impl Tap {
    /// Subscribes to every subject and returns once the server has them.
    pub async fn subscribe(client: &async_nats::Client, subjects: &[String]) -> Result<Self> {
        let mut subscriptions = Vec::new();
        for subject in subjects {
            subscriptions.push(client.subscribe(subject.clone()).await?);
        }
        client.flush().await?;
        let mut merged = futures_util::stream::select_all(subscriptions);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(message) = merged.next().await {
                let received = Received {
                    message,
                    at: Instant::now(),
                    wall_ns: wall_ns(),
                };
                if tx.send(received).is_err() {
                    break;
                }
            }
        });
        Ok(Self { rx, task })
    }

    /// The next message, or `None` once `deadline` passes.
    pub async fn next_before(&mut self, deadline: Instant) -> Option<Received> {
        tokio::time::timeout_at(deadline.into(), self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Skips messages until one satisfies `wanted`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        wanted: impl Fn(&Received) -> bool,
    ) -> Result<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_before(deadline).await {
                Some(received) if wanted(&received) => return Ok(received),
                Some(_) => {}
                None => bail!("no {what} within {timeout:?}"),
            }
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
