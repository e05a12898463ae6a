//! A sharded queue's shared task list, kept in JetStream: a shard takes a
//! task by publishing `task_claimed` on the task's own subject, conditional
//! on that subject's last sequence (0: never claimed; a claim of a dead
//! attempt of the same shard: taken back). JetStream stores only the first
//! of two claims, so no task runs twice and no lock is held anywhere.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self};
use futures_util::StreamExt;
use testarena_events::{ArenaNames, Event, EventBody, FinalStatus, QueueId, TaskSpec};

use crate::build_claims::BuildShare;
use crate::shard_progress::{Resume, ShardProgress};

/// How long reading a queue's events may take before the shard gives up
/// on this delivery (it is redelivered).
const READ_BOUND: Duration = Duration::from_secs(10);
/// Tries of one claim or `finished` publish that NATS did not answer.
const PUBLISH_TRIES: u32 = 5;

/// Folds the queue's events as the stream holds them now.
pub(crate) async fn read_progress(
    js: &jetstream::Context,
    names: &ArenaNames,
    queue_id: &QueueId,
) -> anyhow::Result<ShardProgress> {
    tokio::time::timeout(READ_BOUND, read_all(js, names, queue_id))
        .await
        .context("reading the queue's events took too long")?
}

async fn read_all(
    js: &jetstream::Context,
    names: &ArenaNames,
    queue_id: &QueueId,
) -> anyhow::Result<ShardProgress> {
    let stream = js
        .get_stream_no_info(&names.events_stream)
        .await
        .context("opening the events stream")?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            filter_subject: names.queue_events_filter(queue_id),
            ..Default::default()
        })
        .await
        .context("reading the queue's events")?;
    let mut messages = consumer
        .messages()
        .await
        .context("reading the queue's events")?;
    let mut progress = ShardProgress::default();
    while let Some(message) = messages.next().await {
        let message = message.context("reading the queue's events")?;
        let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        if let Ok(event) = Event::from_json(&message.payload) {
            progress.apply(seq, &event);
        }
        if pending == 0 {
            break;
        }
    }
    Ok(progress)
}

/// Whether a conditional publish was stored.
pub(crate) enum Conditional {
    Stored,
    /// Another publish came first.
    Lost,
}

/// Publishes `event` on `subject` only while `expected_last` is the
/// subject's last sequence; a retry after a lost answer is deduplicated by
/// its message id.
pub(crate) async fn publish_if_last(
    js: &jetstream::Context,
    subject: String,
    message_id: String,
    event: &Event,
    expected_last: u64,
) -> anyhow::Result<Conditional> {
    let mut last_error = String::new();
    for try_number in 0..PUBLISH_TRIES {
        if try_number > 0 {
            tokio::time::sleep(Duration::from_millis(100 << try_number)).await;
        }
        let publish = PublishMessage::build()
            .payload(event.to_json().into())
            .message_id(message_id.as_str())
            .expected_last_subject_sequence(expected_last);
        let outcome = match js.send_publish(subject.clone(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => {
                last_error = e.to_string();
                continue;
            }
        };
        match outcome {
            Ok(_) => return Ok(Conditional::Stored),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                return Ok(Conditional::Lost)
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    anyhow::bail!("NATS did not store {subject}: {last_error}")
}

/// One shard's way through the queue's shared list: first the tasks an
/// earlier attempt of this shard left unfinished, then every task in claim
/// order that no shard claimed yet.
pub(crate) struct SharedTasks {
    js: jetstream::Context,
    names: ArenaNames,
    queue_id: QueueId,
    shard: u8,
    attempt: u32,
    order: Vec<usize>,
    cursor: Mutex<Cursor>,
}

struct Cursor {
    resume: VecDeque<Resume>,
    /// Position in `order` of the next task to try.
    next: usize,
}

impl SharedTasks {
    pub(crate) fn new(
        js: jetstream::Context,
        names: ArenaNames,
        queue_id: QueueId,
        (shard, attempt): (u8, u32),
        order: Vec<usize>,
        resume: Vec<Resume>,
    ) -> Self {
        Self {
            js,
            names,
            queue_id,
            shard,
            attempt,
            order,
            cursor: Mutex::new(Cursor {
                resume: resume.into(),
                next: 0,
            }),
        }
    }

    /// This shard as the queue's build claim names it (build_claims.rs).
    pub(crate) fn build_share(&self) -> BuildShare {
        BuildShare {
            js: self.js.clone(),
            names: self.names.clone(),
            queue_id: self.queue_id.clone(),
            shard: self.shard,
            attempt: self.attempt,
        }
    }

    /// The index of the next task this shard claimed, or `None` when every
    /// task is someone's.
    pub(crate) async fn next(&self, tasks: &[TaskSpec]) -> anyhow::Result<Option<usize>> {
        loop {
            let Some((index, expected_last)) = self.next_candidate() else {
                return Ok(None);
            };
            match self.claim(&tasks[index], expected_last).await? {
                Conditional::Stored => return Ok(Some(index)),
                Conditional::Lost => continue,
            }
        }
    }

    fn next_candidate(&self) -> Option<(usize, u64)> {
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(resume) = cursor.resume.pop_front() {
            return Some((resume.index, resume.last_claim_seq));
        }
        let index = *self.order.get(cursor.next)?;
        cursor.next += 1;
        Some((index, 0))
    }

    async fn claim(&self, task: &TaskSpec, expected_last: u64) -> anyhow::Result<Conditional> {
        let body = EventBody::TaskClaimed {
            task_id: task.id.clone(),
            attempt: self.attempt,
        };
        let event = Event::new(self.queue_id.clone(), body).of_shard(Some(self.shard));
        let message_id = format!(
            "{}:{}:s{}:claim:{}",
            self.queue_id, self.attempt, self.shard, task.id
        );
        let subject = self.names.task_claim_subject(&self.queue_id, &task.id);
        publish_if_last(&self.js, subject, message_id, &event, expected_last).await
    }
}

/// Ends a sharded queue with `finished`, unless another shard already did:
/// the queue's `finished` subject takes only its first event.
pub(crate) async fn finish_queue_once(
    js: &jetstream::Context,
    names: &ArenaNames,
    queue_id: &QueueId,
    status: FinalStatus,
    reason: Option<String>,
) -> anyhow::Result<bool> {
    let body = EventBody::Finished {
        status,
        attempt: None,
        reason,
    };
    let event = Event::new(queue_id.clone(), body);
    let subject = names.event_subject(queue_id, "finished");
    let message_id = format!("{queue_id}:finished");
    let stored = publish_if_last(js, subject, message_id, &event, 0).await?;
    Ok(matches!(stored, Conditional::Stored))
}
