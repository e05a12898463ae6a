//! `/api/queue/{id}`: read one queue (GET) or delete it (DELETE).
//!
//! Both methods live in this one `OpenApi` impl on purpose: poem-openapi
//! writes each impl's paths as their own entries, so a path split over two
//! impls appears twice in the document and a JSON reader keeps only one.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, OpenApi};

use super::control::{delete, DeleteResponse};
use super::error::ApiError;
use super::model::QueueView;
use super::queries::find;
use super::ApiTags;
use crate::state::AppState;

pub(crate) struct QueueApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl QueueApi {
    /// One queue with its tasks, stages and counts
    #[oai(path = "/queue/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<QueueView>, ApiError> {
        let view = find(&state, &id.0).await?;
        Ok(Json(state.with_waiting(view).await))
    }

    /// Delete a queue
    ///
    /// Stops it if it runs, removes its view and folder, and purges its log
    /// batches from the log stream. Its events stay in the history, so the id
    /// cannot be reused.
    #[oai(path = "/queue/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<DeleteResponse, ApiError> {
        delete(&state, &id.0).await
    }
}
