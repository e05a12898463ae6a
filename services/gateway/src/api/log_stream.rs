//! `GET /api/queue/{id}/log/stream`: Server-Sent Events, history then live.
//!
//! Log lines come from one ordered consumer on the queue's log subject,
//! starting at the first sequence or right after `Last-Event-ID`, so replay
//! and live are one sequence with no gap and no duplicate at the seam; each
//! `log` event's id is its batch's stream sequence. Queue events (stages,
//! tasks, finished) come from a core subscription as their own event types.
//! Once the queue has ended and every log batch up to the last one is sent,
//! an `end` event carries the final view and the stream closes.
//!
//! A client that stops reading stops the pulls (the consumer is pull-based
//! and the channel small), and one that goes away drops the consumer and the
//! subscription with the response.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;
use poem::web::sse::Event as SseEvent;
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::EventStream,
    ApiResponse, Object, OpenApi,
};
use testarena_events::{Event, EventBody, LogBatch, QueueId, QueueStatus};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::queries::find;
use super::ApiTags;
use crate::state::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One SSE event: `event` is its type (`log`, a queue event type, or `end`),
/// `id` the log stream sequence for `log` events.
#[derive(Debug, Clone, Object)]
pub(crate) struct StreamItem {
    pub event: String,
    pub id: Option<u64>,
    /// For `log`: `{attempt, lines: [{ts_ms, source, stream, text}]}`; for
    /// queue events: the event as emitted; for `end`: the final queue view.
    pub data: serde_json::Value,
}

type ItemStream = futures_util::stream::BoxStream<'static, StreamItem>;

#[derive(ApiResponse)]
pub(crate) enum LogStreamResponse {
    #[oai(status = 200)]
    Stream(EventStream<ItemStream>),
}

pub(crate) struct LogStreamApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl LogStreamApi {
    /// Follow a queue's log live (Server-Sent Events)
    ///
    /// The log so far, then live lines; `Last-Event-ID` resumes after a
    /// given `log` event. Queue events arrive as their own event types; the
    /// stream ends with `end` once the queue has ended.
    #[oai(path = "/queue/:id/log/stream", method = "get")]
    async fn stream(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<u64>>,
        /// Same as the `Last-Event-ID` header, for clients that cannot set
        /// it (a fresh browser `EventSource`).
        #[oai(name = "last_event_id")]
        last_event_id_query: Query<Option<u64>>,
    ) -> Result<LogStreamResponse, ApiError> {
        let view = find(&state, &id.0).await?;
        let queue_id =
            QueueId::parse(view.id.clone()).map_err(|e| ApiError::internal("stored id", e))?;
        state.ensure_connected()?;
        let start = last_event_id.0.or(last_event_id_query.0).map(|seq| seq + 1);
        let follower = Follower::open(&state, &queue_id, start).await?;
        let (tx, rx) = mpsc::channel(16);
        let state = state.0.clone();
        tokio::spawn(async move {
            let sent = tx.clone();
            tokio::select! {
                _ = follower.run(&state, &queue_id, tx) => {}
                // The client went away: stop pulling at once.
                _ = sent.closed() => {}
            }
        });
        let items: ItemStream = tokio_stream_from(rx).boxed();
        Ok(LogStreamResponse::Stream(
            EventStream::new(items)
                .keep_alive(KEEP_ALIVE)
                .to_event(|item| {
                    let mut event = SseEvent::message(item.data.to_string()).event_type(item.event);
                    if let Some(id) = item.id {
                        event = event.id(id.to_string());
                    }
                    event
                }),
        ))
    }
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<StreamItem>,
) -> impl futures_util::Stream<Item = StreamItem> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

struct Follower {
    logs: pull::Ordered,
    events: async_nats::Subscriber,
}

impl Follower {
    async fn open(
        state: &AppState,
        queue_id: &QueueId,
        start: Option<u64>,
    ) -> Result<Self, ApiError> {
        let unavailable =
            |e: &dyn std::fmt::Display| ApiError::unavailable(format!("following the log: {e}"));
        // Subscribe to events first, so nothing that happens while the log
        // replays is missed.
        let events = state
            .client
            .subscribe(state.names.queue_events_filter(queue_id))
            .await
            .map_err(|e| unavailable(&e))?;
        let stream = state
            .js
            .get_stream_no_info(&state.names.logs_stream)
            .await
            .map_err(|e| unavailable(&e))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: state.names.log_subject(queue_id),
                deliver_policy: match start {
                    Some(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
                    None => DeliverPolicy::All,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let logs = consumer.messages().await.map_err(|e| unavailable(&e))?;
        Ok(Self { logs, events })
    }

    async fn run(mut self, state: &AppState, queue_id: &QueueId, tx: mpsc::Sender<StreamItem>) {
        // Set once the queue has ended: the last log sequence to send before `end`.
        let mut ending: Option<u64> = None;
        let mut sent_up_to = 0u64;
        if let Ok(view) = find(state, queue_id.as_str()).await {
            if QueueStatus::parse(&view.status).is_some_and(QueueStatus::is_terminal) {
                ending = Some(last_log_sequence(state, queue_id).await);
            }
        }
        loop {
            if let Some(last) = ending {
                if sent_up_to >= last {
                    let data = match final_view(state, queue_id).await {
                        Some(view) => serde_json::to_value(ViewJson(&view)).unwrap_or_default(),
                        None => serde_json::Value::Null,
                    };
                    let _ = tx
                        .send(StreamItem {
                            event: "end".into(),
                            id: None,
                            data,
                        })
                        .await;
                    return;
                }
            }
            tokio::select! {
                message = self.logs.next() => {
                    let Some(Ok(message)) = message else { return };
                    let Ok(info) = message.info() else { continue };
                    sent_up_to = info.stream_sequence;
                    let Ok(batch) = LogBatch::from_json(&message.payload) else { continue };
                    let data = serde_json::json!({ "attempt": batch.attempt, "lines": batch.lines });
                    if tx.send(StreamItem { event: "log".into(), id: Some(sent_up_to), data }).await.is_err() {
                        return;
                    }
                }
                message = self.events.next(), if ending.is_none() => {
                    let Some(message) = message else { return };
                    let Ok(event) = Event::from_json(&message.payload) else { continue };
                    let finished = matches!(event.body, EventBody::Finished { .. } | EventBody::Deleted {});
                    let data = serde_json::from_slice(&message.payload).unwrap_or_default();
                    if tx.send(StreamItem { event: event.body.kind().into(), id: None, data }).await.is_err() {
                        return;
                    }
                    if finished {
                        // The worker stores every log batch before `finished`.
                        ending = Some(last_log_sequence(state, queue_id).await);
                    }
                }
            }
        }
    }
}

/// The view once the projector shows the queue ended (bounded wait: the
/// `finished` event may be a moment ahead of the view).
async fn final_view(state: &AppState, queue_id: &QueueId) -> Option<super::model::QueueView> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let view = find(state, queue_id.as_str()).await.ok()?;
        let ended = QueueStatus::parse(&view.status).is_some_and(QueueStatus::is_terminal);
        if ended || tokio::time::Instant::now() >= deadline {
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

/// The queue view as JSON (the API type has no serde `Serialize`).
struct ViewJson<'a>(&'a super::model::QueueView);

impl serde::Serialize for ViewJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use poem_openapi::types::ToJSON;
        self.0.to_json().unwrap_or_default().serialize(serializer)
    }
}
