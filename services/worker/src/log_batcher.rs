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
//!
//! A batch is retried until stored within the run's bound (publish.rs). If
//! it cannot be stored, the batcher stops the run (the queue is left to its
//! next attempt), drops its channel so no writer waits on it, and ends with
//! the error: a run whose log has a hole never says it finished.

use std::time::Duration;

use testarena_events::{now_millis, LogBatch, LogLine, LogStream, QueueId, WIRE_VERSION};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::metrics::WorkerMetrics;
use crate::publish::{PublishError, Publisher};
use crate::stop_signal::{StopReason, StopSignal};

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
        self.send(LogLine::new(now_millis(), source.to_owned(), stream, text))
            .await;
    }

    /// A line with its marks already set (output_lines.rs).
    pub(crate) async fn send(&self, line: LogLine) {
        // Fails only once the batcher gave up on NATS and stopped the run:
        // the line could not be stored anyway.
        let _ = self.tx.send(line).await;
    }

    pub(crate) fn metrics(&self) -> &WorkerMetrics {
        &self.metrics
    }

    pub(crate) async fn system(&self, source: &str, text: impl Into<String>) {
        self.line(source, LogStream::System, text.into()).await;
    }
}

/// Where a run's batches go and who to tell when they cannot.
pub(crate) struct BatchTarget {
    pub publisher: Publisher,
    pub subject: String,
    pub queue_id: QueueId,
    pub attempt: u32,
    /// The shard of a sharded queue this run is; every batch says it.
    pub shard: Option<u8>,
    /// Stopped when a batch cannot be stored.
    pub stop: StopSignal,
}

/// Starts the batcher; it ends after every [`LogSink`] clone is dropped and
/// the last line is published, returning how many lines it published, or
/// after a batch could not be stored, with why.
pub(crate) fn start(
    target: BatchTarget,
    metrics: Arc<WorkerMetrics>,
) -> (LogSink, JoinHandle<Result<u64, PublishError>>) {
    let (tx, rx) = mpsc::channel::<LogLine>(CHANNEL_LINES);
    let sink = LogSink {
        tx,
        metrics: metrics.clone(),
    };
    let task = tokio::spawn(async move {
        let result = ship(rx, &target, &metrics).await;
        match &result {
            // A superseded run is stopped already, and said why.
            Ok(_) | Err(PublishError::Superseded(_)) => {}
            Err(error) => {
                tracing::error!(%error, queue_id = %target.queue_id, "a log batch could not be stored; stopping the run");
                target
                    .stop
                    .stop(StopReason::NatsUnreachable(format!("log lines: {error}")));
            }
        }
        result
    });
    (sink, task)
}

/// Publishes batches until the channel closes (Ok: lines published) or a
/// batch cannot be stored; the receiver is dropped either way.
async fn ship(
    mut rx: mpsc::Receiver<LogLine>,
    target: &BatchTarget,
    metrics: &WorkerMetrics,
) -> Result<u64, PublishError> {
    let mut published = 0u64;
    let mut batches = 0u64;
    while let Some(first) = rx.recv().await {
        let lines = next_batch(&mut rx, first).await;
        let count = lines.len() as u64;
        let text_bytes: usize = lines.iter().map(|l| l.text.len()).sum();
        let batch = LogBatch {
            v: WIRE_VERSION,
            queue_id: target.queue_id.clone(),
            attempt: target.attempt,
            shard: target.shard,
            lines,
        };
        let message_id = format!(
            "{}:{}{}:log:{batches}",
            target.queue_id,
            target.attempt,
            shard_tag(target.shard)
        );
        batches += 1;
        target
            .publisher
            .publish(&target.subject, &message_id, batch.to_json().into())
            .await?;
        published += count;
        metrics.log_lines.inc_by(count);
        metrics.log_bytes.inc_by(text_bytes as u64);
    }
    Ok(published)
}

/// `first` and what follows it at once; a batch of only the worker's own
/// lines lingers for more.
async fn next_batch(rx: &mut mpsc::Receiver<LogLine>, first: LogLine) -> Vec<LogLine> {
    let (mut lines, mut bytes) = (Vec::new(), 0);
    gather(rx, &mut lines, &mut bytes, first);
    let linger_until = tokio::time::Instant::now() + SYSTEM_LINGER;
    while bytes < MAX_BATCH_BYTES && lines.iter().all(|l| l.stream == LogStream::System) {
        match tokio::time::timeout_at(linger_until, rx.recv()).await {
            Ok(Some(line)) => gather(rx, &mut lines, &mut bytes, line),
            // Closed (the run ended) or waited long enough.
            Ok(None) | Err(_) => break,
        }
    }
    lines
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

/// What a shard adds to a message id, so two shards' messages of the same
/// attempt number never deduplicate each other; nothing when unsharded.
pub(crate) fn shard_tag(shard: Option<u8>) -> String {
    shard.map(|s| format!(":s{s}")).unwrap_or_default()
}
