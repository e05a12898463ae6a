//! `POST /api/repos/run`: a repository's `testarena.toml` at a ref, one
//! queue per `[[queue]]` (repo_run does it); a second call at the same
//! commit answers with the same ids and starts nothing new.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use testarena_events::{GitRef, RepoUrl};

use super::auth::default_owner;
use super::error::ApiError;
use super::model::SourceBody;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::repo_run::{self, At};
use crate::state::AppState;

#[derive(Debug, Clone, Object)]
pub struct RepoRunCreated {
    /// The commit the ref resolved to; every queue runs at it.
    pub commit: String,
    /// Each `[[queue]]`'s id, `<name>-<commit12>`, in the file's order.
    pub queues: Vec<String>,
}

#[derive(ApiResponse, Debug)]
pub(crate) enum RepoRunResponse {
    /// The queues at the commit: submitted now, or by an earlier run of it.
    #[oai(status = 201)]
    Created(Json<RepoRunCreated>),
}

pub(crate) struct ReposApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl ReposApi {
    /// Run a repository's testarena.toml
    ///
    /// Reads `testarena.toml` at the commit `ref` names (from the gateway's
    /// mirror of `repo`) and submits one queue per `[[queue]]`, id
    /// `<name>-<commit12>`. Again at the same commit: the same ids, nothing
    /// new. A file that cannot be read or run is a 422 naming its line.
    /// The body is a queue's `source`: `repo` and `ref`.
    #[oai(path = "/repos/run", method = "post")]
    async fn run(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: StrictJson<SourceBody>,
    ) -> Result<RepoRunResponse, ApiError> {
        let repo = RepoUrl::parse(body.0.repo).map_err(|e| ApiError::invalid_field("repo", e))?;
        let git_ref =
            GitRef::parse(body.0.git_ref).map_err(|e| ApiError::invalid_field("ref", e))?;
        let owner = default_owner(request);
        let run = repo_run::run(&state, &repo, At::Ref(&git_ref), &owner).await?;
        tracing::info!(%repo, commit = %run.commit, queues = run.queues.len(), created = run.created, "repository run");
        Ok(RepoRunResponse::Created(Json(RepoRunCreated {
            commit: run.commit,
            queues: run.queues,
        })))
    }
}
