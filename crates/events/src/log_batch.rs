//! Log batches on `<prefix>.logs.<queue_id>`: every output line of a queue,
//! tagged with where it came from. Also a public contract (`schemas/log_batch.json`).

use serde::{Deserialize, Serialize};

use crate::QueueId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    pub v: u32,
    pub queue_id: QueueId,
    pub attempt: u32,
    /// The shard of a sharded queue whose worker read these lines; absent
    /// for an unsharded queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u8>,
    pub lines: Vec<LogLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch when the worker read the line.
    pub ts_ms: u64,
    /// `checkout`, `build`, `boot`, `teardown`, `task:<task_id>` or `worker`.
    pub source: String,
    pub stream: LogStream,
    /// One line, without its line terminator; invalid UTF-8 replaced.
    pub text: String,
    /// Read after the worker stopped the command on purpose (teardown,
    /// cancel, timeout): shutdown noise a reader may mute. On the wire only
    /// when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub teardown: bool,
    /// The line matched the profile's `failure_regex`. On the wire only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failure: bool,
    /// A task's line that says how far it got ("case 12 of 25", "[12/25]",
    /// or the profile's `progress_regex`). On the wire only when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<LineProgress>,
}

/// `done` of `total` steps (test cases, say) of a task; `0 < total`, `done <= total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProgress {
    pub done: u32,
    pub total: u32,
}

fn is_false(value: &bool) -> bool {
    !value
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines the worker itself writes (stage banners, kill notices, caps).
    System,
}

impl LogBatch {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("log batch serializes")
    }

    /// Parses a batch; one of another wire version is a `WireError::UnknownVersion`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, crate::WireError> {
        crate::wire_version::decode(bytes)
    }
}

impl crate::wire_version::Versioned for LogBatch {
    fn version(&self) -> u64 {
        u64::from(self.v)
    }
}

impl LogLine {
    /// A line as the worker read it, with no marks.
    pub fn new(ts_ms: u64, source: String, stream: LogStream, text: String) -> Self {
        Self {
            ts_ms,
            source,
            stream,
            text,
            teardown: false,
            failure: false,
            progress: None,
        }
    }

    /// The line as it appears in `queue_log.txt`.
    /// The line as `queue_log.txt` and the CLI print it: `[source] text`,
    /// `[source!]` for stderr, and `[s2 source]` for a line of shard 2 of
    /// a sharded queue.
    pub fn render(&self, shard: Option<u8>) -> String {
        let shard = shard.map(|s| format!("s{s} ")).unwrap_or_default();
        let mark = if self.stream == LogStream::Stderr {
            "!"
        } else {
            ""
        };
        format!("[{shard}{}{mark}] {}\n", self.source, self.text)
    }
}
