//! The dispatcher's I/O: it folds the queue events it needs (an ordered
//! consumer from the start of the events stream) and the registry bucket
//! (a KV watch) into a `Plan`, and after each change publishes what the
//! plan decides as `dispatched` events on the chosen workers' subjects.
//! It also folds the board events (reservations) and publishes the board
//! events the plan owes (leased, released, expired); the tick makes a
//! reservation expire when nothing else happens.
//!
//! Every scheduler runs one. A dispatch is published only if it is still the
//! queue's next (`Nats-Expected-Last-Subject-Sequence` over the queue's
//! `dispatched.*` subjects), so two schedulers never give one queue twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::kv;
use async_nats::jetstream::{self};
use async_nats::HeaderMap;
use futures_util::StreamExt;
use testarena_events::{
    now_millis, watch_registry, ArenaNames, BoardEvent, Event, EventBody, EventLog, QueueId,
    RegistryChange, WaitingInfo,
};
use tokio_util::sync::CancellationToken;

use super::plan::{Dispatch, Plan};

/// How often gone workers and run-out reservations are looked for when
/// nothing else happens.
const TICK: Duration = Duration::from_millis(500);

pub(crate) struct Dispatcher {
    plan: Mutex<Plan>,
    names: ArenaNames,
    /// Publishes the board events (with message ids).
    log: EventLog,
}

impl Dispatcher {
    /// Starts following; the returned task runs until `shutdown`.
    pub fn start(
        js: jetstream::Context,
        log: EventLog,
        shutdown: CancellationToken,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let dispatcher = Arc::new(Self {
            plan: Mutex::new(Plan::default()),
            names: log.names().clone(),
            log,
        });
        let task = tokio::spawn({
            let dispatcher = dispatcher.clone();
            async move {
                let mut backoff = Duration::from_millis(100);
                while !shutdown.is_cancelled() {
                    match dispatcher.follow(&js, &shutdown).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "the dispatcher stopped following; starting over")
                        }
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        });
        (dispatcher, task)
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn waiting_infos(&self, ids: &[QueueId]) -> Vec<Option<WaitingInfo>> {
        self.plan().waiting_infos(ids, now_millis())
    }

    pub fn waiting_count(&self) -> usize {
        self.plan().waiting_count()
    }

    /// Replays the events stream and the registry from the start, then
    /// follows both; dispatches only once the replay reached where the
    /// stream was when it began.
    async fn follow(
        &self,
        js: &jetstream::Context,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        *self.plan() = Plan::default();
        let mut stream = js
            .get_stream(&self.names.events_stream)
            .await
            .context("looking up the events stream")?;
        let replay_to = stream
            .info()
            .await
            .context("events stream info")?
            .state
            .last_sequence;
        let mut events = self.queue_events(&stream).await?;
        let mut registry = watch_registry(js, &self.names)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut caught_up = replay_to == 0;
        // The filtered replay may end short of `replay_to` (its last events
        // can be of other kinds): a tick without events ends it too.
        let mut quiet_ticks = 0;
        let mut tick = tokio::time::interval(TICK);
        loop {
            // With more events already waiting, fold them before deciding:
            // one decision per burst instead of one per event.
            let mut backlog = false;
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                message = events.next() => {
                    let message = message.context("the events consumer ended")?.context("reading events")?;
                    let (seq, pending) = message
                        .info()
                        .map(|i| (i.stream_sequence, i.pending))
                        .unwrap_or_default();
                    self.fold(seq, &message);
                    caught_up |= seq >= replay_to || pending == 0;
                    backlog = pending > 0;
                    quiet_ticks = 0;
                }
                entry = registry.next() => {
                    let entry = entry.context("the registry watch ended")?.context("watching the registry")?;
                    self.registry_changed(entry);
                }
                _ = tick.tick() => {
                    quiet_ticks += 1;
                    caught_up |= quiet_ticks >= 2;
                }
            }
            if caught_up && !backlog {
                self.dispatch(js).await;
            }
        }
    }

    /// Folds one message of the events stream: a queue event or a board
    /// event (told apart by subject; the two have other shapes).
    fn fold(&self, seq: u64, message: &async_nats::jetstream::Message) {
        if self.names.is_board_event_subject(&message.subject) {
            if let Ok(event) = BoardEvent::from_json(&message.payload) {
                self.plan().apply_board_event(&event);
            }
        } else if let Ok(event) = Event::from_json(&message.payload) {
            self.plan().apply_event(seq, &event);
        }
    }

    /// An ordered consumer over the kinds the plan reads, from the start.
    async fn queue_events(
        &self,
        stream: &jetstream::stream::Stream,
    ) -> anyhow::Result<pull::Ordered> {
        let names = &self.names;
        let mut filters: Vec<String> = [
            "submitted",
            "started",
            "finished",
            "cancel_requested",
            "deleted",
            "shard_finished",
        ]
        .iter()
        .map(|kind| names.kind_filter(kind))
        .collect();
        filters.push(format!("{}.*", names.kind_filter("dispatched")));
        filters.push(format!("{}.*", names.kind_filter("task_claimed")));
        filters.push(names.all_board_events_filter());
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::All,
                filter_subjects: filters,
                ..Default::default()
            })
            .await
            .context("creating the dispatcher's ordered consumer")?;
        consumer
            .messages()
            .await
            .context("following the events stream")
    }

    fn registry_changed(&self, entry: kv::Entry) {
        match RegistryChange::of(&entry) {
            Some(RegistryChange::Seen(record)) => self.plan().worker_seen(*record),
            Some(RegistryChange::Left(id)) => self.plan().worker_left(&id),
            None => {}
        }
    }

    async fn dispatch(&self, js: &jetstream::Context) {
        let dispatches = self.plan().plan(now_millis());
        for dispatch in dispatches {
            if let Err(e) = self.publish(js, &dispatch).await {
                tracing::debug!(queue = %dispatch.queue, worker = %dispatch.worker, error = %e, "dispatch not published");
                self.plan().undo(&dispatch);
            }
        }
        self.publish_board_notices().await;
    }

    /// Publishes the board events the plan owes; one not stored stays owed
    /// and is tried again after the next change or tick.
    async fn publish_board_notices(&self) {
        let notices = self.plan().board_notices(now_millis());
        for notice in notices {
            let stored = self
                .log
                .publish_board_event(&notice.event(), Some(notice.message_id()))
                .await;
            match stored {
                Ok(_) => self.plan().board_notice_published(&notice),
                Err(e) => {
                    tracing::debug!(notice = %notice.message_id(), error = %e, "board event not published");
                    return;
                }
            }
        }
    }

    async fn publish(&self, js: &jetstream::Context, dispatch: &Dispatch) -> anyhow::Result<()> {
        let event = Event::new(
            dispatch.queue.clone(),
            EventBody::Dispatched {
                worker: dispatch.worker.clone(),
                attempt_base: dispatch.attempt_base,
                submitted_seq: dispatch.submitted_seq,
                board: dispatch.board.clone(),
            },
        )
        .of_shard(dispatch.shard);
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            dispatch.expected_last_dispatch_seq.to_string().as_str(),
        );
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence-Subject",
            self.names.queue_dispatches_filter(&dispatch.queue).as_str(),
        );
        js.publish_with_headers(
            self.names
                .dispatch_subject(&dispatch.queue, &dispatch.worker),
            headers,
            event.to_json().into(),
        )
        .await?
        .await?;
        Ok(())
    }
}
