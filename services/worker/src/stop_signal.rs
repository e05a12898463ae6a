//! Why and when a running queue must stop: cancel, delete, worker
//! shutdown, or NATS not storing what the run publishes. One signal per
//! running queue, kept in a registry the control listener reaches by queue
//! id. The registry also knows which `dispatched` message each run serves
//! and when it last showed it is alive, so a redelivery of a dispatch whose
//! run here goes on is told apart (delivery.rs decides what to do with it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// When a run last showed it is alive: its registration, then each
/// in-progress ack its heartbeat sent (queue_run.rs).
#[derive(Clone)]
pub(crate) struct Pulse(Arc<Mutex<Instant>>);

impl Pulse {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    pub(crate) fn beat(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn silent(&self) -> Duration {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

/// What the registry keeps of one delivery.
#[derive(Clone)]
struct Held {
    signal: StopSignal,
    /// The stream sequence of the `dispatched` message it serves.
    dispatch_seq: u64,
    pulse: Pulse,
}

/// This worker's run of a dispatch delivered again, as the registry sees
/// it: what delivery.rs needs to tell a live run from one that is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldRun {
    /// It was told to stop (cancel, delete, shutdown, NATS, superseded).
    pub stopped: bool,
    /// How long since it registered or last sent an in-progress ack.
    pub silent: Duration,
}

#[derive(Clone, Default)]
pub(crate) struct Registry {
    running: Arc<Mutex<HashMap<RunKey, Held>>>,
    registered: Arc<AtomicU64>,
}

/// A delivery's place in the registry, left when this is dropped.
pub(crate) struct Registration {
    registry: Registry,
    key: RunKey,
    held: Held,
}

impl Registration {
    pub(crate) fn signal(&self) -> &StopSignal {
        &self.held.signal
    }

    pub(crate) fn pulse(&self) -> Pulse {
        self.held.pulse.clone()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.key);
    }
}

impl Registry {
    pub(crate) fn register(
        &self,
        queue_id: &QueueId,
        shard: Option<u8>,
        dispatch_seq: u64,
    ) -> Registration {
        let number = self.registered.fetch_add(1, Ordering::Relaxed);
        let key = (queue_id.clone(), shard, number);
        let held = Held {
            signal: StopSignal::default(),
            dispatch_seq,
            pulse: Pulse::new(),
        };
        self.lock().insert(key.clone(), held.clone());
        Registration {
            registry: self.clone(),
            key,
            held,
        }
    }

    /// This worker's run of the dispatch at `dispatch_seq` (of the queue's
    /// `shard`), if it holds one; the liveliest when it holds several.
    pub(crate) fn held(
        &self,
        queue_id: &QueueId,
        shard: Option<u8>,
        dispatch_seq: u64,
    ) -> Option<HeldRun> {
        self.lock()
            .iter()
            .filter(|((id, s, _), held)| {
                id == queue_id && *s == shard && held.dispatch_seq == dispatch_seq
            })
            .map(|(_, held)| HeldRun {
                stopped: held.signal.token().is_cancelled(),
                silent: held.pulse.silent(),
            })
            .min_by_key(|run| (run.stopped, run.silent))
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
        for (key, held) in self.lock().iter() {
            if matches(key) {
                held.signal.stop(reason.clone());
            }
        }
    }

    pub(crate) fn stop_all(&self, reason: StopReason) {
        for held in self.lock().values() {
            held.signal.stop(reason.clone());
        }
    }

    pub(crate) fn busy(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunKey, Held>> {
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
        let running = registry.register(&queue, None, 7);
        let redelivered = registry.register(&queue, None, 7);
        drop(redelivered);
        assert_eq!(registry.busy(), 1, "the run it superseded is still there");
        registry.stop(&queue, StopReason::Deleted);
        assert_eq!(running.signal().reason(), Some(StopReason::Deleted));
        drop(running);
        assert_eq!(registry.busy(), 0);
    }

    #[test]
    fn a_redelivered_dispatch_finds_the_run_that_serves_it_until_it_ends() {
        let registry = Registry::default();
        let queue = QueueId::parse("q1").unwrap();
        let running = registry.register(&queue, Some(1), 7);
        let live = registry
            .held(&queue, Some(1), 7)
            .expect("the run of dispatch 7");
        assert!(!live.stopped);
        assert!(live.silent < Duration::from_secs(5));
        assert_eq!(registry.held(&queue, Some(1), 8), None, "another dispatch");
        assert_eq!(registry.held(&queue, Some(0), 7), None, "another shard");
        running.signal().stop(StopReason::Shutdown);
        assert!(registry.held(&queue, Some(1), 7).unwrap().stopped);
        drop(running);
        assert_eq!(registry.held(&queue, Some(1), 7), None, "it ended");
    }
}
