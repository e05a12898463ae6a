//! Why and when a running queue must stop: cancel, delete, worker
//! shutdown, or NATS not storing what the run publishes. One signal per
//! running queue, kept in a registry the control listener reaches by queue
//! id.

use std::collections::HashMap;
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
    /// An earlier attempt finished the queue but died before its ack
    /// (delivery.rs, `History`): stop, and only acknowledge.
    AlreadyFinished,
}

impl StopReason {
    /// The queue log's last word on a stop a user asked for, so a reader of
    /// the log alone knows why it ends there; `None` for the stops that hand
    /// the queue to another attempt (its log goes on).
    pub(crate) fn final_line(&self) -> Option<String> {
        match self {
            Self::Cancelled(reason) => Some(format!("queue {reason}")),
            Self::Deleted => Some("queue deleted".into()),
            Self::Shutdown
            | Self::NatsUnreachable(_)
            | Self::QueueEnded
            | Self::AlreadyFinished => None,
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

/// A running queue, and its shard when it is sharded.
type RunKey = (QueueId, Option<u8>);

#[derive(Clone, Default)]
pub(crate) struct Registry {
    /// By queue and shard: two shards of one queue may run here.
    running: Arc<Mutex<HashMap<RunKey, StopSignal>>>,
}

impl Registry {
    pub(crate) fn register(&self, queue_id: &QueueId, shard: Option<u8>) -> StopSignal {
        let signal = StopSignal::default();
        self.lock()
            .insert((queue_id.clone(), shard), signal.clone());
        signal
    }

    pub(crate) fn unregister(&self, queue_id: &QueueId, shard: Option<u8>) {
        self.lock().remove(&(queue_id.clone(), shard));
    }

    /// Stops every run of the queue here, each shard of it.
    pub(crate) fn stop(&self, queue_id: &QueueId, reason: StopReason) {
        self.stop_where(|(id, _)| id == queue_id, &reason);
    }

    /// Stops the shards of a sharded queue that another shard ended.
    pub(crate) fn stop_shards(&self, queue_id: &QueueId) {
        self.stop_where(
            |(id, shard)| id == queue_id && shard.is_some(),
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
}
