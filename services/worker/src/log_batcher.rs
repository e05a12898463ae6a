//! Ships output lines to `<prefix>.logs.<queue_id>` in batches.
//!
//! Batching is driven by idleness, not a timer: the batcher publishes what
//! is buffered the moment it is free, so an idle queue's line goes out at
//! once, and a busy task's lines pile up during each publish into large
//! batches. The channel is bounded: when NATS is slower than a task's
//! output, the readers wait, the pipe fills and the task blocks on write,
//! so memory stays bounded and no line is dropped.
//!
//! The worker's own lines ("--- task a ---", "checked out …") are the
//! exception: a batch of only those waits up to [`SYSTEM_LINGER`] for more
//! lines. They come in bursts around stage and task boundaries, each its own
//! batch otherwise — and every batch is a JetStream message stored,
//! acknowledged and applied by the projector. A command's output line ends
//! the wait at once.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::message::PublishMessage;
use testarena_events::{now_millis, LogBatch, LogLine, LogStream, QueueId, WIRE_VERSION};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::metrics::WorkerMetrics;

/// Lines buffered between readers and the batcher.
const CHANNEL_LINES: usize = 4096;
/// A batch stays well under NATS's default 1 MiB max payload.
const MAX_BATCH_BYTES: usize = 512 * 1024;
/// How long a batch of only the worker's own lines waits for more.
const SYSTEM_LINGER: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub(crate) struct LogSink {
    tx: mpsc::Sender<LogLine>,
    metrics: Arc<WorkerMetrics>,
}

impl LogSink {
    pub(crate) async fn line(&self, source: &str, stream: LogStream, text: String) {
        let line = LogLine {
            ts_ms: now_millis(),
            source: source.to_owned(),
            stream,
            text,
        };
        // The batcher only stops once every sink is dropped.
        let _ = self.tx.send(line).await;
    }

    pub(crate) fn metrics(&self) -> &WorkerMetrics {
        &self.metrics
    }

    pub(crate) async fn system(&self, source: &str, text: impl Into<String>) {
        self.line(source, LogStream::System, text.into()).await;
    }
}

/// Starts the batcher; it ends after every [`LogSink`] clone is dropped and
/// the last line is published. Returns how many lines it published.
pub(crate) fn start(
    js: jetstream::Context,
    subject: String,
    queue_id: QueueId,
    attempt: u32,
    metrics: Arc<WorkerMetrics>,
) -> (LogSink, JoinHandle<u64>) {
    let (tx, mut rx) = mpsc::channel::<LogLine>(CHANNEL_LINES);
    let sink = LogSink {
        tx,
        metrics: metrics.clone(),
    };
    let task = tokio::spawn(async move {
        let mut published = 0u64;
        let mut batches = 0u64;
        while let Some(first) = rx.recv().await {
            let (mut lines, mut bytes) = (Vec::new(), 0);
            gather(&mut rx, &mut lines, &mut bytes, first);
            let linger_until = tokio::time::Instant::now() + SYSTEM_LINGER;
            while bytes < MAX_BATCH_BYTES && lines.iter().all(|l| l.stream == LogStream::System) {
                match tokio::time::timeout_at(linger_until, rx.recv()).await {
                    Ok(Some(line)) => gather(&mut rx, &mut lines, &mut bytes, line),
                    // Closed (the run ended) or waited long enough.
                    Ok(None) | Err(_) => break,
                }
            }
            let count = lines.len() as u64;
            let text_bytes: usize = lines.iter().map(|l| l.text.len()).sum();
            let batch = LogBatch {
                v: WIRE_VERSION,
                queue_id: queue_id.clone(),
                attempt,
                lines,
            };
            let message_id = format!("{queue_id}:{attempt}:log:{batches}");
            batches += 1;
            publish_until_stored(&js, &subject, &message_id, batch.to_json()).await;
            published += count;
            metrics.log_lines.inc_by(count);
            metrics.log_bytes.inc_by(text_bytes as u64);
        }
        published
    });
    (sink, task)
}

/// Adds `line` to the batch, then the lines already waiting in the
/// channel, up to the batch's byte bound.
fn gather(
    rx: &mut mpsc::Receiver<LogLine>,
    lines: &mut Vec<LogLine>,
    bytes: &mut usize,
    line: LogLine,
) {
    let mut next = Some(line);
    while let Some(line) = next {
        *bytes += line.text.len() + 64;
        lines.push(line);
        next = if *bytes < MAX_BATCH_BYTES {
            rx.try_recv().ok()
        } else {
            None
        };
    }
}

/// Retries with backoff until JetStream acknowledges: a log line is never
/// dropped because NATS blinked, and never doubled (the message id makes a
/// retry of a stored batch a no-op).
async fn publish_until_stored(
    js: &jetstream::Context,
    subject: &str,
    message_id: &str,
    payload: Vec<u8>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let publish = PublishMessage::build()
            .payload(payload.clone().into())
            .message_id(message_id);
        let result = match js.send_publish(subject.to_owned(), publish).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, subject, "publishing a log batch failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
