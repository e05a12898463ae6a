//! The read API: the list, a queue's events, its log (the queue itself is
//! `queue.rs`).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::{Json, PlainText},
    ApiResponse, OpenApi,
};
use testarena_events::{QueueId, QueueStatus};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::ApiError;
use super::model::{EventList, QueuePage, QueueView};
use super::ApiTags;
use crate::state::AppState;
use testarena_views::QueueFilter;

const DEFAULT_PER_PAGE: u32 = 50;
const MAX_LOG_CHUNK: u64 = 8 << 20;
const EVENTS_READ_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(ApiResponse)]
pub(crate) enum LogChunk {
    /// Log bytes from `offset`; `X-Next-Offset` is where to continue.
    #[oai(status = 200)]
    Ok(
        PlainText<String>,
        #[oai(header = "X-Next-Offset")] u64,
        #[oai(header = "X-Log-Size")] u64,
    ),
}

pub(crate) struct QueryApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl QueryApi {
    /// List queues
    ///
    /// Newest first. The filters combine (all must match); an unknown query
    /// parameter is a 400.
    #[oai(path = "/queues", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        /// Only queues in this status.
        status: Query<Option<QueueStatus>>,
        /// Only queues whose source URL contains this (the exact URL, or a part of it).
        #[oai(validator(max_length = 2048))]
        repo: Query<Option<String>>,
        /// Only queues of this ref, exactly as submitted.
        #[oai(name = "ref", validator(max_length = 255))]
        git_ref: Query<Option<String>>,
        /// Only queues whose resolved commit SHA starts with this.
        #[oai(validator(max_length = 64))]
        commit: Query<Option<String>>,
        /// Only queues submitted with this profile, exactly.
        #[oai(validator(max_length = 64))]
        profile: Query<Option<String>>,
        /// Only queues whose id, repo, ref or commit contains this (any case).
        #[oai(validator(max_length = 2048))]
        q: Query<Option<String>>,
        /// From 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "4294967295")))]
        page: Query<Option<u32>>,
        /// 1 to 200; 50 when absent.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        per_page: Query<Option<u32>>,
    ) -> Result<Json<QueuePage>, ApiError> {
        let page = page.0.unwrap_or(1);
        let per_page = per_page.0.unwrap_or(DEFAULT_PER_PAGE);
        let filter = QueueFilter {
            status: status.0.map(QueueStatus::as_str),
            repo: repo.0.as_deref(),
            git_ref: git_ref.0.as_deref(),
            commit: commit.0.as_deref(),
            profile: profile.0.as_deref(),
            text: q.0.as_deref(),
        };
        let (mut queues, total) = state.views.list(&filter, page, per_page).await?;
        state.fill_waiting(&mut queues).await;
        Ok(Json(QueuePage {
            queues,
            total,
            page,
            per_page,
        }))
    }

    /// The queue's event history
    ///
    /// Read from the events stream itself, the source of truth.
    #[oai(path = "/queue/:id/events", method = "get")]
    async fn events(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<EventList>, ApiError> {
        let view = find(&state, &id.0).await?;
        let queue_id = QueueId::parse(view.id).map_err(|e| ApiError::internal("stored id", e))?;
        let events = tokio::time::timeout(EVENTS_READ_TIMEOUT, read_events(&state, &queue_id))
            .await
            .map_err(|_| ApiError::unavailable("reading the events stream timed out"))??;
        Ok(Json(EventList { events }))
    }

    /// The queue's log from a byte offset
    ///
    /// Plain text, one output line per line, each prefixed with its source
    /// (`[build]`, `[task:<id>]`; `!` marks stderr). Poll with the returned
    /// `X-Next-Offset`.
    #[oai(path = "/queue/:id/log", method = "get")]
    async fn log(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        /// Byte offset to start from; 0 when absent.
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
        offset: Query<Option<u64>>,
        /// At most this many bytes (default and maximum 8 MiB).
        #[oai(validator(minimum(value = "1"), maximum(value = "8388608")))]
        limit: Query<Option<u64>>,
    ) -> Result<LogChunk, ApiError> {
        let view = find(&state, &id.0).await?;
        let offset = offset.0.unwrap_or(0);
        let limit = limit.0.unwrap_or(MAX_LOG_CHUNK);
        let path = state
            .data_dir
            .join(&view.id)
            .join(testarena_events::QUEUE_LOG_FILE);
        let (text, next, size) = read_log(&path, offset, limit)
            .await
            .map_err(|e| ApiError::internal("reading queue_log.txt", e))?;
        Ok(LogChunk::Ok(PlainText(text), next, size))
    }
}

pub(crate) async fn find(state: &AppState, id: &str) -> Result<QueueView, ApiError> {
    if QueueId::parse(id).is_err() {
        return Err(ApiError::not_found(id));
    }
    state
        .views
        .queue(id)
        .await?
        .ok_or_else(|| ApiError::not_found(id))
}

async fn read_events(
    state: &AppState,
    queue_id: &QueueId,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let stream = state
        .js
        .get_stream_no_info(&state.names.events_stream)
        .await
        .map_err(|e| ApiError::unavailable(format!("events stream: {e}")))?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: state.names.queue_events_filter(queue_id),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the events stream: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the events stream: {e}")))?;
    let mut events = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message
            .map_err(|e| ApiError::unavailable(format!("reading the events stream: {e}")))?;
        let pending = message.info().map(|i| i.pending).unwrap_or(0);
        match serde_json::from_slice(&message.payload) {
            Ok(value) => events.push(value),
            Err(e) => tracing::warn!(error = %e, "skipping a malformed event"),
        }
        if pending == 0 {
            break;
        }
    }
    Ok(events)
}

/// Reads up to `limit` bytes from `offset`, ending on a character boundary.
/// Returns the text, the next offset and the file's size.
async fn read_log(
    path: &std::path::Path,
    offset: u64,
    limit: u64,
) -> std::io::Result<(String, u64, u64)> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), 0, 0)),
        Err(e) => return Err(e),
    };
    let size = file.metadata().await?.len();
    if offset >= size {
        return Ok((String::new(), offset.min(size), size));
    }
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::with_capacity((size - offset).min(limit) as usize);
    file.take(limit).read_to_end(&mut bytes).await?;
    // Never end inside a UTF-8 sequence: leave its start for the next read.
    let valid = match std::str::from_utf8(&bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    bytes.truncate(valid);
    let next = offset + bytes.len() as u64;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), next, size))
}
