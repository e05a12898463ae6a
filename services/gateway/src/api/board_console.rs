//! `GET /api/boards/{worker}/{board}/console`: a board's serial as a
//! WebSocket. The gateway subscribes to `<prefix>.console.<w>.<b>.out`
//! first, then asks the worker for the board's recent bytes, so nothing
//! falls between the two. Frames to the client: one text frame
//! `{"type":"hello",...}` saying whether it may type, then binary frames of
//! serial bytes; text frames `{"type":"notice",...}` for anything else.
//! A client's frames (binary or text) go to `.in` only while its token
//! holds the board's reservation, checked at each frame; otherwise they are
//! dropped and a notice says so once. A browser cannot set headers on a
//! WebSocket: `auth.rs` accepts this route's token as `?token=` too.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocket, WebSocketStream};
use poem::web::{Data, Path};
use poem::{handler, IntoResponse, Request, Response};
use serde_json::json;
use testarena_events::{now_millis, BoardName, ConsoleTailRequest};

use super::auth::default_owner;
use super::board_reservation::{holder, may_type};
use super::boards::find_board;
use super::error::ApiError;
use crate::state::AppState;

/// How long the worker has to send the board's recent bytes.
const TAIL_ANSWER: Duration = Duration::from_secs(5);

/// Who is on the other end, and which board.
struct Console {
    state: Arc<AppState>,
    worker: String,
    board: BoardName,
    token: String,
}

#[handler]
pub(crate) async fn console(
    Path((worker, board)): Path<(String, String)>,
    socket: poem::Result<WebSocket>,
    state: Data<&Arc<AppState>>,
    request: &Request,
) -> Response {
    let Some((_, record)) = find_board(&state, &worker, &board) else {
        return ApiError::no_board(&worker, &board).into_response();
    };
    // The board first: an unknown one is a 404 whatever the request.
    let socket = match socket {
        Ok(socket) => socket,
        Err(e) => {
            return ApiError::bad_request(format!("not a WebSocket request: {e}")).into_response()
        }
    };
    let console = Console {
        state: state.0.clone(),
        worker,
        board: record.name,
        token: default_owner(request).as_str().to_owned(),
    };
    socket
        .on_upgrade(move |stream| async move {
            if let Err(e) = console.run(stream).await {
                tracing::debug!(error = %e, worker = %console.worker, board = %console.board, "console closed");
            }
        })
        .into_response()
}

impl Console {
    async fn run(&self, stream: WebSocketStream) -> anyhow::Result<()> {
        let (mut to_client, mut from_client) = stream.split();
        let names = &self.state.names;
        let mut out = self
            .state
            .client
            .subscribe(names.console_out_subject(&self.worker, &self.board))
            .await?;
        let writable = self.may_type().await;
        to_client.send(Message::Text(self.hello(writable))).await?;
        match self.tail().await {
            Ok(bytes) if !bytes.is_empty() => {
                to_client.send(Message::Binary(bytes.to_vec())).await?
            }
            Ok(_) => {}
            Err(message) => to_client.send(notice(&message)).await?,
        }
        let mut told_read_only = false;
        loop {
            tokio::select! {
                _ = self.state.shutdown.cancelled() => break,
                bytes = out.next() => match bytes {
                    Some(m) => to_client.send(Message::Binary(m.payload.to_vec())).await?,
                    None => break,
                },
                frame = from_client.next() => {
                    let input = match frame {
                        Some(Ok(Message::Binary(b))) => b,
                        Some(Ok(Message::Text(t))) => t.into_bytes(),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => continue,
                    };
                    if self.may_type().await {
                        let subject = names.console_in_subject(&self.worker, &self.board);
                        self.state.client.publish(subject, Bytes::from(input)).await?;
                    } else if !told_read_only {
                        told_read_only = true;
                        to_client.send(notice("read-only: your input is not sent (reserve the board to type)")).await?;
                    }
                }
            }
        }
        let _ = to_client.send(Message::Close(None)).await;
        Ok(())
    }

    /// Whether this connection's token holds the board's reservation now.
    async fn may_type(&self) -> bool {
        let stored = self
            .state
            .views
            .board(&self.worker, self.board.as_str())
            .await
            .inspect_err(|e| tracing::debug!(error = %e, "console: no boards view"))
            .ok()
            .flatten();
        may_type(holder(stored.as_ref(), now_millis()), &self.token)
    }

    fn hello(&self, writable: bool) -> String {
        let mode = if writable { "read-write" } else { "read-only" };
        json!({
            "type": "hello",
            "worker": self.worker,
            "board": self.board.as_str(),
            "mode": mode,
            "token": self.token,
        })
        .to_string()
    }

    /// The board's recent bytes from its worker; the error in words.
    async fn tail(&self) -> Result<Bytes, String> {
        let subject = self
            .state
            .names
            .worker_control_subject(&self.worker, "console");
        let body = serde_json::to_vec(&ConsoleTailRequest {
            board: self.board.clone(),
        })
        .map_err(|e| e.to_string())?;
        let asked = self.state.client.request(subject, body.into());
        match tokio::time::timeout(TAIL_ANSWER, asked).await {
            Ok(Ok(reply)) => Ok(reply.payload),
            Ok(Err(e)) => Err(format!(
                "no recent output: worker {} did not answer: {e}",
                self.worker
            )),
            Err(_) => Err(format!(
                "no recent output: worker {} did not answer in 5 s",
                self.worker
            )),
        }
    }
}

fn notice(message: &str) -> Message {
    Message::Text(json!({"type": "notice", "message": message}).to_string())
}
