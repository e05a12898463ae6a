//! Why and when a running queue must stop: cancel, delete, worker
//! shutdown, or NATS not storing what the run publishes. One signal per
//! running queue, kept in a registry the control listener reaches by queue
//! id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use testarena_events::QueueId;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A user cancelled: the queue ends `Cancelled`.
    Cancelled(String),
    /// The queue was deleted: stop, emit `Cancelled`, purge late logs.
    Deleted,
    /// This worker is shutting down: hand the queue back for redelivery.
    Shutdown,
    /// NATS did not store this run's messages within the bound
    /// (publish.rs): stop, settle nothing; JetStream redelivers the queue.
    NatsUnreachable(String),
    /// Another shard of this sharded queue ended it (`finished`): this
    /// shard only says it stopped.
    QueueEnded,
    /// A later dispatch or attempt took the queue over while this run was
    /// not heard from (supersession.rs): stop, settle nothing. The line
    /// saying so is published by supersession.rs, the run's last.
    Superseded(String),
}

impl StopReason {
    /// The queue log's last word on a stop a user asked for, so a reader of
    /// the log alone knows why it ends there; `None` for the stops that hand
    /// the queue to another attempt (its log goes on).
    pub(crate) fn final_line(&self) -> Option<String> {
        match self {
            Self::Cancelled(reason) => Some(format!("queue {reason}")),
            Self::Deleted => Some("queue deleted".into()),
            Self::Shutdown | Self::NatsUnreachable(_) | Self::QueueEnded | Self::Superseded(_) => {
                None
            }
        }
    }
}

#[derive(Clone, Default)]
pub(crate) struct StopSignal {
    token: CancellationToken,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl StopSignal {
    /// The first reason wins: a delete after a cancel is still a cancel in
    /// progress, and vice versa.
    pub(crate) fn stop(&self, reason: StopReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.token.cancel();
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub(crate) fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A delivery of a queue (its shard when it is sharded) this worker holds;
/// the number tells two deliveries of one queue apart (a redelivery read
/// while the run it superseded still ends).
type RunKey = (QueueId, Option<u8>, u64);

#[derive(Clone, Default)]
pub(crate) struct Registry {
    running: Arc<Mutex<HashMap<RunKey, StopSignal>>>,
    registered: Arc<AtomicU64>,
}

/// A delivery's place in the registry, left when this is dropped.
pub(crate) struct Registration {
    registry: Registry,
    key: RunKey,
    signal: StopSignal,
}

impl Registration {
    pub(crate) fn signal(&self) -> &StopSignal {
        &self.signal
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.key);
    }
}

impl Registry {
    pub(crate) fn register(&self, queue_id: &QueueId, shard: Option<u8>) -> Registration {
        let number = self.registered.fetch_add(1, Ordering::Relaxed);
        let key = (queue_id.clone(), shard, number);
        let signal = StopSignal::default();
        self.lock().insert(key.clone(), signal.clone());
        Registration {
            registry: self.clone(),
            key,
            signal,
        }
    }

    /// Stops every run of the queue here, each shard of it.
    pub(crate) fn stop(&self, queue_id: &QueueId, reason: StopReason) {
        self.stop_where(|(id, _, _)| id == queue_id, &reason);
    }

    /// Stops the shards of a sharded queue that another shard ended.
    pub(crate) fn stop_shards(&self, queue_id: &QueueId) {
        self.stop_where(
            |(id, shard, _)| id == queue_id && shard.is_some(),
            &StopReason::QueueEnded,
        );
    }

    fn stop_where(&self, matches: impl Fn(&RunKey) -> bool, reason: &StopReason) {
        for (key, signal) in self.lock().iter() {
            if matches(key) {
                signal.stop(reason.clone());
            }
        }
    }

    pub(crate) fn stop_all(&self, reason: StopReason) {
        for signal in self.lock().values() {
            signal.stop(reason.clone());
        }
    }

    pub(crate) fn busy(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunKey, StopSignal>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_or_delete_ends_the_log_with_who_did_it_and_a_hand_back_does_not() {
        let cancel = StopReason::Cancelled("cancelled by a user".into());
        assert_eq!(
            cancel.final_line().as_deref(),
            Some("queue cancelled by a user")
        );
        assert_eq!(
            StopReason::Deleted.final_line().as_deref(),
            Some("queue deleted")
        );
        assert_eq!(StopReason::Shutdown.final_line(), None);
        assert_eq!(StopReason::NatsUnreachable("x".into()).final_line(), None);
    }

    #[test]
    fn two_deliveries_of_one_queue_are_both_stopped_and_each_leaves_alone() {
        let registry = Registry::default();
        let queue = QueueId::parse("q1").unwrap();
        let running = registry.register(&queue, None);
        let redelivered = registry.register(&queue, None);
        drop(redelivered);
        assert_eq!(registry.busy(), 1, "the run it superseded is still there");
        registry.stop(&queue, StopReason::Deleted);
        assert_eq!(running.signal().reason(), Some(StopReason::Deleted));
        drop(running);
        assert_eq!(registry.busy(), 0);
    }
}
