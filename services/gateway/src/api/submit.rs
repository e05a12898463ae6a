//! `POST /api/queue`: validate, publish `submitted` conditionally, wait for
//! the projector, answer with the view.
//!
//! The publish carries `Nats-Expected-Last-Subject-Sequence: 0` on the
//! queue's `submitted` subject, so only the first submit of an id is stored
//! (two gateways cannot both create it), and a message id, so a retried
//! publish within the duplicate window is a no-op. Anything else under an
//! existing id is compared with the stored submit: same body → 200 and that
//! queue, different body → 409.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};
use testarena_events::{Event, Stored};

use super::auth::default_owner;
use super::error::ApiError;
use super::model::{Accepted, QueueView, SubmitRequest};
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::state::AppState;
use crate::submission::{claim_order, Submission};

#[derive(ApiResponse, Debug)]
pub(crate) enum SubmitResponse {
    /// The queue was created.
    #[oai(status = 201)]
    Created(Json<QueueView>),
    /// The same queue was submitted before: this is it.
    #[oai(status = 200)]
    Existing(Json<QueueView>),
    /// Stored in the event stream, but the view did not catch up in time.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}

pub(crate) struct SubmitApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl SubmitApi {
    /// Submit a queue
    ///
    /// Stores a `submitted` event and waits (bounded) until the view shows
    /// the queue. Retrying an identical submit returns the same queue. A
    /// `profile`/`requires` that no worker seen within the gateway's
    /// `--worker-memory-hours` offers is refused (422).
    #[oai(path = "/queue", method = "post")]
    async fn submit(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: StrictJson<SubmitRequest>,
    ) -> Result<SubmitResponse, ApiError> {
        let owner = default_owner(request);
        let mut submission = Submission::parse(body.0, owner)?;
        match check_and_store(&state, &mut submission).await? {
            Stored::New(seq) => respond(&state, &submission, seq, SubmitResponse::Created).await,
            Stored::Taken => existing(&state, &submission).await,
        }
    }
}

/// The submit's checks and publish, for every route that submits (a
/// repository's `testarena.toml` too): a `profile`/`requires` some worker
/// offers, the shards' claim order, then `submitted` if the id is new.
pub(crate) async fn check_and_store(
    state: &AppState,
    submission: &mut Submission,
) -> Result<Stored, ApiError> {
    state.check_routable(submission.profile.as_ref(), &submission.requires)?;
    if submission.shards > 1 {
        let expected = state
            .views
            .expected_durations(
                &submission.source.repo,
                submission.profile.as_ref(),
                &submission.tasks,
            )
            .await?;
        submission.claim_order = claim_order(submission.shards, &expected);
    }
    store_submitted(state, submission).await
}

/// Publishes the submission's `submitted` event, only if its id is new.
pub(super) async fn store_submitted(
    state: &AppState,
    submission: &Submission,
) -> Result<Stored, ApiError> {
    let event = Event::new(submission.id.clone(), submission.event_body());
    let subject = state.names.event_subject(&submission.id, "submitted");
    let message_id = format!("{}:submitted", submission.id);
    Ok(state
        .events
        .store_first(subject, message_id, event.to_json().into())
        .await?)
}

/// The id is taken: same body → that queue, anything else → 409.
async fn existing(state: &AppState, submission: &Submission) -> Result<SubmitResponse, ApiError> {
    let Some((seq, stored)) = state.events.last_event(&submission.id, "submitted").await? else {
        return Err(ApiError::unavailable(
            "the queue id is taken but its submit could not be read back; retry",
        ));
    };
    if state
        .events
        .last_event(&submission.id, "deleted")
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "queue {} was deleted; queue ids are not reused, choose another id",
            submission.id
        )));
    }
    if !submission.is_stored_as(&stored.body) {
        return Err(ApiError::conflict(format!(
            "queue {} already exists with a different body",
            submission.id
        )));
    }
    respond(state, submission, seq, SubmitResponse::Existing).await
}

/// Waits (bounded) for the view: the view (201/200), or 202 with the
/// sequence when it did not catch up in time.
pub(crate) async fn respond(
    state: &AppState,
    submission: &Submission,
    seq: u64,
    wrap: fn(Json<QueueView>) -> SubmitResponse,
) -> Result<SubmitResponse, ApiError> {
    let accepted = || {
        SubmitResponse::Accepted(Json(Accepted {
            id: submission.id.to_string(),
            seq,
        }))
    };
    if !state.applied.wait_for(seq, state.submit_wait).await {
        return Ok(accepted());
    }
    match state.views.queue(submission.id.as_str()).await? {
        Some(view) => Ok(wrap(Json(state.with_waiting(view).await))),
        None => Ok(accepted()),
    }
}
