//! `/api/bisect`: start a bisect (POST), read one (GET), cancel it, delete
//! it, and list them (`/api/bisects`). Each write publishes one bisect
//! event; a scheduler's bisect driver carries it out.
//!
//! One `OpenApi` impl for every path, as in `queue.rs`, so a path with two
//! methods is one entry of the document.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};
use testarena_events::{BisectEvent, BisectEventBody, BisectId, BisectView, QueueId, Stored};

use super::auth::default_owner;
use super::error::ApiError;
use super::model::{Accepted, BisectCreated, BisectList, BisectRequest};
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::bisect_request::BisectOrder;
use crate::state::AppState;

/// Most bisects `GET /api/bisects` lists.
const MAX_LISTED: u32 = 500;

#[derive(ApiResponse, Debug)]
pub(crate) enum StartResponse {
    /// The bisect was created; it runs in the background.
    #[oai(status = 201)]
    Created(Json<BisectCreated>),
    /// The same bisect was requested before: this is it.
    #[oai(status = 200)]
    Existing(Json<BisectCreated>),
}

#[derive(ApiResponse)]
pub(crate) enum DeleteResponse {
    /// Deleted: the view is gone; unfinished step queues are cancelled
    /// (the step queues themselves stay, as ordinary queues).
    #[oai(status = 200)]
    Ok(Json<Accepted>),
}

pub(crate) struct BisectApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Bisect")]
impl BisectApi {
    /// Start a bisect
    ///
    /// Finds the first commit between `good` and `bad` (first parents) where
    /// the tasks fail, each step an ordinary queue. `good` absent: walks
    /// back from `bad` until a step passes. Refs are resolved in the
    /// background: one that does not exist ends the bisect `Error`.
    #[oai(path = "/bisect", method = "post")]
    async fn start(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: StrictJson<BisectRequest>,
    ) -> Result<StartResponse, ApiError> {
        let owner = default_owner(request);
        let order = BisectOrder::parse(body.0, owner)?;
        state.check_routable(order.profile.as_ref(), &order.requires)?;
        let event = BisectEvent::new(order.id.clone(), order.event_body());
        let subject = state.names.bisect_event_subject(&order.id, "requested");
        let message_id = format!("{}:requested", order.id);
        match state
            .events
            .store_first(subject, message_id, event.to_json().into())
            .await?
        {
            Stored::New(seq) => {
                state.applied.wait_for(seq, state.submit_wait).await;
                Ok(StartResponse::Created(Json(BisectCreated {
                    id: order.id.to_string(),
                    status: "Running".into(),
                })))
            }
            Stored::Taken => existing(&state, &order).await,
        }
    }

    /// One bisect: its range, steps with their queues and verdicts, and the culprit
    #[oai(path = "/bisect/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<BisectView>, ApiError> {
        Ok(Json(find(&state, &id.0).await?))
    }

    /// Delete a bisect
    ///
    /// Removes its view; a running one stops and its unfinished step
    /// queues are cancelled. Its events stay in the history, so the id
    /// cannot be reused.
    #[oai(path = "/bisect/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<DeleteResponse, ApiError> {
        let view = find(&state, &id.0).await?;
        let bisect = stored_id(&view)?;
        let seq = state
            .events
            .publish_bisect_event(
                &BisectEvent::new(bisect.clone(), BisectEventBody::Deleted {}),
                format!("{bisect}:deleted"),
            )
            .await?;
        if !view.is_ended() {
            cancel_unfinished_steps(&state, &view).await?;
        }
        state.applied.wait_for(seq, state.submit_wait).await;
        Ok(DeleteResponse::Ok(Json(Accepted {
            id: bisect.to_string(),
            seq,
        })))
    }

    /// Cancel a bisect
    ///
    /// The driver cancels its running step queues and ends it `Cancelled`;
    /// the answer is the view as it is now.
    #[oai(path = "/bisect/:id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<BisectView>, ApiError> {
        let view = find(&state, &id.0).await?;
        if view.is_ended() {
            return Err(ApiError::conflict(format!(
                "bisect {} already ended ({})",
                view.id, view.status
            )));
        }
        let bisect = stored_id(&view)?;
        let seq = state
            .events
            .publish_bisect_event(
                &BisectEvent::new(
                    bisect.clone(),
                    BisectEventBody::CancelRequested {
                        reason: Some("cancelled by a user".into()),
                    },
                ),
                format!("{bisect}:cancel_requested"),
            )
            .await?;
        state.applied.wait_for(seq, state.submit_wait).await;
        Ok(Json(find(&state, bisect.as_str()).await?))
    }

    /// Every bisect, newest first (at most 500)
    #[oai(path = "/bisects", method = "get")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Result<Json<BisectList>, ApiError> {
        Ok(Json(BisectList {
            bisects: state.views.bisects(None, MAX_LISTED).await?,
        }))
    }
}

async fn find(state: &AppState, id: &str) -> Result<BisectView, ApiError> {
    if BisectId::parse(id).is_err() {
        return Err(ApiError::no_bisect(id));
    }
    state
        .views
        .bisect(id)
        .await?
        .ok_or_else(|| ApiError::no_bisect(id))
}

fn stored_id(view: &BisectView) -> Result<BisectId, ApiError> {
    BisectId::parse(view.id.clone()).map_err(|e| ApiError::internal("stored bisect id", e))
}

/// The id is taken: the same request → that bisect; anything else → 409.
async fn existing(state: &AppState, order: &BisectOrder) -> Result<StartResponse, ApiError> {
    let Some(stored) = state.events.bisect_requested(&order.id).await? else {
        return Err(ApiError::unavailable(
            "the bisect id is taken but its request could not be read back; retry",
        ));
    };
    if stored.body != order.event_body() {
        return Err(ApiError::conflict(format!(
            "bisect {} already exists with a different request",
            order.id
        )));
    }
    let status = match state.views.bisect(order.id.as_str()).await? {
        Some(view) => view.status,
        None => {
            return Err(ApiError::conflict(format!(
                "bisect {} was deleted; bisect ids are not reused, choose another id",
                order.id
            )))
        }
    };
    Ok(StartResponse::Existing(Json(BisectCreated {
        id: order.id.to_string(),
        status,
    })))
}

/// Asks the step queues that have not ended to stop.
async fn cancel_unfinished_steps(state: &AppState, view: &BisectView) -> Result<(), ApiError> {
    let ids: Vec<String> = view.steps.iter().flat_map(|s| s.queues.clone()).collect();
    let unfinished = state
        .views
        .queues(&ids)
        .await?
        .into_iter()
        .filter(|q| !q.is_terminal())
        .map(|q| QueueId::parse(q.id).map_err(|e| ApiError::internal("stored queue id", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let reason = format!("bisect {} stopped", view.id);
    Ok(state.events.cancel_queues(&unfinished, &reason).await?)
}
