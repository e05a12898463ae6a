//! What a verified hook asks for: a push, or a pull (merge) request opened,
//! updated or reopened, runs `testarena.toml` at its commit; anything else
//! (a ping, a deleted branch, a closed pull request, another event) is
//! answered and starts nothing. Read from the payload shapes each service
//! documents; fields not named here are never looked at.

use serde_json::Value;

use super::HookService;

/// A hook that runs the repository's queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HookRun {
    /// The repository as the hook names it, matched against `[[repos]]`.
    pub clone_url: String,
    /// The ref the `refs` filter reads: the pushed ref, or a pull
    /// request's target branch (`refs/heads/<base>`).
    pub filter_ref: String,
    /// The full SHA to run at: the pushed commit or the request's head.
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HookEvent {
    Run(HookRun),
    /// Answered with 200, starting nothing; the reason says why.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PayloadError {
    #[error("the hook's body is not JSON: {0}")]
    NotJson(String),
    #[error("the {event} hook has no {field}")]
    Missing {
        event: &'static str,
        field: &'static str,
    },
}

/// `event`: the service's event header (`push`, `Push Hook`, ...).
pub(crate) fn read(
    service: HookService,
    event: Option<&str>,
    body: &[u8],
) -> Result<HookEvent, PayloadError> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let event = event.unwrap_or_default();
    match (service, event) {
        (HookService::Github, "ping") => Ok(HookEvent::Ignored("ping: nothing to run".into())),
        (HookService::Github | HookService::Gitea, "push") => push(&json, "/repository/clone_url"),
        (HookService::Github, "pull_request") => {
            pull_request(&json, &["opened", "synchronize", "reopened"])
        }
        (HookService::Gitea, "pull_request") => {
            pull_request(&json, &["opened", "synchronized", "reopened"])
        }
        (HookService::Gitlab, "Push Hook" | "Tag Push Hook") => {
            push(&json, "/project/git_http_url")
        }
        (HookService::Gitlab, "Merge Request Hook") => merge_request(&json),
        (_, other) => Ok(HookEvent::Ignored(format!(
            "{other:?} events start nothing; push and pull requests do"
        ))),
    }
}

fn text<'a>(json: &'a Value, pointer: &str) -> Option<&'a str> {
    json.pointer(pointer).and_then(Value::as_str)
}

fn field<'a>(
    json: &'a Value,
    event: &'static str,
    pointer: &'static str,
) -> Result<&'a str, PayloadError> {
    text(json, pointer).ok_or(PayloadError::Missing {
        event,
        field: pointer,
    })
}

/// A full SHA-1 or SHA-256 object name, not all zeros (a deleted ref).
fn is_commit(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64)
        && sha.bytes().all(|b| b.is_ascii_hexdigit())
        && sha.bytes().any(|b| b != b'0')
}

fn run(
    clone_url: &str,
    filter_ref: String,
    commit: &str,
    event: &'static str,
) -> Result<HookEvent, PayloadError> {
    if !is_commit(commit) {
        return Err(PayloadError::Missing {
            event,
            field: "full commit SHA",
        });
    }
    Ok(HookEvent::Run(HookRun {
        clone_url: clone_url.to_owned(),
        filter_ref,
        commit: commit.to_ascii_lowercase(),
    }))
}

/// GitHub and Gitea name the repository `repository.clone_url`, GitLab
/// `project.git_http_url`; GitLab's `checkout_sha` is null on a delete.
fn push(json: &Value, url_at: &'static str) -> Result<HookEvent, PayloadError> {
    let git_ref = field(json, "push", "/ref")?;
    let after = text(json, "/checkout_sha")
        .or_else(|| text(json, "/after"))
        .unwrap_or_default();
    let deleted = json.pointer("/deleted").and_then(Value::as_bool) == Some(true)
        || (!after.is_empty() && after.bytes().all(|b| b == b'0'))
        || (json.get("checkout_sha").is_some_and(Value::is_null));
    if deleted {
        return Ok(HookEvent::Ignored(format!(
            "{git_ref} was deleted: nothing to run"
        )));
    }
    run(
        field(json, "push", url_at)?,
        git_ref.to_owned(),
        after,
        "push",
    )
}

fn pull_request(json: &Value, runs_on: &[&str]) -> Result<HookEvent, PayloadError> {
    let action = field(json, "pull_request", "/action")?;
    if !runs_on.contains(&action) {
        return Ok(HookEvent::Ignored(format!(
            "pull request {action}: only {} run",
            runs_on.join(", ")
        )));
    }
    let base = field(json, "pull_request", "/pull_request/base/ref")?;
    run(
        field(json, "pull_request", "/repository/clone_url")?,
        format!("refs/heads/{base}"),
        field(json, "pull_request", "/pull_request/head/sha")?,
        "pull_request",
    )
}

fn merge_request(json: &Value) -> Result<HookEvent, PayloadError> {
    const RUNS_ON: [&str; 3] = ["open", "update", "reopen"];
    let action = field(json, "merge request", "/object_attributes/action")?;
    if !RUNS_ON.contains(&action) {
        return Ok(HookEvent::Ignored(format!(
            "merge request {action}: only {} run",
            RUNS_ON.join(", ")
        )));
    }
    let target = field(json, "merge request", "/object_attributes/target_branch")?;
    run(
        field(json, "merge request", "/project/git_http_url")?,
        format!("refs/heads/{target}"),
        field(json, "merge request", "/object_attributes/last_commit/id")?,
        "merge request",
    )
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
