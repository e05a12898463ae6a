//! What every handler shares.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, context::PublishErrorKind};
use testarena_events::{
    ArenaNames, BisectEvent, BisectId, Event, QueueId, QueueStatus, QueueView, TestEvent,
};

use crate::api::error::ApiError;
use crate::applied_watch::AppliedWatch;
use crate::views::Views;

pub(crate) struct AppState {
    pub client: async_nats::Client,
    /// JetStream with a short timeout: with NATS down, a write answers 503
    /// within about a second instead of hanging.
    pub js: jetstream::Context,
    pub names: ArenaNames,
    pub views: Views,
    pub applied: AppliedWatch,
    pub data_dir: PathBuf,
    pub submit_wait: Duration,
    pub extra_metrics: Option<crate::metrics::ExtraMetrics>,
    /// Routes queues to workers; knows the registry.
    pub dispatcher: std::sync::Arc<crate::dispatch::Dispatcher>,
    /// Workers seen within this long count for the submit-time check.
    pub worker_memory: Duration,
    /// The flip rate at or above which a test is `flaky` (`--flaky-flip-rate`).
    pub flaky_flip_rate: f64,
    /// The gateway's shutdown: open log streams end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    /// The submit-time check: a `profile`/`requires` some worker seen
    /// within `--worker-memory-hours` offers, else a 422 naming the field.
    pub(crate) fn check_routable(
        &self,
        profile: Option<&testarena_events::ProfileName>,
        requires: &[testarena_events::Label],
    ) -> Result<(), ApiError> {
        let workers = self.dispatcher.workers();
        crate::dispatch::check_routable(
            &workers,
            testarena_events::now_millis(),
            self.worker_memory,
            profile,
            requires,
        )
        .map_err(|e| ApiError::invalid_field(e.field, e.message))
    }

    /// One queue's view, with `position` and `waiting_reason` if it waits.
    pub(crate) fn with_waiting(&self, view: QueueView) -> QueueView {
        let mut views = vec![view];
        self.fill_waiting(&mut views);
        views.pop().expect("one view in, one out")
    }

    /// Fills the waiting views' `position` and `waiting_reason`, which only
    /// the dispatcher knows (one ordering of the waiting queues for all).
    pub(crate) fn fill_waiting(&self, views: &mut [QueueView]) {
        let waiting: Vec<(usize, QueueId)> = views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.status == QueueStatus::Waiting.as_str())
            .filter_map(|(i, v)| QueueId::parse(v.id.clone()).ok().map(|id| (i, id)))
            .collect();
        if waiting.is_empty() {
            return;
        }
        let ids: Vec<QueueId> = waiting.iter().map(|(_, id)| id.clone()).collect();
        let infos = self.dispatcher.waiting_infos(&ids);
        for ((i, _), info) in waiting.iter().zip(infos) {
            if let Some(info) = info {
                views[*i].position = Some(info.position);
                views[*i].waiting_reason = Some(info.reason);
            }
        }
    }

    pub(crate) fn ensure_connected(&self) -> Result<(), ApiError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(ApiError::unavailable(format!(
                "NATS is not reachable ({state})"
            ))),
        }
    }

    /// Publishes an event and returns its stream sequence.
    pub(crate) async fn publish(&self, event: &Event) -> Result<u64, ApiError> {
        let subject = self.names.event_subject(&event.queue_id, event.body.kind());
        self.store(
            subject,
            PublishMessage::build().payload(event.to_json().into()),
        )
        .await
    }

    /// Publishes a test event (quarantine) and returns its stream sequence.
    pub(crate) async fn publish_test_event(&self, event: &TestEvent) -> Result<u64, ApiError> {
        let subject = self.names.test_event_subject(event.body.kind());
        self.store(
            subject,
            PublishMessage::build().payload(event.to_json().into()),
        )
        .await
    }

    /// Publishes a bisect event and returns its stream sequence. The message
    /// id makes a repeat within the stream's duplicate window a no-op (a
    /// second driver, a retried request); the fold ignores later repeats.
    pub(crate) async fn publish_bisect_event(
        &self,
        event: &BisectEvent,
        message_id: String,
    ) -> Result<u64, ApiError> {
        let subject = self
            .names
            .bisect_event_subject(&event.bisect_id, event.body.kind());
        let publish = PublishMessage::build()
            .payload(event.to_json().into())
            .message_id(message_id);
        self.store(subject, publish).await
    }

    /// The bisect's `requested` event, if there is one.
    pub(crate) async fn bisect_requested(
        &self,
        bisect: &BisectId,
    ) -> Result<Option<BisectEvent>, ApiError> {
        let subject = self.names.bisect_event_subject(bisect, "requested");
        let Some((_, payload)) = self.last_message(subject).await? else {
            return Ok(None);
        };
        BisectEvent::from_json(&payload)
            .map(Some)
            .map_err(|e| ApiError::internal("reading a stored bisect event", e))
    }

    /// The last message stored on a subject of the events stream, with its sequence.
    async fn last_message(&self, subject: String) -> Result<Option<(u64, bytes::Bytes)>, ApiError> {
        use async_nats::jetstream::stream::DirectGetErrorKind;
        let stream = self
            .js
            .get_stream_no_info(&self.names.events_stream)
            .await
            .map_err(|e| ApiError::unavailable(format!("events stream: {e}")))?;
        match stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(Some((message.sequence, message.payload))),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(ApiError::unavailable(format!(
                "reading the events stream: {e}"
            ))),
        }
    }

    /// Stores one message in JetStream; its stream sequence once acknowledged.
    async fn store(&self, subject: String, publish: PublishMessage) -> Result<u64, ApiError> {
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

    /// Stores `payload` on `subject` only if nothing was ever stored there
    /// (an id's first event: a submit, a bisect's request); `message_id`
    /// makes a retried publish a no-op too.
    pub(crate) async fn store_first(
        &self,
        subject: String,
        message_id: String,
        payload: bytes::Bytes,
    ) -> Result<Stored, ApiError> {
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
    pub(crate) async fn last_event(
        &self,
        queue_id: &QueueId,
        kind: &str,
    ) -> Result<Option<(u64, Event)>, ApiError> {
        let subject = self.names.event_subject(queue_id, kind);
        let Some((seq, payload)) = self.last_message(subject).await? else {
            return Ok(None);
        };
        let event = Event::from_json(&payload)
            .map_err(|e| ApiError::internal("reading a stored event", e))?;
        Ok(Some((seq, event)))
    }
}

/// What storing an id's first event did.
pub(crate) enum Stored {
    /// Stored at this stream sequence.
    New(u64),
    /// A retried publish (same message id) or a taken id: nothing stored.
    Taken,
}

pub(crate) fn publish_error(error: async_nats::jetstream::context::PublishError) -> ApiError {
    match error.kind() {
        PublishErrorKind::WrongLastSequence => ApiError::conflict(error.to_string()),
        _ => ApiError::unavailable(format!("publishing to NATS JetStream: {error}")),
    }
}
