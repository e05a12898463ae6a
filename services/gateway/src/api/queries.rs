//! The read API: the list, a queue's events, its log (the queue itself is
//! `queue.rs`).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::DirectGetErrorKind;
use futures_util::StreamExt;
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::{Json, PlainText},
    ApiResponse, OpenApi,
};
use testarena_events::{BisectSteps, LogBatch, QueueId, QueueStatus};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::ApiError;
use super::model::{EventList, QueuePage, QueueView};
use super::ApiTags;
use crate::queue_cursor::QueueCursor;
use crate::state::AppState;
use testarena_views::{ListedPage, PageStart, QueueFilter};

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
    /// parameter is a 400. Bisect step queues are left out unless `bisect`
    /// asks for them. Page by `cursor` (each answer's `next_cursor`): a
    /// page costs the same however deep; `page` (a number) still works for
    /// older clients, but skips the queues before it one by one. `total` is
    /// exact up to 10000; beyond, it is 10000 with `total_capped`.
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
        /// Bisect step queues (those whose `bisect` is set): left out
        /// (`exclude`, the default), listed too (`include`), or alone (`only`).
        bisect: Query<Option<BisectSteps>>,
        /// Where the page starts: a previous answer's `next_cursor` (404 for
        /// one this API did not give). With it, `page` is ignored.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{1,256}$"))]
        cursor: Query<Option<String>>,
        /// From 1 (for older clients; `cursor` is preferred).
        #[oai(validator(minimum(value = "1"), maximum(value = "4294967295")))]
        page: Query<Option<u32>>,
        /// 1 to 200; 50 when absent.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        per_page: Query<Option<u32>>,
    ) -> Result<Json<QueuePage>, ApiError> {
        let start = page_start(cursor.0.as_deref(), page.0)?;
        let per_page = per_page.0.unwrap_or(DEFAULT_PER_PAGE);
        let filter = QueueFilter {
            status: status.0.map(QueueStatus::as_str),
            repo: repo.0.as_deref(),
            git_ref: git_ref.0.as_deref(),
            commit: commit.0.as_deref(),
            profile: profile.0.as_deref(),
            text: q.0.as_deref(),
            bisect_steps: bisect.0.unwrap_or_default(),
        };
        let mut listed = state.views.list(&filter, start, per_page).await?;
        state.fill_waiting(&mut listed.queues).await;
        Ok(Json(queue_page(listed, start, per_page)))
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
    /// `X-Next-Offset`. Without `attempt`, the log of the runs in order,
    /// where an older attempt's lines that came after a newer attempt's
    /// first line (a paused worker that woke up) are left out; with
    /// `attempt`, every line of that attempt alone.
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
        /// Only this attempt's lines (of every shard), read from the log
        /// stream; `offset` and the headers then count in its text.
        #[oai(validator(minimum(value = "1"), maximum(value = "4294967295")))]
        attempt: Query<Option<u32>>,
    ) -> Result<LogChunk, ApiError> {
        let view = find_retained(&state, &id.0, "log").await?;
        let offset = offset.0.unwrap_or(0);
        let limit = limit.0.unwrap_or(MAX_LOG_CHUNK);
        let (text, next, size) = match attempt.0 {
            None => {
                let path = state
                    .data_dir
                    .join(&view.id)
                    .join(testarena_events::QUEUE_LOG_FILE);
                read_log(&path, offset, limit)
                    .await
                    .map_err(|e| ApiError::internal("reading queue_log.txt", e))?
            }
            Some(attempt) => {
                let queue_id =
                    QueueId::parse(view.id).map_err(|e| ApiError::internal("stored id", e))?;
                let read = attempt_log(&state, &queue_id, attempt);
                let whole = tokio::time::timeout(EVENTS_READ_TIMEOUT, read)
                    .await
                    .map_err(|_| ApiError::unavailable("reading the logs stream timed out"))??;
                let size = whole.len() as u64;
                let start = offset.min(size) as usize;
                let end = offset.saturating_add(limit).min(size) as usize;
                let (text, next) = utf8_chunk(whole[start..end].to_vec(), start as u64);
                (text, next, size)
            }
        };
        Ok(LogChunk::Ok(PlainText(text), next, size))
    }
}

/// The queue's view when its `what` (log, events, artifacts) is still in
/// JetStream; 410 once `--retention-days` expired it.
pub(crate) async fn find_retained(
    state: &AppState,
    id: &str,
    what: &str,
) -> Result<QueueView, ApiError> {
    let view = find(state, id).await?;
    match &view.log_expired_at {
        Some(at) => Err(ApiError::expired(&view.id, what, at)),
        None => Ok(view),
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

/// Every line of one attempt of the queue, rendered as `queue_log.txt`
/// renders them, read from the logs stream in order.
async fn attempt_log(
    state: &AppState,
    queue_id: &QueueId,
    attempt: u32,
) -> Result<Vec<u8>, ApiError> {
    let unavailable =
        |e: &dyn std::fmt::Display| ApiError::unavailable(format!("reading the logs stream: {e}"));
    let stream = state
        .js
        .get_stream_no_info(&state.names.logs_stream)
        .await
        .map_err(|e| unavailable(&e))?;
    let subject = state.names.log_subject(queue_id);
    // An ordered consumer on a subject with no message would wait forever.
    match stream.direct_get_last_for_subject(subject.as_str()).await {
        Ok(_) => {}
        Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unavailable(&e)),
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable(&e))?;
    let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
    let mut text = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| unavailable(&e))?;
        let pending = message.info().map(|i| i.pending).unwrap_or(0);
        if let Ok(batch) = LogBatch::from_json(&message.payload) {
            if batch.attempt == attempt {
                for line in &batch.lines {
                    text.extend_from_slice(line.render(batch.shard).as_bytes());
                }
            }
        }
        if pending == 0 {
            break;
        }
    }
    Ok(text)
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
    let (text, next) = utf8_chunk(bytes, offset);
    Ok((text, next, size))
}

/// The bytes read from `offset` as text and the next offset: never ending
/// inside a UTF-8 sequence, whose start is left for the next read.
fn utf8_chunk(mut bytes: Vec<u8>, offset: u64) -> (String, u64) {
    let valid = match std::str::from_utf8(&bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    bytes.truncate(valid);
    let next = offset + bytes.len() as u64;
    (String::from_utf8_lossy(&bytes).into_owned(), next)
}

/// The answer: the page, its count and the next page's cursor.
fn queue_page(listed: ListedPage, start: PageStart, per_page: u32) -> QueuePage {
    QueuePage {
        queues: listed.queues,
        total: listed.total,
        total_capped: listed.total_capped,
        next_cursor: listed
            .next_after
            .map(|seq| QueueCursor::after(seq).encode()),
        page: match start {
            PageStart::Number(n) => Some(n),
            PageStart::After(_) => None,
        },
        per_page,
    }
}

/// Where a list page starts: after a cursor (which says where, so a `page`
/// beside it is ignored), or at a page number (1 when neither is given). A
/// cursor this API did not give names no page: a 404, as for the tests list.
fn page_start(cursor: Option<&str>, page: Option<u32>) -> Result<PageStart, ApiError> {
    match cursor {
        Some(cursor) => QueueCursor::parse(cursor)
            .map(|c| PageStart::After(c.submitted_seq()))
            .ok_or_else(|| {
                ApiError::no_page("no page at this cursor: pass a next_cursor as the API gave it")
            }),
        None => Ok(PageStart::Number(page.unwrap_or(1))),
    }
}
