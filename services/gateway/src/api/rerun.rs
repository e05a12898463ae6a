//! `POST /api/queue/{id}/rerun`: a new queue at the original's resolved
//! commit, with its settings and the tasks asked for (rerun.rs decides
//! them); stored and answered as a submit is.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi};
use serde::Deserialize;
use testarena_events::{QueueId, Stored};

use super::error::ApiError;
use super::model::{Accepted, QueueView};
use super::queries::find;
use super::strict_json::StrictJson;
use super::submit::store_submitted;
use super::ApiTags;
use crate::rerun::{rerun_submission, RerunChoice, RerunError};
use crate::state::AppState;
use crate::submission::claim_order;

#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// Only these task ids of the original (run in its order); absent (or
    /// `null`): every task.
    #[oai(nullable, validator(min_items = 1, max_items = 500))]
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    /// Only the tasks that did not pass (`FAIL`, `TIMEOUT`, `ERROR`,
    /// skipped, cancelled); with `tasks`, those of the listed ones.
    #[oai(default)]
    #[serde(default)]
    pub failed_only: bool,
}

// Built once per request and answered at once: boxing the view buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse, Debug)]
pub(crate) enum RerunResponse {
    /// The rerun queue was created; its view (`rerun_of` names the original).
    #[oai(status = 201)]
    Created(Json<QueueView>),
    /// Stored in the event stream, but the view did not catch up in time.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}

impl From<RerunError> for ApiError {
    fn from(error: RerunError) -> Self {
        match error {
            RerunError::NoCommit(_) => Self::conflict(error.to_string()),
            RerunError::UnknownTask { .. } | RerunError::NothingFailed(_) | RerunError::NoTasks => {
                Self::invalid_field("tasks", error)
            }
            RerunError::NotASubmit(_) => Self::internal("reading the original's submit", error),
        }
    }
}

pub(crate) struct RerunApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl RerunApi {
    /// Rerun a queue
    ///
    /// A new queue at the original's resolved commit (not its ref), with
    /// its profile, `requires`, priority, owner and shards, and every task,
    /// the listed ones, or those that did not pass. `{}` reruns every task.
    /// 409 when the original never resolved a commit.
    #[oai(path = "/queue/:id/rerun", method = "post")]
    async fn rerun(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        body: StrictJson<RerunRequest>,
    ) -> Result<RerunResponse, ApiError> {
        let original = find(&state, &id.0).await?;
        let original_id =
            QueueId::parse(&original.id).map_err(|e| ApiError::internal("stored id", e))?;
        let Some((_, submitted)) = state.events.last_event(&original_id, "submitted").await? else {
            return Err(ApiError::unavailable(format!(
                "queue {original_id}'s submit could not be read back; retry"
            )));
        };
        let choice = RerunChoice {
            tasks: body.0.tasks,
            failed_only: body.0.failed_only,
        };
        let mut rerun = rerun_submission(&original, &submitted.body, &choice, QueueId::generate())?;
        state.check_routable(rerun.profile.as_ref(), &rerun.requires)?;
        if rerun.shards > 1 {
            let expected = state
                .views
                .expected_durations(&rerun.source.repo, rerun.profile.as_ref(), &rerun.tasks)
                .await?;
            rerun.claim_order = claim_order(rerun.shards, &expected);
        }
        let Stored::New(seq) = store_submitted(&state, &rerun).await? else {
            return Err(ApiError::conflict(format!(
                "the generated queue id {} is taken; retry",
                rerun.id
            )));
        };
        let accepted = || {
            RerunResponse::Accepted(Json(Accepted {
                id: rerun.id.to_string(),
                seq,
            }))
        };
        if !state.applied.wait_for(seq, state.submit_wait).await {
            return Ok(accepted());
        }
        Ok(match state.views.queue(rerun.id.as_str()).await? {
            Some(view) => RerunResponse::Created(Json(state.with_waiting(view).await)),
            None => accepted(),
        })
    }
}
