//! A small typed client of the HTTP API, for the CLI.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use testarena_events::{
    ArtifactList, ArtifactView, BisectCreated, BisectList, BisectView, BoardAnswer, BoardRef,
    BoardsPage, PowerAction, QueuePage, QueueView, Reservation, WorkersPage,
};

use super::ServerArg;

/// What `POST /api/queue` answered.
pub enum Submitted {
    /// 201 (new) or 200 (`existing`: an identical queue was submitted before).
    View {
        view: Box<QueueView>,
        existing: bool,
    },
    /// 202: stored, but the view had not caught up yet.
    Accepted { id: String },
}

/// What `POST /api/repos/run` answers: the resolved commit and its queues.
#[derive(Debug, serde::Deserialize)]
pub struct RepoRun {
    pub commit: String,
    pub queues: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the TestArena server at {server}: {message} (is it running? set --server or TESTARENA_SERVER)")]
    Unreachable { server: String, message: String },
    #[error("{status}: {message}")]
    Api { status: u16, message: String },
    #[error("{0}")]
    Usage(String),
}

/// Where a page of `GET /api/queues` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFrom<'a> {
    /// The newest queues.
    First,
    /// After a previous page: its `next_cursor`.
    Cursor(&'a str),
    /// The n-th page (what older gateways understand).
    Page(u32),
}

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// A submit's or rerun's answer: 201 or 200 with the view, 202 with the id.
fn submitted(status: u16, value: Value) -> Result<Submitted, ClientError> {
    let unreadable = |e: serde_json::Error| ClientError::Api {
        status,
        message: format!("unreadable response: {e}"),
    };
    if status == 202 {
        #[derive(Deserialize)]
        struct Accepted {
            id: String,
        }
        let accepted: Accepted = serde_json::from_value(value).map_err(unreadable)?;
        return Ok(Submitted::Accepted { id: accepted.id });
    }
    Ok(Submitted::View {
        view: serde_json::from_value(value).map_err(unreadable)?,
        existing: status == 200,
    })
}

impl ApiClient {
    pub fn new(server: &ServerArg) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        Ok(Self {
            http,
            base: server.server.trim_end_matches('/').to_owned(),
            token: server.token.clone(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The queue's page on the dashboard, for people (not the JSON API URL).
    pub fn dashboard_url(&self, id: &str) -> String {
        format!("{}/#/queue/{id}", self.base)
    }

    /// A bisect's page on the dashboard.
    pub fn bisect_dashboard_url(&self, id: &str) -> String {
        format!("{}/#/bisect/{id}", self.base)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            server: self.base.clone(),
            message: e.to_string(),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        Err(ClientError::Api {
            status: status.as_u16(),
            message,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, T), ClientError> {
        let response = self.send(request).await?;
        let status = response.status().as_u16();
        let value = response.json().await.map_err(|e| ClientError::Api {
            status,
            message: format!("unreadable response: {e}"),
        })?;
        Ok((status, value))
    }

    pub async fn submit(&self, body: &Value) -> Result<Submitted, ClientError> {
        let (status, value): (u16, Value) = self
            .json(
                self.http
                    .post(format!("{}/api/queue", self.base))
                    .json(body),
            )
            .await?;
        submitted(status, value)
    }

    /// `POST /api/queue/{id}/rerun`: every task, or (`failed_only`) those
    /// that did not pass.
    pub async fn rerun(&self, id: &str, failed_only: bool) -> Result<Submitted, ClientError> {
        let url = format!("{}/api/queue/{id}/rerun", self.base);
        let body = serde_json::json!({ "failed_only": failed_only });
        let (status, value): (u16, Value) = self.json(self.http.post(url).json(&body)).await?;
        submitted(status, value)
    }

    /// `POST /api/repos/run`: the repository's `testarena.toml` at `git_ref`.
    pub async fn run_repo(&self, repo: &str, git_ref: &str) -> Result<RepoRun, ClientError> {
        let url = format!("{}/api/repos/run", self.base);
        let body = serde_json::json!({ "repo": repo, "ref": git_ref });
        Ok(self.json(self.http.post(url).json(&body)).await?.1)
    }

    /// `GET /api/queue/{id}/junit.xml`: the queue's merged JUnit report.
    pub async fn junit(&self, id: &str) -> Result<String, ClientError> {
        let url = format!("{}/api/queue/{id}/junit.xml", self.base);
        let response = self.send(self.http.get(url)).await?;
        response.text().await.map_err(|e| ClientError::Unreachable {
            server: self.base.clone(),
            message: e.to_string(),
        })
    }

    pub async fn queue(&self, id: &str) -> Result<QueueView, ClientError> {
        Ok(self
            .json(self.http.get(format!("{}/api/queue/{id}", self.base)))
            .await?
            .1)
    }

    /// The queue's SSE log stream, resumed after `last_event_id` if given.
    pub async fn log_stream(
        &self,
        id: &str,
        last_event_id: Option<u64>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self
            .http
            .get(format!("{}/api/queue/{id}/log/stream", self.base));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last.to_string());
        }
        self.send(request).await
    }

    /// One page of the queues, newest first, with the list's filters
    /// (`GET /api/queues`): `status`, `repo` (a part of the source URL).
    pub async fn list(
        &self,
        filter: &[(&str, &str)],
        from: ListFrom<'_>,
        per_page: u32,
    ) -> Result<QueuePage, ClientError> {
        let mut query: Vec<(&str, String)> = filter
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        match from {
            ListFrom::First => {}
            ListFrom::Cursor(cursor) => query.push(("cursor", cursor.to_owned())),
            ListFrom::Page(page) => query.push(("page", page.to_string())),
        }
        query.push(("per_page", per_page.to_string()));
        Ok(self
            .json(
                self.http
                    .get(format!("{}/api/queues", self.base))
                    .query(&query),
            )
            .await?
            .1)
    }

    pub async fn start_bisect(&self, body: &Value) -> Result<BisectCreated, ClientError> {
        Ok(self
            .json(
                self.http
                    .post(format!("{}/api/bisect", self.base))
                    .json(body),
            )
            .await?
            .1)
    }

    pub async fn bisect(&self, id: &str) -> Result<BisectView, ClientError> {
        Ok(self
            .json(self.http.get(format!("{}/api/bisect/{id}", self.base)))
            .await?
            .1)
    }

    pub async fn bisects(&self) -> Result<BisectList, ClientError> {
        Ok(self
            .json(self.http.get(format!("{}/api/bisects", self.base)))
            .await?
            .1)
    }

    pub async fn cancel_bisect(&self, id: &str) -> Result<(), ClientError> {
        self.send(
            self.http
                .post(format!("{}/api/bisect/{id}/cancel", self.base)),
        )
        .await?;
        Ok(())
    }

    pub async fn delete_bisect(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(format!("{}/api/bisect/{id}", self.base)))
            .await?;
        Ok(())
    }

    pub async fn cancel(&self, id: &str) -> Result<QueueView, ClientError> {
        Ok(self
            .json(
                self.http
                    .post(format!("{}/api/queue/{id}/cancel", self.base)),
            )
            .await?
            .1)
    }

    pub async fn workers(&self) -> Result<WorkersPage, ClientError> {
        Ok(self
            .json(self.http.get(format!("{}/api/workers", self.base)))
            .await?
            .1)
    }

    pub async fn boards(&self) -> Result<BoardsPage, ClientError> {
        Ok(self
            .json(self.http.get(format!("{}/api/boards", self.base)))
            .await?
            .1)
    }

    fn board_url(&self, board: &BoardRef, action: &str) -> String {
        format!(
            "{}/api/boards/{}/{}/{action}",
            self.base, board.worker, board.board
        )
    }

    pub async fn reserve(
        &self,
        board: &BoardRef,
        minutes: u32,
        reason: &str,
    ) -> Result<Reservation, ClientError> {
        let body = serde_json::json!({ "minutes": minutes, "reason": reason });
        let request = self.http.post(self.board_url(board, "reserve")).json(&body);
        Ok(self.json(request).await?.1)
    }

    pub async fn release(&self, board: &BoardRef) -> Result<BoardAnswer, ClientError> {
        let request = self.http.delete(self.board_url(board, "reserve"));
        Ok(self.json(request).await?.1)
    }

    pub async fn power(
        &self,
        board: &BoardRef,
        action: PowerAction,
    ) -> Result<BoardAnswer, ClientError> {
        let body = serde_json::json!({ "action": action });
        let request = self.http.post(self.board_url(board, "power")).json(&body);
        Ok(self.json(request).await?.1)
    }

    /// The console's WebSocket URL (`ws://`, or `wss://` for an https
    /// server) and the token to send in its `Authorization` header.
    pub fn console(&self, board: &BoardRef) -> (String, Option<&str>) {
        let url = self.board_url(board, "console");
        let url = match url.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => url,
        };
        (url, self.token.as_deref())
    }

    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(format!("{}/api/queue/{id}", self.base)))
            .await?;
        Ok(())
    }

    /// The queue's artifacts.
    pub async fn artifacts(&self, id: &str) -> Result<Vec<ArtifactView>, ClientError> {
        let url = format!("{}/api/queue/{id}/artifacts", self.base);
        let list: ArtifactList = self.json(self.http.get(url)).await?.1;
        Ok(list.artifacts)
    }

    /// One artifact's response, its bytes still to read ([`Self::next_chunk`]).
    pub async fn artifact(&self, id: &str, name: &str) -> Result<reqwest::Response, ClientError> {
        let mut url = reqwest::Url::parse(&format!("{}/api/queue/{id}/artifacts/", self.base))
            .map_err(|e| ClientError::Usage(format!("server URL: {e}")))?;
        // One path segment: the name's `/` are sent as `%2F`.
        url.path_segments_mut()
            .map_err(|()| ClientError::Usage("server URL cannot have a path".into()))?
            .pop_if_empty()
            .push(name);
        self.send(self.http.get(url)).await
    }

    pub async fn next_chunk(
        &self,
        response: &mut reqwest::Response,
    ) -> Result<Option<bytes::Bytes>, ClientError> {
        response
            .chunk()
            .await
            .map_err(|e| ClientError::Unreachable {
                server: self.base.clone(),
                message: e.to_string(),
            })
    }

    /// Log text from `offset`, and the offset to continue from.
    pub async fn log(&self, id: &str, offset: u64) -> Result<(String, u64), ClientError> {
        let response = self
            .send(
                self.http
                    .get(format!("{}/api/queue/{id}/log", self.base))
                    .query(&[("offset", offset)]),
            )
            .await?;
        let next = response
            .headers()
            .get("x-next-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(offset);
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                server: self.base.clone(),
                message: e.to_string(),
            })?;
        Ok((text, next))
    }
}
