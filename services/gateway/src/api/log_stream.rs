//! `GET /api/queue/{id}/log/stream`: Server-Sent Events, history then live.
//!
//! Each `log` event's id is its batch's log stream sequence, so a client
//! resumes with `Last-Event-ID` (or `?last_event_id=` where it cannot set
//! the header) with no gap and no duplicate. Queue events (stages, tasks,
//! finished) come as their own event types; `end` carries the final view
//! and closes the stream. What is read and when it ends: `log_follower.rs`.

use std::sync::Arc;
use std::time::Duration;

use poem::web::sse::Event as SseEvent;
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::EventStream,
    ApiResponse, Object, OpenApi,
};
use testarena_events::QueueId;

use super::error::ApiError;
use super::log_follower::Follower;
use super::queries::find;
use super::ApiTags;
use crate::state::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One SSE event, as the OpenAPI document shows it: `event` is its type
/// (`log`, a queue event type, or `end`), `id` the log stream sequence for
/// `log` events.
#[derive(Debug, Clone, Object)]
pub(crate) struct StreamEvent {
    pub event: String,
    #[oai(nullable)]
    pub id: Option<u64>,
    /// For `log`: `{attempt, lines: [{ts_ms, source, stream, text}]}`; for
    /// queue events: the event as emitted; for `end`: the final queue view
    /// (`null` if the queue was deleted).
    pub data: serde_json::Value,
}

type EventItems = futures_util::stream::BoxStream<'static, StreamEvent>;

#[derive(ApiResponse)]
pub(crate) enum LogStreamResponse {
    #[oai(status = 200)]
    Stream(EventStream<EventItems>),
}

pub(crate) struct LogStreamApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl LogStreamApi {
    /// Follow a queue's log live (Server-Sent Events)
    ///
    /// The log so far, then live lines; `Last-Event-ID` resumes after a
    /// given `log` event (422 if no such event was ever sent). Queue events
    /// arrive as their own event types; the stream ends with `end` once the
    /// queue has ended.
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
        let queue_id = QueueId::parse(view.id).map_err(|e| ApiError::internal("stored id", e))?;
        state.ensure_connected()?;
        let last_event_id = last_event_id.0.or(last_event_id_query.0);
        let follower = Follower::open(state.0.clone(), queue_id, last_event_id).await?;
        let items: EventItems = Box::pin(follower.into_stream());
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
