//! Whether a run still holds its queue. A worker whose whole session was
//! paused (SIGSTOP, a VM snapshot, a host under memory pressure) stops
//! heartbeating; the scheduler rightly dispatches its queue again and the
//! next attempt runs elsewhere. When the paused run wakes it must not carry
//! on. So every heartbeat, and before any publish after two heartbeats
//! without a check (a woken process's timers fire late; its publishes may
//! come first), the run reads the queue's dispatches after its own and its
//! last `started`: a later dispatch of its shard or a higher attempt
//! supersedes it. It then stops as a cancel would, publishes one log line
//! saying why and nothing more (publish.rs asks here first), and settles
//! nothing: the queue is its successor's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage, stream::DirectGetErrorKind};
use testarena_events::{
    now_millis, ArenaNames, Event, EventBody, LogBatch, LogLine, LogStream, QueueId, WIRE_VERSION,
};
use tokio::task::JoinHandle;

use crate::log_batcher::shard_tag;
use crate::publish::PublishError;
use crate::stop_signal::{StopReason, StopSignal};

/// How long the one line saying why may take to be stored, per try.
const SAY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which run of which queue this is.
#[derive(Debug, Clone)]
pub(crate) struct RunIdentity {
    pub queue_id: QueueId,
    /// `None`: the queue is not sharded.
    pub shard: Option<u8>,
    pub attempt: u32,
    /// The stream sequence of the `dispatched` event this run serves.
    pub dispatch_seq: u64,
}

/// The run that took the queue over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Successor {
    pub attempt: u32,
    pub worker: String,
}

/// Pure: the first later dispatch of the run's shard (its worker and
/// `attempt_base`) and the queue's last `started` (worker, attempt, shard)
/// → who superseded the run, if anyone did.
pub(crate) fn successor(
    run: &RunIdentity,
    later_dispatch: Option<(String, u32)>,
    last_started: Option<(String, u32, Option<u8>)>,
) -> Option<Successor> {
    if let Some((worker, attempt, shard)) = last_started {
        if shard == run.shard && attempt > run.attempt {
            return Some(Successor { attempt, worker });
        }
    }
    later_dispatch.map(|(worker, attempt_base)| Successor {
        attempt: attempt_base.saturating_add(1).max(run.attempt + 1),
        worker,
    })
}

/// The one line a superseded run publishes; a silence of two heartbeats or
/// more before the check means this worker was paused.
pub(crate) fn superseded_line(
    attempt: u32,
    successor: &Successor,
    silent: Duration,
    heartbeat: Duration,
) -> String {
    let Successor {
        attempt: next,
        worker,
    } = successor;
    if silent >= heartbeat * 2 {
        format!(
            "attempt {attempt} was superseded by attempt {next} on {worker} while this worker \
             was paused ({}s without a heartbeat); stopping",
            silent.as_secs()
        )
    } else {
        format!("attempt {attempt} was superseded by attempt {next} on {worker}; stopping")
    }
}

/// One run's watch over whether it still holds its queue.
#[derive(Clone)]
pub(crate) struct Supersession {
    inner: Arc<Inner>,
}

struct Inner {
    js: jetstream::Context,
    names: ArenaNames,
    run: RunIdentity,
    heartbeat: Duration,
    stop: StopSignal,
    /// When a check last ran, by both clocks: a paused VM's monotonic clock
    /// may stand still, a stopped process's wall clock does not.
    checked: Mutex<(Instant, SystemTime)>,
    /// The line said, once the run was found superseded; held while checking.
    verdict: tokio::sync::Mutex<Option<String>>,
    superseded: AtomicBool,
}

impl Supersession {
    pub(crate) fn new(
        js: jetstream::Context,
        names: ArenaNames,
        run: RunIdentity,
        heartbeat: Duration,
        stop: StopSignal,
    ) -> Self {
        let inner = Inner {
            js,
            names,
            run,
            heartbeat,
            stop,
            checked: Mutex::new((Instant::now(), SystemTime::now())),
            verdict: tokio::sync::Mutex::new(None),
            superseded: AtomicBool::new(false),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Checks every heartbeat until the run is superseded; the caller owns
    /// the handle and aborts it when the run ends. A tick that comes late
    /// (the process was stopped) fires at once on waking.
    pub(crate) fn watch(&self) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.inner.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if this.check(true).await.is_some() {
                    return;
                }
            }
        })
    }

    /// Before a publish of the run: at once while checks are recent, else
    /// after one; a superseded run publishes nothing.
    pub(crate) async fn before_publish(&self) -> Result<(), PublishError> {
        let fresh = self.silent() < self.inner.heartbeat * 2;
        if !self.inner.superseded.load(Ordering::Acquire) && fresh {
            return Ok(());
        }
        match self.check(false).await {
            Some(line) => Err(PublishError::Superseded(line)),
            None => Ok(()),
        }
    }

    /// How long since the last check, by the clock that says longer.
    fn silent(&self) -> Duration {
        let (instant, wall) = *self.lock();
        let wall = SystemTime::now().duration_since(wall).unwrap_or_default();
        instant.elapsed().max(wall)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Instant, SystemTime)> {
        self.inner.checked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the stream (one check at a time; `forced`: even when another
    /// just ran) and, the first time the run is found superseded, stops it
    /// and says why. Returns that line once it was said. A read that fails
    /// counts as a check: an outage is publish.rs's to bound.
    async fn check(&self, forced: bool) -> Option<String> {
        let mut verdict = self.inner.verdict.lock().await;
        let silent = self.silent();
        if verdict.is_some() || (!forced && silent < self.inner.heartbeat * 2) {
            return verdict.clone();
        }
        match self.read().await {
            Ok(Some(successor)) => {
                let run = &self.inner.run;
                let line = superseded_line(run.attempt, &successor, silent, self.inner.heartbeat);
                tracing::warn!(queue_id = %run.queue_id, attempt = run.attempt, "{line}");
                self.inner.superseded.store(true, Ordering::Release);
                self.inner.stop.stop(StopReason::Superseded(line.clone()));
                self.say(&line).await;
                *verdict = Some(line);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "checking whether the run was superseded")
            }
        }
        *self.lock() = (Instant::now(), SystemTime::now());
        verdict.clone()
    }

    /// The queue's dispatches after this run's and its last `started`.
    async fn read(&self) -> anyhow::Result<Option<Successor>> {
        let (js, names, run) = (&self.inner.js, &self.inner.names, &self.inner.run);
        let stream = js
            .get_stream_no_info(&names.events_stream)
            .await
            .context("opening the events stream")?;
        let filter = names.queue_dispatches_filter(&run.queue_id);
        let later = later_dispatch(&stream, &filter, run.shard, run.dispatch_seq).await?;
        let later = later.and_then(|event| match event.body {
            EventBody::Dispatched {
                worker,
                attempt_base,
                ..
            } => Some((worker, attempt_base)),
            _ => None,
        });
        let started_subject = names.event_subject(&run.queue_id, "started");
        let started = match stream.direct_get_last_for_subject(started_subject).await {
            Ok(stored) => Event::from_json(&stored.payload).ok(),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => None,
            Err(e) => return Err(anyhow::Error::new(e).context("reading the queue's last start")),
        };
        let started = started.and_then(|event| match event.body {
            EventBody::Started { worker, attempt } => Some((worker, attempt, event.shard)),
            _ => None,
        });
        Ok(successor(run, later, started))
    }

    /// The run's one line after it was superseded, straight to the logs
    /// stream (the run's own publishes are refused from now on).
    async fn say(&self, line: &str) {
        let run = &self.inner.run;
        let batch = LogBatch {
            v: WIRE_VERSION,
            queue_id: run.queue_id.clone(),
            attempt: run.attempt,
            shard: run.shard,
            lines: vec![LogLine::new(
                now_millis(),
                "worker".into(),
                LogStream::System,
                line.to_owned(),
            )],
        };
        let subject = self.inner.names.log_subject(&run.queue_id);
        let id = format!(
            "{}:{}{}:superseded",
            run.queue_id,
            run.attempt,
            shard_tag(run.shard)
        );
        let payload = bytes::Bytes::from(batch.to_json());
        for _ in 0..3 {
            let message = PublishMessage::build()
                .payload(payload.clone())
                .message_id(&id);
            let stored = async {
                let ack = self.inner.js.send_publish(subject.clone(), message).await?;
                ack.await.map_err(anyhow::Error::new)
            };
            match tokio::time::timeout(SAY_TIMEOUT, stored).await {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => tracing::warn!(error = %e, "storing the superseded line"),
                Err(_) => tracing::warn!("storing the superseded line timed out"),
            }
        }
    }
}

/// The queue's first `dispatched` event of `shard` after sequence `after`:
/// a later dispatch of the same queue (shard) supersedes the one before.
/// A sharded queue's dispatches go to its shards in turn, so the next one
/// may be another shard's.
pub(crate) async fn later_dispatch(
    stream: &jetstream::stream::Stream<()>,
    filter: &str,
    shard: Option<u8>,
    after: u64,
) -> anyhow::Result<Option<Event>> {
    let mut seq = after;
    loop {
        let next = match stream
            .direct_get_next_for_subject(filter, Some(seq + 1))
            .await
        {
            Ok(next) => next,
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context("reading the queue's dispatches")),
        };
        seq = next.sequence;
        if let Ok(event) = Event::from_json(&next.payload) {
            if event.shard.unwrap_or(0) == shard.unwrap_or(0) {
                return Ok(Some(event));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(attempt: u32, shard: Option<u8>) -> RunIdentity {
        RunIdentity {
            queue_id: QueueId::parse("q").unwrap(),
            shard,
            attempt,
            dispatch_seq: 10,
        }
    }

    fn by(attempt: u32, worker: &str) -> Option<Successor> {
        Some(Successor {
            attempt,
            worker: worker.into(),
        })
    }

    #[test]
    fn a_run_still_holds_its_queue_while_nothing_came_after_it() {
        assert_eq!(successor(&run(1, None), None, None), None);
        let own_start = Some(("w0".to_owned(), 1, None));
        assert_eq!(successor(&run(1, None), None, own_start), None);
    }

    #[test]
    fn a_later_dispatch_or_a_higher_attempt_supersedes_it() {
        let later = Some(("w1".to_owned(), 1));
        assert_eq!(successor(&run(1, None), later, None), by(2, "w1"));
        let started = Some(("w1".to_owned(), 2, None));
        let later = Some(("w1".to_owned(), 1));
        assert_eq!(successor(&run(1, None), later, started), by(2, "w1"));
        // Redelivered by JetStream to this very worker: no new dispatch.
        let started = Some(("w0".to_owned(), 2, None));
        assert_eq!(successor(&run(1, None), None, started), by(2, "w0"));
    }

    #[test]
    fn another_shards_start_supersedes_nothing() {
        let started = Some(("w1".to_owned(), 3, Some(1)));
        assert_eq!(successor(&run(1, Some(0)), None, started), None);
    }

    #[test]
    fn the_line_says_who_took_over_and_whether_the_worker_was_paused() {
        let next = Successor {
            attempt: 2,
            worker: "worker-1".into(),
        };
        let beat = Duration::from_millis(500);
        assert_eq!(
            superseded_line(1, &next, Duration::from_secs(9), beat),
            "attempt 1 was superseded by attempt 2 on worker-1 while this worker was paused \
             (9s without a heartbeat); stopping"
        );
        assert_eq!(
            superseded_line(1, &next, Duration::from_millis(300), beat),
            "attempt 1 was superseded by attempt 2 on worker-1; stopping"
        );
    }
}
