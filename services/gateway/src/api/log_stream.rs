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
use poem::IntoResponse;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::{EventStream, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
    ApiResponse, OpenApi,
};
use testarena_events::QueueId;

use super::error::ApiError;
use super::log_follower::Follower;
use super::queries::find_retained;
use super::stream_event::StreamEvent;
use super::ApiTags;
use crate::state::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

type EventItems = futures_util::stream::BoxStream<'static, StreamEvent>;

/// poem-openapi's `EventStream`, documented as the schema of one event
/// (poem-openapi's own says "array", which no SSE client receives).
pub(crate) struct SseEvents(EventStream<EventItems>);

impl Payload for SseEvents {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        StreamEvent::schema_ref()
    }

    fn register(registry: &mut Registry) {
        StreamEvent::register(registry);
    }
}

impl IntoResponse for SseEvents {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

#[derive(ApiResponse)]
pub(crate) enum LogStreamResponse {
    /// History, then live, until `end`.
    #[oai(status = 200)]
    Stream(SseEvents),
}

pub(crate) struct LogStreamApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl LogStreamApi {
    /// Follow a queue's log live (Server-Sent Events)
    ///
    /// The log so far, then live lines; `Last-Event-ID` resumes after a
    /// given `log` event (409 if the log stream has not reached that id). Queue events
    /// arrive as their own event types; the stream ends with `end` once the
    /// queue has ended.
    #[oai(path = "/queue/:id/log/stream", method = "get")]
    async fn stream(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        /// The `id` of the last `log` event received.
        #[oai(
            name = "Last-Event-ID",
            validator(minimum(value = "0"), maximum(value = "1000000000000000"))
        )]
        last_event_id: Header<Option<u64>>,
        /// Same as the `Last-Event-ID` header, for clients that cannot set
        /// it (a fresh browser `EventSource`).
        #[oai(
            name = "last_event_id",
            validator(minimum(value = "0"), maximum(value = "1000000000000000"))
        )]
        last_event_id_query: Query<Option<u64>>,
    ) -> Result<LogStreamResponse, ApiError> {
        let view = find_retained(&state, &id.0, "log").await?;
        let queue_id = QueueId::parse(view.id).map_err(|e| ApiError::internal("stored id", e))?;
        state.events.ensure_connected()?;
        let last_event_id = last_event_id.0.or(last_event_id_query.0);
        let follower = Follower::open(state.0.clone(), queue_id, last_event_id).await?;
        let items: EventItems = Box::pin(follower.into_stream());
        Ok(LogStreamResponse::Stream(SseEvents(
            EventStream::new(items)
                .keep_alive(KEEP_ALIVE)
                .to_event(|item| {
                    let event = SseEvent::message(item.data).event_type(item.event);
                    match item.id {
                        Some(id) => event.id(id),
                        None => event,
                    }
                }),
        )))
    }
}
