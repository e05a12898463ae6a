//! Follows one queue for the SSE log stream: its log batches from one
//! ordered consumer (history, then live, as one sequence), its events from a
//! core subscription, and the moment to send `end`.
//!
//! The follower is the stream: each item is produced when the client asks
//! for it, so there is no task to own, a slow client slows the pulls, and a
//! client that goes away drops the consumer and the subscription with the
//! response. The gateway's shutdown ends every stream at once.
//!
//! The end: once the queue has ended, every log batch up to the last one
//! stored is sent, then `end`. "Ended" is read from the events stream
//! itself (a stored `finished` or `deleted`), after subscribing, so a
//! `finished` that lands while the stream opens is either stored (seen by
//! that read) or live (seen by the subscription); the view, which can lag
//! the stream, is only the fallback for a queue cancelled before it started
//! (no `finished` until a worker takes it), checked every few seconds.
//!
//! An older attempt's batch that comes after a newer attempt's first one
//! (a paused worker that woke up) is not sent, as `queue_log.txt` leaves it
//! out ([`LogAttempts`]); a resumed stream reads the log from its start, so
//! it leaves out the same batches a fresh one does.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;
use testarena_events::{Event, EventBody, LogAttempts, LogBatch, QueueId, QueueView};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::log_resume::start_sequence;
use super::queries::find;
use super::stream_event::StreamEvent;
use crate::state::AppState;

/// How often a stream re-reads the view while the queue has not ended.
const VIEW_RECHECK: Duration = Duration::from_secs(2);

pub(crate) struct Follower {
    state: Arc<AppState>,
    queue_id: QueueId,
    logs: pull::Ordered,
    events: async_nats::Subscriber,
    /// Set once the queue has ended: the last log sequence to send before `end`.
    ending: Option<u64>,
    sent_up_to: u64,
    /// A resumed stream's `Last-Event-ID`: batches up to it are read only
    /// to learn each shard's newest attempt.
    resume_after: u64,
    attempts: LogAttempts,
    recheck: tokio::time::Interval,
    shutdown: CancellationToken,
    done: bool,
}

impl Follower {
    /// Subscribes, checks `Last-Event-ID` against the log stream, and reads
    /// whether the queue has already ended.
    pub(crate) async fn open(
        state: Arc<AppState>,
        queue_id: QueueId,
        last_event_id: Option<u64>,
    ) -> Result<Self, ApiError> {
        // Subscribe to events first, so nothing that happens while the log
        // replays is missed.
        let events = state
            .client
            .subscribe(state.names.queue_events_filter(&queue_id))
            .await
            .map_err(unavailable)?;
        // The subscription is registered on the server before we look at
        // what is stored.
        state.client.flush().await.map_err(unavailable)?;
        let logs = log_messages(&state, &queue_id, last_event_id).await?;
        let mut recheck = tokio::time::interval(VIEW_RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = state.shutdown.clone();
        let mut follower = Self {
            state,
            queue_id,
            logs,
            events,
            ending: None,
            // A resumed stream has sent up to its `Last-Event-ID` already.
            sent_up_to: last_event_id.unwrap_or(0),
            resume_after: last_event_id.unwrap_or(0),
            attempts: LogAttempts::default(),
            recheck,
            shutdown,
            done: false,
        };
        if ended_in_stream(&follower.state, &follower.queue_id).await? {
            follower.ending = Some(last_log_sequence(&follower.state, &follower.queue_id).await);
        }
        Ok(follower)
    }

    pub(crate) fn into_stream(self) -> impl futures_util::Stream<Item = StreamEvent> + Send {
        futures_util::stream::unfold(self, |mut follower| async move {
            let item = follower.next_item().await?;
            Some((item, follower))
        })
    }

    async fn next_item(&mut self) -> Option<StreamEvent> {
        loop {
            if self.done {
                return None;
            }
            if self.ending.is_some_and(|last| self.sent_up_to >= last) {
                self.done = true;
                return Some(end_event(&self.state, &self.queue_id).await);
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                message = self.logs.next() => {
                    let Some(Ok(message)) = message else { return None };
                    let Ok(info) = message.info() else { continue };
                    let sequence = info.stream_sequence;
                    let Ok(batch) = LogBatch::from_json(&message.payload) else { continue };
                    if !self.attempts.admit(&batch) || sequence <= self.resume_after {
                        self.sent_up_to = self.sent_up_to.max(sequence);
                        continue;
                    }
                    self.sent_up_to = sequence;
                    let data = match batch.shard {
                        Some(shard) => serde_json::json!({ "attempt": batch.attempt, "shard": shard, "lines": batch.lines }),
                        None => serde_json::json!({ "attempt": batch.attempt, "lines": batch.lines }),
                    }
                    .to_string();
                    return Some(StreamEvent { event: "log".into(), id: Some(self.sent_up_to.to_string()), data });
                }
                message = self.events.next(), if self.ending.is_none() => {
                    let message = message?;
                    let Ok(event) = Event::from_json(&message.payload) else { continue };
                    if matches!(event.body, EventBody::Finished { .. } | EventBody::Deleted {}) {
                        // The worker stores every log batch before `finished`.
                        self.ending = Some(last_log_sequence(&self.state, &self.queue_id).await);
                    }
                    let data = String::from_utf8_lossy(&message.payload).into_owned();
                    return Some(StreamEvent { event: event.body.kind().into(), id: None, data });
                }
                _ = self.recheck.tick(), if self.ending.is_none() => {
                    if find(&self.state, self.queue_id.as_str()).await.is_ok_and(|v| v.is_terminal()) {
                        self.ending = Some(last_log_sequence(&self.state, &self.queue_id).await);
                    }
                }
            }
        }
    }
}

// Free functions, not methods: the follower holds a consumer that is `Send`
// but not `Sync`, so no `&Follower` may live across an await.

/// The queue's log batches from one ordered consumer, from the first, once
/// `Last-Event-ID` (if any) is checked against the log stream.
async fn log_messages(
    state: &AppState,
    queue_id: &QueueId,
    last_event_id: Option<u64>,
) -> Result<pull::Ordered, ApiError> {
    let mut stream = state
        .js
        .get_stream(&state.names.logs_stream)
        .await
        .map_err(unavailable)?;
    let stream_last = match last_event_id {
        Some(_) => {
            stream
                .info()
                .await
                .map_err(unavailable)?
                .state
                .last_sequence
        }
        None => 0,
    };
    start_sequence(last_event_id, stream_last)
        // 409: the log has not reached that id (yet); not a malformed request.
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    // From the start even when resuming: the batches before the id say
    // which attempts are newest (the follower sends none of them).
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: state.names.log_subject(queue_id),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
    consumer.messages().await.map_err(unavailable)
}

/// A `finished` or `deleted` is stored for the queue, or its view has ended.
async fn ended_in_stream(state: &AppState, queue_id: &QueueId) -> Result<bool, ApiError> {
    for kind in ["finished", "deleted"] {
        if state.events.last_event(queue_id, kind).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(find(state, queue_id.as_str()).await?.is_terminal())
}

async fn end_event(state: &AppState, queue_id: &QueueId) -> StreamEvent {
    let data = match final_view(state, queue_id).await {
        Some(view) => serde_json::to_string(&view).unwrap_or_default(),
        None => "null".into(),
    };
    StreamEvent {
        event: "end".into(),
        id: None,
        data,
    }
}

/// The view once the projector shows the queue ended (bounded wait: the
/// `finished` event may be a moment ahead of the view).
async fn final_view(state: &AppState, queue_id: &QueueId) -> Option<QueueView> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let view = find(state, queue_id.as_str()).await.ok()?;
        if view.is_terminal() || tokio::time::Instant::now() >= deadline {
            return Some(view);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn last_log_sequence(state: &AppState, queue_id: &QueueId) -> u64 {
    let Ok(stream) = state.js.get_stream_no_info(&state.names.logs_stream).await else {
        return 0;
    };
    stream
        .direct_get_last_for_subject(state.names.log_subject(queue_id))
        .await
        .map(|m| m.sequence)
        .unwrap_or(0)
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("following the log: {error}"))
}
