//! A shard's way to the queue's one build: it follows the queue's events
//! (`build_sharing.rs` decides from them), claims the build where nobody
//! builds, and otherwise waits for the claimer's build stage, bounded by
//! the profile's build timeout, past which it takes the claim over.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::{self};
use futures_util::StreamExt;
use testarena_events::{ArenaNames, Event, EventBody, QueueId};
use tokio::time::Instant;

use crate::build_sharing::{BuildClaims, Next};
use crate::task_claims::{publish_if_last, Conditional};

/// What this shard does at its build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildTurn {
    /// It holds the claim: it builds.
    Build,
    /// Shard `shard` built: restore its outputs.
    Restore { shard: u8 },
    /// Shard `shard`'s build failed with `reason`.
    Fail { shard: u8, reason: String },
}

/// One shard of one queue, as its build claim names it.
#[derive(Clone)]
pub(crate) struct BuildShare {
    pub js: jetstream::Context,
    pub names: ArenaNames,
    pub queue_id: QueueId,
    pub shard: u8,
    pub attempt: u32,
}

impl BuildShare {
    /// Follows the queue's events until this shard's turn is clear; `wait`
    /// bounds the wait for one claimer's build.
    pub(crate) async fn turn(&self, key: &str, wait: Duration) -> anyhow::Result<BuildTurn> {
        let stream = self
            .js
            .get_stream_no_info(&self.names.events_stream)
            .await
            .context("opening the events stream")?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::All,
                filter_subject: self.names.queue_events_filter(&self.queue_id),
                ..Default::default()
            })
            .await
            .context("reading the queue's events")?;
        let mut events = consumer
            .messages()
            .await
            .context("reading the queue's events")?;
        let mut claims = BuildClaims::default();
        let mut caught_up = false;
        let mut deadline = Instant::now() + wait;
        loop {
            if caught_up {
                let next = claims.next(self.shard, self.attempt);
                if let Some(turn) = self.act(next, key).await? {
                    return Ok(turn);
                }
            }
            let message = tokio::select! {
                message = events.next() => message,
                _ = tokio::time::sleep_until(deadline) => {
                    deadline = Instant::now() + wait;
                    match self.act(claims.take_over(), key).await? {
                        Some(turn) => return Ok(turn),
                        None => continue,
                    }
                }
            };
            let message = message
                .context("the queue's events ended")?
                .context("reading the queue's events")?;
            let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            if let Ok(event) = Event::from_json(&message.payload) {
                if matches!(event.body, EventBody::BuildClaimed { .. }) {
                    // A new claim is a new build: its own bound.
                    deadline = Instant::now() + wait;
                }
                claims.apply(seq, &event);
            }
            caught_up |= pending == 0;
        }
    }

    /// Does what `next` says; `None` while there is more to wait for (a
    /// build running, or a claim lost to another shard's).
    async fn act(&self, next: Next, key: &str) -> anyhow::Result<Option<BuildTurn>> {
        Ok(match next {
            Next::Wait { .. } => None,
            Next::Restore { shard } => Some(BuildTurn::Restore { shard }),
            Next::Fail { shard, reason } => Some(BuildTurn::Fail { shard, reason }),
            Next::Claim { expected_last } => match self.claim(key, expected_last).await? {
                Conditional::Stored => Some(BuildTurn::Build),
                Conditional::Lost => None,
            },
        })
    }

    async fn claim(&self, key: &str, expected_last: u64) -> anyhow::Result<Conditional> {
        let body = EventBody::BuildClaimed {
            attempt: self.attempt,
            key: key.to_owned(),
        };
        let event = Event::new(self.queue_id.clone(), body).of_shard(Some(self.shard));
        let message_id = format!(
            "{}:{}:s{}:build:{expected_last}",
            self.queue_id, self.attempt, self.shard
        );
        let subject = self.names.build_claim_subject(&self.queue_id);
        publish_if_last(&self.js, subject, message_id, &event, expected_last).await
    }
}
