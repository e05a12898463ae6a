//! A queue's log by line number, for logs of any size: a range of lines
//! (`/log/lines`, so the dashboard loads what it does not hold) and a search
//! over the whole log (`/log/search`). Both read `queue_log.txt` through
//! `log_scan.rs` on a blocking thread; line numbers are the file's, from 1,
//! which are also the order the SSE stream sends its lines in.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    Object, OpenApi,
};

use super::error::ApiError;
use super::queries::find_retained;
use super::ApiTags;
use crate::log_scan::{self, LogSearch, NumberedLine};
use crate::state::AppState;

const DEFAULT_LINES: u32 = 1000;
const DEFAULT_HITS: u32 = 1000;

/// One line of a queue's log, as `queue_log.txt` holds it.
#[derive(Debug, Object)]
pub(crate) struct NumberedLogLine {
    /// Its number in the log, from 1.
    pub line: u64,
    /// `checkout`, `build`, `boot`, `teardown`, `task:<id>` or `worker`.
    pub source: String,
    /// `stderr`, or `stdout` (the file does not tell `system` lines apart).
    pub stream: String,
    /// The shard that read it, for a sharded queue.
    #[oai(skip_serializing_if_is_none)]
    pub shard: Option<u8>,
    pub text: String,
}

/// Lines of a queue's log from `from_line`.
#[derive(Debug, Object)]
pub(crate) struct LogLinesPage {
    pub lines: Vec<NumberedLogLine>,
    /// Lines in the log when it was read.
    pub total_lines: u64,
}

/// The lines of a queue's log that a search matched.
#[derive(Debug, Object)]
pub(crate) struct LogSearchPage {
    /// The first `limit` matching lines, each with its number.
    pub hits: Vec<NumberedLogLine>,
    /// Matching lines in all (more than `hits` holds when the limit cut them).
    pub matches: u64,
    /// Lines in the log when it was searched.
    pub total_lines: u64,
}

pub(crate) struct LogLinesApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl LogLinesApi {
    /// Lines of the queue's log by number
    ///
    /// `limit` lines from `from_line` (the first is 1), each with its
    /// number, source and stream, and how many lines the log has: a reader
    /// of a long log loads the part it wants.
    #[oai(path = "/queue/:id/log/lines", method = "get")]
    async fn lines(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        /// The first line wanted, from 1; 1 when absent.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
        from_line: Query<Option<u64>>,
        /// At most this many lines, 1 to 10000; 1000 when absent.
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<LogLinesPage>, ApiError> {
        let path = log_path(&state, &id.0).await?;
        let from_line = from_line.0.unwrap_or(1);
        let limit = limit.0.unwrap_or(DEFAULT_LINES) as usize;
        let range = read_log(path, move |file| log_scan::range(file, from_line, limit)).await?;
        Ok(Json(LogLinesPage {
            lines: range.lines.iter().map(numbered).collect(),
            total_lines: range.total_lines,
        }))
    }

    /// Search the queue's whole log
    ///
    /// Every line whose text (without its `[source]` label and colour
    /// escapes) contains `q` in any case, or with `regex=true` matches the
    /// regular expression `q` (Rust `regex` syntax, case as written). The
    /// first `limit` hits come with their line numbers; an invalid regular
    /// expression is a 400 that says why.
    #[oai(path = "/queue/:id/log/search", method = "get")]
    async fn search(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        /// The text (or regular expression) to find: no control characters.
        #[oai(validator(
            min_length = 1,
            max_length = 1024,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
        ))]
        q: Query<String>,
        /// `q` is a regular expression; false when absent.
        regex: Query<Option<bool>>,
        /// Hits listed, 1 to 10000; 1000 when absent (`matches` counts them all).
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<LogSearchPage>, ApiError> {
        let search = LogSearch::parse(&q.0, regex.0.unwrap_or(false))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let path = log_path(&state, &id.0).await?;
        let limit = limit.0.unwrap_or(DEFAULT_HITS) as usize;
        let found = read_log(path, move |file| log_scan::search(file, &search, limit)).await?;
        Ok(Json(LogSearchPage {
            hits: found.hits.iter().map(numbered).collect(),
            matches: found.matches,
            total_lines: found.total_lines,
        }))
    }
}

/// The queue's `queue_log.txt`; 404 for an unknown queue.
async fn log_path(state: &AppState, id: &str) -> Result<std::path::PathBuf, ApiError> {
    let view = find_retained(state, id, "log").await?;
    Ok(state
        .data_dir
        .join(&view.id)
        .join(testarena_events::QUEUE_LOG_FILE))
}

/// Runs `scan` over the log file on a blocking thread; a queue with no log
/// file yet is an empty log.
async fn read_log<T: Send + 'static>(
    path: std::path::PathBuf,
    scan: impl FnOnce(&mut dyn std::io::Read) -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let read = tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
        Ok(mut file) => scan(&mut file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => scan(&mut std::io::empty()),
        Err(e) => Err(e),
    });
    read.await
        .map_err(|e| ApiError::internal("reading queue_log.txt", e))?
        .map_err(|e| ApiError::internal("reading queue_log.txt", e))
}

/// A stored line (`[s2 source!] text`) as the API's object.
fn numbered(line: &NumberedLine) -> NumberedLogLine {
    let text = String::from_utf8_lossy(&line.bytes);
    let label = text
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .map(|(label, _)| label);
    let shown = String::from_utf8_lossy(log_scan::shown_text(&line.bytes)).into_owned();
    let Some(label) = label else {
        return NumberedLogLine {
            line: line.number,
            source: String::new(),
            stream: "stdout".into(),
            shard: None,
            text: shown,
        };
    };
    let (shard, source) = match label.split_once(' ') {
        Some((s, source)) if s.len() > 1 && s.starts_with('s') => (s[1..].parse().ok(), source),
        _ => (None, label),
    };
    let (source, stderr) = match source.strip_suffix('!') {
        Some(source) => (source, true),
        None => (source, false),
    };
    NumberedLogLine {
        line: line.number,
        source: source.to_owned(),
        stream: if stderr { "stderr" } else { "stdout" }.into(),
        shard,
        text: shown,
    }
}
