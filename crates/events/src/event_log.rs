//! Writing to and reading back from the events stream, for the services
//! that publish on behalf of others (the gateway for requests, the
//! scheduler for its decisions). One error type for this I/O,
//! `EventLogError`; each service maps it at its edge (the gateway to HTTP
//! statuses).

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::DirectGetErrorKind;
use async_nats::jetstream::{self};
use bytes::Bytes;

use crate::{
    ArenaNames, BisectEvent, BisectId, BoardEvent, Event, QueueId, TestEvent, WorkerEvent,
};

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// NATS or the stream cannot be reached now; a retry may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A conditional publish found the subject moved on.
    #[error("{0}")]
    Conflict(String),
    /// A stored message does not parse.
    #[error("reading a stored {what}: {reason}")]
    Unreadable { what: &'static str, reason: String },
}

/// What storing an id's first event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored at this stream sequence.
    New(u64),
    /// A retried publish (same message id) or a taken id: nothing stored.
    Taken,
}

#[derive(Clone)]
pub struct EventLog {
    client: async_nats::Client,
    js: jetstream::Context,
    names: ArenaNames,
}

impl EventLog {
    /// `js` should carry a short request timeout, so a write with NATS down
    /// fails within about a second instead of hanging.
    pub fn new(client: async_nats::Client, js: jetstream::Context, names: ArenaNames) -> Self {
        Self { client, js, names }
    }

    pub fn names(&self) -> &ArenaNames {
        &self.names
    }

    pub fn ensure_connected(&self) -> Result<(), EventLogError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(EventLogError::Unavailable(format!(
                "NATS is not reachable ({state})"
            ))),
        }
    }

    /// Publishes an event and returns its stream sequence.
    pub async fn publish(&self, event: &Event) -> Result<u64, EventLogError> {
        let subject = self.names.event_subject(&event.queue_id, event.body.kind());
        self.store(
            subject,
            PublishMessage::build().payload(event.to_json().into()),
        )
        .await
    }

    /// Publishes a test event (quarantine) and returns its stream sequence.
    pub async fn publish_test_event(&self, event: &TestEvent) -> Result<u64, EventLogError> {
        let subject = self.names.test_event_subject(event.body.kind());
        self.store(
            subject,
            PublishMessage::build().payload(event.to_json().into()),
        )
        .await
    }

    /// Publishes a bisect event and returns its stream sequence. The message
    /// id makes a repeat within the stream's duplicate window a no-op (a
    /// second scheduler, a retried request); the fold ignores later repeats.
    pub async fn publish_bisect_event(
        &self,
        event: &BisectEvent,
        message_id: String,
    ) -> Result<u64, EventLogError> {
        let subject = self
            .names
            .bisect_event_subject(&event.bisect_id, event.body.kind());
        let publish = PublishMessage::build()
            .payload(event.to_json().into())
            .message_id(message_id);
        self.store(subject, publish).await
    }

    /// Publishes a worker event and returns its stream sequence. A message
    /// id, where given, makes a repeat within the stream's duplicate window
    /// a no-op (two gateways seeing one worker go offline).
    pub async fn publish_worker_event(
        &self,
        event: &WorkerEvent,
        message_id: Option<String>,
    ) -> Result<u64, EventLogError> {
        let subject = self
            .names
            .worker_event_subject(&event.worker, event.body.kind());
        let mut publish = PublishMessage::build().payload(event.to_json().into());
        if let Some(id) = message_id {
            publish = publish.message_id(id);
        }
        self.store(subject, publish).await
    }

    /// Publishes a board event and returns its stream sequence; a message
    /// id makes a repeat within the duplicate window a no-op (two
    /// schedulers releasing one lease).
    pub async fn publish_board_event(
        &self,
        event: &BoardEvent,
        message_id: Option<String>,
    ) -> Result<u64, EventLogError> {
        let subject =
            self.names
                .board_event_subject(&event.worker, &event.board, event.body.kind());
        let mut publish = PublishMessage::build().payload(event.to_json().into());
        if let Some(id) = message_id {
            publish = publish.message_id(id);
        }
        self.store(subject, publish).await
    }

    /// Asks each queue named to stop (`cancel_requested` with `reason`).
    pub async fn cancel_queues(
        &self,
        queues: &[QueueId],
        reason: &str,
    ) -> Result<(), EventLogError> {
        for queue in queues {
            self.publish(&Event::new(
                queue.clone(),
                crate::EventBody::CancelRequested {
                    reason: Some(reason.to_owned()),
                },
            ))
            .await?;
        }
        Ok(())
    }

    /// Stores `payload` on `subject` only if nothing was ever stored there
    /// (an id's first event: a submit, a bisect's request); `message_id`
    /// makes a retried publish a no-op too.
    pub async fn store_first(
        &self,
        subject: String,
        message_id: String,
        payload: Bytes,
    ) -> Result<Stored, EventLogError> {
        self.ensure_connected()?;
        let publish = PublishMessage::build()
            .payload(payload)
            .message_id(message_id)
            .expected_last_subject_sequence(0);
        let outcome = match self.js.send_publish(subject, publish).await {
            Ok(ack) => ack.await,
            Err(e) => return Err(publish_error(e)),
        };
        match outcome {
            Ok(ack) if !ack.duplicate => Ok(Stored::New(ack.sequence)),
            Ok(_) => Ok(Stored::Taken),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(Stored::Taken),
            Err(e) => Err(publish_error(e)),
        }
    }

    /// The last event of one kind for a queue, if there is one.
    pub async fn last_event(
        &self,
        queue_id: &QueueId,
        kind: &str,
    ) -> Result<Option<(u64, Event)>, EventLogError> {
        let subject = self.names.event_subject(queue_id, kind);
        let Some((seq, payload)) = self.last_message(subject).await? else {
            return Ok(None);
        };
        let event = Event::from_json(&payload).map_err(|e| EventLogError::Unreadable {
            what: "event",
            reason: e.to_string(),
        })?;
        Ok(Some((seq, event)))
    }

    /// The bisect's `requested` event, if there is one.
    pub async fn bisect_requested(
        &self,
        bisect: &BisectId,
    ) -> Result<Option<BisectEvent>, EventLogError> {
        let subject = self.names.bisect_event_subject(bisect, "requested");
        let Some((_, payload)) = self.last_message(subject).await? else {
            return Ok(None);
        };
        BisectEvent::from_json(&payload)
            .map(Some)
            .map_err(|e| EventLogError::Unreadable {
                what: "bisect event",
                reason: e.to_string(),
            })
    }

    /// The last message stored on a subject of the events stream, with its sequence.
    async fn last_message(&self, subject: String) -> Result<Option<(u64, Bytes)>, EventLogError> {
        let stream = self
            .js
            .get_stream_no_info(&self.names.events_stream)
            .await
            .map_err(|e| EventLogError::Unavailable(format!("events stream: {e}")))?;
        match stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(Some((message.sequence, message.payload))),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(EventLogError::Unavailable(format!(
                "reading the events stream: {e}"
            ))),
        }
    }

    /// Stores one message in JetStream; its stream sequence once acknowledged.
    async fn store(&self, subject: String, publish: PublishMessage) -> Result<u64, EventLogError> {
        self.ensure_connected()?;
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        Ok(ack.sequence)
    }
}

fn publish_error(error: PublishError) -> EventLogError {
    match error.kind() {
        PublishErrorKind::WrongLastSequence => EventLogError::Conflict(error.to_string()),
        _ => EventLogError::Unavailable(format!("publishing to NATS JetStream: {error}")),
    }
}
