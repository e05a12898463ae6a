//! Boards: `GET /api/boards` (every board of every remembered worker, its
//! record from the registry watch merged with its lease and reservation
//! from the boards view), a board's history, and a token's reservation,
//! its early release and power actions. The gateway records reservations,
//! releases and power actions as board events: only it knows the API
//! token's name. The decisions are in `board_reservation.rs`; the console
//! WebSocket in `board_console.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use serde::Deserialize;
use testarena_events::{
    bounded_reason, now_millis, rfc3339_of_millis, BoardAnswer, BoardEvent, BoardEventBody,
    BoardHistory, BoardName, BoardRecord, BoardsPage, OperatorReply, PowerAction, PowerRequest,
    Reservation, WorkerRecord,
};
use testarena_views::StoredBoard;

use super::auth::default_owner;
use super::board_reservation::{
    board_view, checked_request, free_at, holder, may_reserve, must_hold,
};
use super::error::ApiError;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::state::AppState;

/// How many runs and changes a board's history shows.
const HISTORY_SHOWN: u32 = 100;
/// How long a worker has to run a power action (a cycle runs two commands).
const POWER_ANSWER: Duration = Duration::from_secs(60);

/// One reservation decision at a time in this gateway: a check and the
/// event it publishes are not split by another token's.
static RESERVING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `POST /api/boards/{worker}/{board}/reserve`.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReserveRequest {
    /// How long, from now: 1 to 1440 (a day). The same token asking again
    /// extends it.
    #[oai(validator(minimum(value = "1"), maximum(value = "1440")))]
    pub minutes: i64,
    /// Why, for the others who see it: 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reason: String,
}

/// `POST /api/boards/{worker}/{board}/power`.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PowerBody {
    pub action: PowerAction,
}

#[derive(ApiResponse)]
pub(crate) enum ReserveResponse {
    /// Reserved (or extended) for this token.
    #[oai(status = 200)]
    Ok(Json<Reservation>),
}

#[derive(ApiResponse)]
pub(crate) enum BoardActionResponse {
    /// Done; `ok` says whether a power command succeeded.
    #[oai(status = 200)]
    Ok(Json<BoardAnswer>),
}

pub(crate) struct BoardsApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Fleet")]
impl BoardsApi {
    /// Every board of the workers seen lately: labels, state
    /// (`idle|busy|reserved|quarantined|offline`), the queue on it, its
    /// reservation and its last health check
    #[oai(path = "/boards", method = "get")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Json<BoardsPage> {
        Json(boards_page(&state).await)
    }

    /// A board's queues and state changes, newest first (the latest 100 of each)
    #[oai(path = "/boards/:worker/:board/history", method = "get")]
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        worker: Path<String>,
        board: Path<String>,
    ) -> Result<Json<BoardHistory>, ApiError> {
        let stored = state.views.board(&worker.0, &board.0).await?;
        if stored.is_none() && find_board(&state, &worker.0, &board.0).is_none() {
            return Err(ApiError::no_board(&worker.0, &board.0));
        }
        let (runs, changes) = state
            .views
            .board_history(&worker.0, &board.0, HISTORY_SHOWN)
            .await?;
        Ok(Json(BoardHistory {
            worker: worker.0,
            name: board.0,
            runs,
            changes,
        }))
    }

    /// Reserve a board for this API token: no queue is leased it until the
    /// token releases it or the time runs out (a queue on it finishes first)
    #[oai(path = "/boards/:worker/:board/reserve", method = "post")]
    async fn reserve(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        worker: Path<String>,
        board: Path<String>,
        body: StrictJson<ReserveRequest>,
    ) -> Result<ReserveResponse, ApiError> {
        let (minutes, reason) = checked_request(body.0.minutes, &body.0.reason)?;
        let name = known_board(&state, &worker.0, &board.0)?;
        let token = default_owner(request).as_str().to_owned();
        let _one_at_a_time = RESERVING.lock().await;
        let stored = state.views.board(&worker.0, &board.0).await?;
        let now = now_millis();
        may_reserve(holder(stored.as_ref(), now), &token)?;
        let until_ms = now + u64::from(minutes) * 60_000;
        let until = rfc3339_of_millis(until_ms);
        let body = BoardEventBody::Reserved {
            until: until.clone(),
            until_ms,
            reason: reason.clone(),
        };
        record(&state, BoardEvent::new(&worker.0, name, &token, body)).await?;
        Ok(ReserveResponse::Ok(Json(Reservation {
            worker: worker.0,
            board: board.0,
            reserved_by: token,
            until,
            reason,
            free_at: free_at(stored.as_ref()),
        })))
    }

    /// Release this token's reservation of a board before it runs out
    #[oai(path = "/boards/:worker/:board/reserve", method = "delete")]
    async fn release(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        worker: Path<String>,
        board: Path<String>,
    ) -> Result<BoardActionResponse, ApiError> {
        let name = known_board(&state, &worker.0, &board.0)?;
        let token = default_owner(request).as_str().to_owned();
        let _one_at_a_time = RESERVING.lock().await;
        let stored = state.views.board(&worker.0, &board.0).await?;
        let label = format!("{}/{}", worker.0, board.0);
        must_hold(
            holder(stored.as_ref(), now_millis()),
            &token,
            &label,
            "release it",
        )?;
        let body = BoardEventBody::Released { queue: None };
        record(&state, BoardEvent::new(&worker.0, name, &token, body)).await?;
        Ok(BoardActionResponse::Ok(Json(BoardAnswer {
            worker: worker.0,
            board: board.0,
            ok: true,
            message: format!("released {label}: it takes queues again"),
        })))
    }

    /// Power a reserved board on, off, or cycle it (only its reserver)
    #[oai(path = "/boards/:worker/:board/power", method = "post")]
    async fn power(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        worker: Path<String>,
        board: Path<String>,
        body: StrictJson<PowerBody>,
    ) -> Result<BoardActionResponse, ApiError> {
        let name = known_board(&state, &worker.0, &board.0)?;
        let token = default_owner(request).as_str().to_owned();
        let stored = state.views.board(&worker.0, &board.0).await?;
        let label = format!("{}/{}", worker.0, board.0);
        must_hold(
            holder(stored.as_ref(), now_millis()),
            &token,
            &label,
            "power it",
        )?;
        let action = body.0.action;
        let reply = ask_power(&state, &worker.0, &name, action).await?;
        let event_body = BoardEventBody::Power {
            action,
            ok: reply.ok,
            // The worker's answer may end with a long command output.
            message: bounded_reason(&reply.message),
        };
        let event = BoardEvent::new(&worker.0, name, &token, event_body);
        let message = match record(&state, event).await {
            Ok(()) => reply.message,
            Err(e) => format!("{} (not recorded: {})", reply.message, e.message()),
        };
        Ok(BoardActionResponse::Ok(Json(BoardAnswer {
            worker: worker.0,
            board: board.0,
            ok: reply.ok,
            message,
        })))
    }
}

/// Every board of every remembered worker, by worker and name. Without
/// the views (the projector not started yet) the registry alone still
/// makes a page: no lease, no reservation.
async fn boards_page(state: &AppState) -> BoardsPage {
    let stored: HashMap<(String, String), StoredBoard> = state
        .views
        .boards()
        .await
        .inspect_err(|e| tracing::debug!(error = %e, "no boards view for /api/boards"))
        .unwrap_or_default()
        .into_iter()
        .map(|s| ((s.worker.clone(), s.board.clone()), s))
        .collect();
    let now = now_millis();
    let mut workers = remembered_workers(state, now);
    workers.sort_by(|a, b| a.id.cmp(&b.id));
    let mut boards = Vec::new();
    for worker in &workers {
        let live = worker.is_live(now);
        for record in &worker.boards {
            let key = (worker.id.clone(), record.name.to_string());
            let view = board_view(
                &worker.id,
                &worker.labels,
                live,
                record,
                stored.get(&key),
                now,
            );
            boards.push(view);
        }
    }
    boards.sort_by(|a, b| (&a.worker, &a.name).cmp(&(&b.worker, &b.name)));
    BoardsPage { boards }
}

fn remembered_workers(state: &AppState, now: u64) -> Vec<WorkerRecord> {
    let mut workers = state.registry.workers();
    workers.retain(|w| w.is_remembered(now, state.worker_memory));
    workers
}

/// A board of a remembered worker, with the worker's record.
pub(crate) fn find_board(
    state: &AppState,
    worker: &str,
    board: &str,
) -> Option<(WorkerRecord, BoardRecord)> {
    let record = remembered_workers(state, now_millis())
        .into_iter()
        .find(|w| w.id == worker)?;
    let board = record
        .boards
        .iter()
        .find(|b| b.name.as_str() == board)?
        .clone();
    Some((record, board))
}

/// The board's name, if a remembered worker has it; else 404.
fn known_board(state: &AppState, worker: &str, board: &str) -> Result<BoardName, ApiError> {
    find_board(state, worker, board)
        .map(|(_, b)| b.name)
        .ok_or_else(|| ApiError::no_board(worker, board))
}

/// Publishes a board event and waits (within the submit wait) for the
/// projector to show it, so a list read next sees it.
async fn record(state: &AppState, event: BoardEvent) -> Result<(), ApiError> {
    let seq = state.events.publish_board_event(&event, None).await?;
    state.applied.wait_for(seq, state.submit_wait).await;
    Ok(())
}

/// Asks the board's worker to run a power action (request/reply).
async fn ask_power(
    state: &AppState,
    worker: &str,
    board: &BoardName,
    action: PowerAction,
) -> Result<OperatorReply, ApiError> {
    let live =
        find_board(state, worker, board.as_str()).is_some_and(|(w, _)| w.is_live(now_millis()));
    if !live {
        return Err(ApiError::unavailable(format!(
            "worker {worker} is offline: it cannot power {board}"
        )));
    }
    state.events.ensure_connected()?;
    let request = PowerRequest {
        board: board.clone(),
        action,
    };
    let body =
        serde_json::to_vec(&request).map_err(|e| ApiError::internal("a power request", e))?;
    let subject = state.names.worker_control_subject(worker, "power");
    let answer = tokio::time::timeout(POWER_ANSWER, state.client.request(subject, body.into()))
        .await
        .map_err(|_| ApiError::unavailable(format!("worker {worker} did not answer in 60 s")))?
        .map_err(|e| ApiError::unavailable(format!("asking worker {worker}: {e}")))?;
    serde_json::from_slice(&answer.payload)
        .map_err(|e| ApiError::internal("the worker's answer", e))
}
