//! Reads a child's stdout or stderr line by line into the log sink. A line
//! longer than [`MAX_LINE`] is split, invalid UTF-8 is replaced, and past
//! the per-command cap lines are only counted, so a flooding task costs
//! bounded memory and bounded log storage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use testarena_events::{now_millis, LogLine, LogStream};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::line_marks::LineMarks;
use crate::log_batcher::LogSink;

pub(crate) const MAX_LINE: usize = 16 * 1024;

/// Bytes a command may store in the log; shared by its stdout and stderr.
#[derive(Debug, Default)]
pub(crate) struct LogBudget {
    pub cap_bytes: u64,
    stored_bytes: AtomicU64,
    dropped_lines: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl LogBudget {
    pub(crate) fn new(cap_bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            cap_bytes,
            ..Default::default()
        })
    }

    fn admit(&self, len: usize) -> bool {
        let before = self.stored_bytes.fetch_add(len as u64, Ordering::Relaxed);
        if before + len as u64 <= self.cap_bytes {
            true
        } else {
            self.dropped_lines.fetch_add(1, Ordering::Relaxed);
            self.dropped_bytes.fetch_add(len as u64, Ordering::Relaxed);
            false
        }
    }

    /// (lines, bytes) not stored because the cap was reached.
    pub(crate) fn dropped(&self) -> (u64, u64) {
        (
            self.dropped_lines.load(Ordering::Relaxed),
            self.dropped_bytes.load(Ordering::Relaxed),
        )
    }
}

/// Where one command's output lines go, shared by its stdout and stderr readers.
#[derive(Clone)]
pub(crate) struct LineTarget {
    pub source: String,
    pub sink: LogSink,
    pub budget: Arc<LogBudget>,
    pub marks: Arc<LineMarks>,
    /// Every line also goes here, e.g. to a readiness regex (never blocks).
    pub tap: Option<mpsc::UnboundedSender<String>>,
}

pub(crate) async fn forward_lines<R: AsyncRead + Unpin>(
    reader: R,
    stream: LogStream,
    target: LineTarget,
) {
    let source = &target.source;
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => {
                target
                    .sink
                    .system(
                        source,
                        format!("reading {} failed: {e}", stream_name(stream)),
                    )
                    .await;
                break;
            }
        };
        if buf.is_empty() {
            break;
        }
        let room = MAX_LINE - pending.len();
        let (take, complete) = match memchr_newline(&buf[..buf.len().min(room)]) {
            Some(i) => (i + 1, true),
            None if buf.len() >= room => (room, true),
            None => (buf.len(), false),
        };
        pending.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if complete {
            emit(&mut pending, stream, &target).await;
        }
    }
    if !pending.is_empty() {
        emit(&mut pending, stream, &target).await;
    }
}

fn stream_name(stream: LogStream) -> &'static str {
    match stream {
        LogStream::Stdout => "stdout",
        LogStream::Stderr => "stderr",
        LogStream::System => "system",
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

async fn emit(pending: &mut Vec<u8>, stream: LogStream, target: &LineTarget) {
    let mut bytes = &pending[..];
    if let Some(stripped) = bytes.strip_suffix(b"\n") {
        bytes = stripped;
    }
    if let Some(stripped) = bytes.strip_suffix(b"\r") {
        bytes = stripped;
    }
    let text = String::from_utf8_lossy(bytes).into_owned();
    if let Some(tap) = &target.tap {
        let _ = tap.send(text.clone());
    }
    if target.budget.admit(text.len()) {
        let mut line = LogLine::new(now_millis(), target.source.clone(), stream, text);
        target.marks.mark(&mut line);
        target.sink.send(line).await;
    }
    pending.clear();
}
