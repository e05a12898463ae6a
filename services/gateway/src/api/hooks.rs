//! `POST /api/hooks/github`, `/api/hooks/gitlab`, `/api/hooks/gitea`: a
//! signed push or pull (merge) request of a configured repository runs its
//! `testarena.toml` at the hook's commit. The signature is checked against
//! each `[[repos]]` secret before the body is read; none matches → 401,
//! nothing started. A redelivery (same delivery id, same commit) starts
//! nothing new: the queue ids are derived from the commit.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use testarena_events::Owner;
use testarena_integrations::RepoHook;

use super::error::ApiError;
use super::hook_body::HookBody;
use super::ApiTags;
use crate::hooks::payload::{self, HookEvent, HookRun};
use crate::hooks::signature::{self, SignatureError};
use crate::hooks::HookService;
use crate::repo_run::{self, At};
use crate::state::AppState;

#[derive(Debug, Clone, Object)]
pub struct HookStarted {
    /// The commit the queues run at.
    pub commit: String,
    /// Each `[[queue]]`'s id, `<name>-<commit12>`.
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, Object)]
pub struct HookIgnored {
    /// Why the hook starts nothing (a ping, a deleted branch, a ref not in
    /// the repository's `refs`, another event).
    pub ignored: String,
}

#[derive(ApiResponse, Debug)]
pub(crate) enum HookResponse {
    /// The repository's queues at the hook's commit (new, or from an
    /// earlier delivery of it).
    #[oai(status = 201)]
    Started(Json<HookStarted>),
    /// A verified hook that starts nothing; it says why.
    #[oai(status = 200)]
    Ignored(Json<HookIgnored>),
}

pub(crate) struct HooksApi;

#[OpenApi(prefix_path = "/api/hooks", tag = "ApiTags::Queues")]
impl HooksApi {
    /// A GitHub webhook
    ///
    /// Signed with `X-Hub-Signature-256`; `push`, `pull_request` (opened,
    /// synchronize, reopened) run; `ping` and the rest answer 200.
    #[oai(path = "/github", method = "post")]
    async fn github(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: HookBody,
    ) -> Result<HookResponse, ApiError> {
        receive(&state, request, &body.0, HookService::Github).await
    }

    /// A GitLab webhook
    ///
    /// Authenticated by `X-Gitlab-Token`; `Push Hook`, `Tag Push Hook` and
    /// `Merge Request Hook` (open, update, reopen) run.
    #[oai(path = "/gitlab", method = "post")]
    async fn gitlab(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: HookBody,
    ) -> Result<HookResponse, ApiError> {
        receive(&state, request, &body.0, HookService::Gitlab).await
    }

    /// A Gitea webhook
    ///
    /// Signed with `X-Gitea-Signature`; `push` and `pull_request` (opened,
    /// synchronized, reopened) run.
    #[oai(path = "/gitea", method = "post")]
    async fn gitea(
        &self,
        state: Data<&Arc<AppState>>,
        request: &poem::Request,
        body: HookBody,
    ) -> Result<HookResponse, ApiError> {
        receive(&state, request, &body.0, HookService::Gitea).await
    }
}

fn header<'a>(request: &'a poem::Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn receive(
    state: &AppState,
    request: &poem::Request,
    body: &[u8],
    service: HookService,
) -> Result<HookResponse, ApiError> {
    let signers = signers(state, request, body, service)?;
    let event = payload::read(service, header(request, service.event_header()), body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let delivery = header(request, service.delivery_header()).unwrap_or("-");
    let hook = match event {
        HookEvent::Ignored(why) => {
            tracing::info!(service = service.name(), delivery, %why, "hook ignored");
            return Ok(ignored(why));
        }
        HookEvent::Run(hook) => hook,
    };
    let Some(repo) = signers.into_iter().find(|r| r.is_named_by(&hook.clone_url)) else {
        return Err(ApiError::invalid_field(
            "repository",
            format!(
                "{} is not a configured repository of this webhook secret",
                hook.clone_url
            ),
        ));
    };
    start(state, service, delivery, repo, &hook).await
}

/// The configured repositories whose secret the hook's signature matches.
fn signers<'a>(
    state: &'a AppState,
    request: &poem::Request,
    body: &[u8],
    service: HookService,
) -> Result<Vec<&'a RepoHook>, ApiError> {
    let presented = header(request, signature::header(service));
    let mut refusal = SignatureError::Missing(signature::header(service));
    let mut signers = Vec::new();
    for repo in &state.gateway_file.repos {
        match signature::verify(service, presented, body, repo.webhook_secret.expose()) {
            Ok(()) => signers.push(repo),
            Err(e) => refusal = e,
        }
    }
    if state.gateway_file.repos.is_empty() {
        return Err(ApiError::unauthorized(
            "this gateway has no [[repos]] configured (testarena gateway --config FILE)",
        ));
    }
    match signers.is_empty() {
        true => Err(ApiError::unauthorized(refusal.to_string())),
        false => Ok(signers),
    }
}

async fn start(
    state: &AppState,
    service: HookService,
    delivery: &str,
    repo: &RepoHook,
    hook: &HookRun,
) -> Result<HookResponse, ApiError> {
    if !repo.refs.matches(&hook.filter_ref) {
        return Ok(ignored(format!(
            "{} is not in the repository's refs ({})",
            hook.filter_ref,
            repo.refs.patterns().join(", ")
        )));
    }
    let owner = Owner::parse(service.name()).unwrap_or_else(|_| Owner::anonymous());
    let run = repo_run::run(state, &repo.url, At::Commit(&hook.commit), &owner).await?;
    tracing::info!(
        service = service.name(),
        delivery,
        repo = %repo.url,
        commit = %run.commit,
        created = run.created,
        "hook ran the repository's queues"
    );
    Ok(HookResponse::Started(Json(HookStarted {
        commit: run.commit,
        queues: run.queues,
    })))
}

fn ignored(why: String) -> HookResponse {
    HookResponse::Ignored(Json(HookIgnored { ignored: why }))
}
