//! Cancel and delete: each publishes one event; workers and the projector do
//! the rest. Delete also purges the queue's log batches from the log stream.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};
use testarena_events::{Event, EventBody, QueueId};

use super::error::ApiError;
use super::model::{Accepted, ArtifactView, QueueView};
use super::queries::find;
use super::ApiTags;
use crate::state::AppState;

#[derive(ApiResponse)]
pub(crate) enum CancelResponse {
    /// Cancel requested; the view as it is now (a waiting queue is already
    /// `Cancelled`; a running one becomes so once its worker has stopped it).
    #[oai(status = 200)]
    Ok(Json<QueueView>),
}

#[derive(ApiResponse)]
pub(crate) enum DeleteResponse {
    /// Deleted: the view, the folder and the logs are gone.
    #[oai(status = 200)]
    Ok(Json<Accepted>),
}

pub(crate) struct ControlApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl ControlApi {
    /// Cancel a queue
    #[oai(path = "/queue/:id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<CancelResponse, ApiError> {
        let view = find(&state, &id.0).await?;
        if view.is_terminal() {
            return Err(ApiError::conflict(format!(
                "queue {} already ended ({})",
                view.id, view.status
            )));
        }
        let queue_id = QueueId::parse(view.id).map_err(|e| ApiError::internal("stored id", e))?;
        let seq = state
            .events
            .publish(&Event::new(
                queue_id.clone(),
                EventBody::CancelRequested {
                    reason: Some("cancelled by a user".into()),
                },
            ))
            .await?;
        state.applied.wait_for(seq, state.submit_wait).await;
        Ok(CancelResponse::Ok(Json(
            find(&state, queue_id.as_str()).await?,
        )))
    }

    /// Delete a queue (the original route)
    #[oai(path = "/delete/:id", method = "delete")]
    async fn delete_legacy(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<DeleteResponse, ApiError> {
        delete(&state, &id.0).await
    }
}

/// Deletes the queue's objects from the artifacts bucket. The `deleted`
/// event is stored already, so a failure here does not undo the delete:
/// it is logged, and the bucket's retention removes what is left.
async fn delete_artifacts(state: &AppState, queue_id: &QueueId, artifacts: &[ArtifactView]) {
    if artifacts.is_empty() {
        return;
    }
    let bucket = match state
        .js
        .get_object_store(&state.names.artifacts_bucket)
        .await
    {
        Ok(bucket) => bucket,
        Err(error) => {
            tracing::warn!(%queue_id, %error, "the artifacts bucket cannot be opened; the queue's artifacts stay until their retention ends");
            return;
        }
    };
    for artifact in artifacts {
        let object = state.names.artifact_object(queue_id, &artifact.name);
        if let Err(error) = bucket.delete(&object).await {
            tracing::warn!(%queue_id, %object, %error, "deleting an artifact failed; it stays until its retention ends");
        }
    }
}

/// Shared by `DELETE /api/queue/{id}` (`queue.rs`) and the original route.
pub(super) async fn delete(state: &AppState, id: &str) -> Result<DeleteResponse, ApiError> {
    let view = find(state, id).await?;
    let queue_id = QueueId::parse(view.id).map_err(|e| ApiError::internal("stored id", e))?;
    let seq = state
        .events
        .publish(&Event::new(queue_id.clone(), EventBody::Deleted {}))
        .await?;
    let logs = state
        .js
        .get_stream_no_info(&state.names.logs_stream)
        .await
        .map_err(|e| ApiError::unavailable(format!("log stream: {e}")))?;
    logs.purge()
        .filter(state.names.log_subject(&queue_id))
        .await
        .map_err(|e| ApiError::unavailable(format!("purging the queue's logs: {e}")))?;
    delete_artifacts(state, &queue_id, &view.artifacts).await;
    state.applied.wait_for(seq, state.submit_wait).await;
    Ok(DeleteResponse::Ok(Json(Accepted {
        id: queue_id.to_string(),
        seq,
    })))
}
