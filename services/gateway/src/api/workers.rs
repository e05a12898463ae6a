//! The fleet: `GET /api/workers` (every worker seen within
//! `--worker-memory-hours`, live or offline, from the gateway's watch of
//! the registry: the workers the submit-time check remembers; with the
//! queues each runs and its recent state changes, from the views), and an
//! operator's `drain` and `readmit`, asked of the worker itself over NATS
//! (request/reply): the worker changes its record, and the scheduler's
//! dispatcher acts on the record. The gateway then records who asked, as a
//! worker event: only it knows the API token's name.

use std::sync::Arc;
use std::time::Duration;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use testarena_events::{
    now_millis, running_by_worker, OperatorReply, Presence, ReadmitRequest, WorkerEvent,
    WorkerEventBody, WorkerView, WorkersPage,
};

use super::auth::default_owner;
use super::error::ApiError;
use super::ApiTags;
use crate::state::AppState;

/// How long a worker has to answer a drain or readmit.
const WORKER_ANSWER: Duration = Duration::from_secs(5);

/// How many of a worker's state changes `GET /api/workers` shows.
const CHANGES_SHOWN: u32 = 20;

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
    /// The workers seen lately, live or offline: profiles, labels, slots,
    /// per-profile state, the queues each runs now and its recent state
    /// changes (who drained, quarantined, readmitted it, when it went offline)
    #[oai(path = "/workers", method = "get")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Json<WorkersPage> {
        let mut workers = remembered_workers(&state);
        with_views(&state, &mut workers).await;
        Json(WorkersPage { workers })
    }

    /// Drain a worker: it takes nothing new and finishes what it runs
    #[oai(path = "/workers/:id/drain", method = "post")]
    async fn drain(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        id: Path<String>,
    ) -> Result<WorkerActionResponse, ApiError> {
        let answer = ask(&state, &id.0, "drain", Vec::new()).await?;
        let by = default_owner(request).as_str().to_owned();
        let event = WorkerEvent::new(&id.0, by, WorkerEventBody::Drained {});
        Ok(recorded(&state, answer, event).await)
    }

    /// Take a quarantined (or drained) profile back on a worker
    #[oai(path = "/workers/:id/readmit", method = "post")]
    async fn readmit(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        id: Path<String>,
        /// The profile to take back.
        profile: Query<String>,
    ) -> Result<WorkerActionResponse, ApiError> {
        let body = serde_json::to_vec(&ReadmitRequest {
            profile: profile.0.clone(),
        })
        .map_err(|e| ApiError::internal("a readmit request", e))?;
        let answer = ask(&state, &id.0, "readmit", body).await?;
        let by = default_owner(request).as_str().to_owned();
        let profile = profile.0;
        let event = WorkerEvent::new(&id.0, by, WorkerEventBody::Readmitted { profile });
        Ok(recorded(&state, answer, event).await)
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

/// Each worker's running queues and recent changes, from the views. The
/// registry alone still makes a page: without the views (the projector
/// not started yet) both stay empty.
async fn with_views(state: &AppState, workers: &mut [WorkerView]) {
    let (running, changes) = tokio::join!(
        state.views.running_queues(),
        state.views.worker_changes(CHANGES_SHOWN)
    );
    let mut running = running
        .map(|views| running_by_worker(&views))
        .inspect_err(|e| tracing::debug!(error = %e, "no running queues for /api/workers"))
        .unwrap_or_default();
    let mut changes = changes
        .inspect_err(|e| tracing::debug!(error = %e, "no worker changes for /api/workers"))
        .unwrap_or_default();
    for worker in workers {
        worker.running = running.remove(&worker.id).unwrap_or_default();
        worker.changes = changes.remove(&worker.id).unwrap_or_default();
    }
}

/// Records what the worker did, and waits (within the submit wait) for the
/// projector to show it. The worker already did it: a record that fails
/// is said in the answer, not made an error.
async fn recorded(
    state: &AppState,
    answer: WorkerAnswer,
    event: WorkerEvent,
) -> WorkerActionResponse {
    let mut answer = answer;
    match state.events.publish_worker_event(&event, None).await {
        Ok(seq) => {
            state.applied.wait_for(seq, state.submit_wait).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, worker = %event.worker, "could not record a worker's change");
            answer.message = format!("{} (not recorded: {e})", answer.message);
        }
    }
    WorkerActionResponse::Ok(Json(answer))
}

async fn ask(
    state: &AppState,
    id: &str,
    action: &str,
    body: Vec<u8>,
) -> Result<WorkerAnswer, ApiError> {
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
    Ok(WorkerAnswer {
        id: id.to_owned(),
        message: reply.message,
    })
}
