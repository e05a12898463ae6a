//! The fleet: `GET /api/workers` (every worker seen within
//! `--worker-memory-hours`, live or offline, from the gateway's watch of
//! the registry: the workers the submit-time check remembers), and an operator's `drain` and `readmit`, asked
//! of the worker itself over NATS (request/reply): the worker changes its
//! record, and the scheduler's dispatcher acts on the record.

use std::sync::Arc;
use std::time::Duration;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use testarena_events::{
    now_millis, OperatorReply, Presence, ReadmitRequest, WorkerView, WorkersPage,
};

use super::error::ApiError;
use super::ApiTags;
use crate::state::AppState;

/// How long a worker has to answer a drain or readmit.
const WORKER_ANSWER: Duration = Duration::from_secs(5);

#[derive(Debug, Object)]
pub(crate) struct WorkerAnswer {
    pub id: String,
    /// What the worker did, in words.
    pub message: String,
}

#[derive(ApiResponse)]
pub(crate) enum WorkerActionResponse {
    /// The worker did it; the registry shows it within a heartbeat.
    #[oai(status = 200)]
    Ok(Json<WorkerAnswer>),
}

pub(crate) struct WorkersApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Fleet")]
impl WorkersApi {
    /// The workers seen lately, live or offline: profiles, labels, slots, per-profile state
    #[oai(path = "/workers", method = "get")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Json<WorkersPage> {
        Json(WorkersPage {
            workers: remembered_workers(&state),
        })
    }

    /// Drain a worker: it takes nothing new and finishes what it runs
    #[oai(path = "/workers/:id/drain", method = "post")]
    async fn drain(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<WorkerActionResponse, ApiError> {
        ask(&state, &id.0, "drain", Vec::new()).await
    }

    /// Take a quarantined (or drained) profile back on a worker
    #[oai(path = "/workers/:id/readmit", method = "post")]
    async fn readmit(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
        /// The profile to take back.
        profile: Query<String>,
    ) -> Result<WorkerActionResponse, ApiError> {
        let body = serde_json::to_vec(&ReadmitRequest {
            profile: profile.0.clone(),
        })
        .map_err(|e| ApiError::internal("a readmit request", e))?;
        ask(&state, &id.0, "readmit", body).await
    }
}

/// Every worker heard from within the memory window — what the submit-time
/// check counts — by id; one that stopped or went silent is `offline`.
fn remembered_workers(state: &AppState) -> Vec<WorkerView> {
    let now = now_millis();
    let mut workers: Vec<WorkerView> = state
        .registry
        .workers()
        .iter()
        .filter(|w| w.is_remembered(now, state.worker_memory))
        .map(|w| WorkerView::of(w, now))
        .collect();
    workers.sort_by(|a, b| a.id.cmp(&b.id));
    workers
}

async fn ask(
    state: &AppState,
    id: &str,
    action: &str,
    body: Vec<u8>,
) -> Result<WorkerActionResponse, ApiError> {
    let live = |w: &WorkerView| w.id == id && w.presence == Presence::Live;
    if !remembered_workers(state).iter().any(live) {
        return Err(ApiError::worker_not_found(id));
    }
    state.events.ensure_connected()?;
    let subject = state.names.worker_control_subject(id, action);
    let answer = tokio::time::timeout(WORKER_ANSWER, state.client.request(subject, body.into()))
        .await
        .map_err(|_| ApiError::unavailable(format!("worker {id} did not answer in 5 s")))?
        .map_err(|e| ApiError::unavailable(format!("asking worker {id}: {e}")))?;
    let reply: OperatorReply = serde_json::from_slice(&answer.payload)
        .map_err(|e| ApiError::internal("the worker's answer", e))?;
    if !reply.ok {
        return Err(ApiError::invalid_field("profile", reply.message));
    }
    Ok(WorkerActionResponse::Ok(Json(WorkerAnswer {
        id: id.to_owned(),
        message: reply.message,
    })))
}
