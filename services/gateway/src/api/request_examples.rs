//! An example body for every request of the OpenAPI document, so Swagger's
//! "Try it out" starts from something that runs: the example firmware's
//! queue (`examples/qemu-arm/queue.json`) against the repository
//! `scripts/demo` makes at `<data-dir>/example-repo`, and requests about
//! that queue and its tests. Pure: the document adds them (document.rs).

use serde_json::{json, Value};

/// The example queue as the repository ships it; its `source.repo` is a
/// placeholder that [`examples`] fills in.
const EXAMPLE_QUEUE: &str = include_str!("../../../../examples/qemu-arm/queue.json");

/// (path as the document writes it, method, example body) for each request
/// that has a body; `repo` is where the example repository is.
pub(crate) fn examples(repo: &str) -> Vec<(&'static str, &'static str, Value)> {
    let mut queue: Value = serde_json::from_str(EXAMPLE_QUEUE).unwrap_or_else(|_| json!({}));
    queue["source"]["repo"] = json!(repo);
    let test = json!({
        "repo": repo, "profile": "qemu-arm", "task": "fault",
        "case": "fault.still answers after fault",
    });
    let mut quarantine = test.clone();
    quarantine["reason"] = json!("the fault scenario halts the firmware on purpose");
    vec![
        ("/api/queue", "post", queue),
        (
            "/api/queue/{id}/rerun",
            "post",
            json!({"failed_only": true}),
        ),
        (
            "/api/bisect",
            "post",
            json!({
                "source": {"repo": repo}, "bad": "main", "profile": "qemu-arm",
                "tasks": [{"id": "fault", "scenario": "scenarios/fault.scn", "timeout_s": 30}],
                "case": "fault.fault is reported", "runs_per_step": 1,
            }),
        ),
        (
            "/api/repos/run",
            "post",
            json!({"repo": repo, "ref": "main"}),
        ),
        (
            "/api/hooks/github",
            "post",
            push_hook(repo, "repository", "clone_url"),
        ),
        ("/api/hooks/gitlab", "post", {
            let mut hook = push_hook(repo, "project", "git_http_url");
            hook["object_kind"] = json!("push");
            hook
        }),
        (
            "/api/hooks/gitea",
            "post",
            push_hook(repo, "repository", "clone_url"),
        ),
        ("/api/tests/quarantine", "post", quarantine),
        ("/api/tests/quarantine", "delete", test),
        (
            "/api/boards/{worker}/{board}/reserve",
            "post",
            json!({"minutes": 30, "reason": "debugging the UART driver"}),
        ),
        (
            "/api/boards/{worker}/{board}/power",
            "post",
            json!({"action": "cycle"}),
        ),
    ]
}

/// A push hook's fields the gateway reads, as GitHub and Gitea name the
/// repository (`repository.clone_url`) or GitLab (`project.git_http_url`).
fn push_hook(repo: &str, owner: &str, url: &str) -> Value {
    json!({
        "ref": "refs/heads/main",
        "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        owner: {url: repo},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_queue_is_the_repositorys_against_the_given_repo() {
        let examples = examples("/srv/testarena-data/example-repo");
        let (_, _, queue) = &examples[0];
        assert_eq!(queue["source"]["repo"], "/srv/testarena-data/example-repo");
        assert_eq!(queue["profile"], "qemu-arm");
        assert_eq!(queue["tasks"].as_array().map(Vec::len), Some(4));
        let hook = |path: &str| {
            examples
                .iter()
                .find(|(p, _, _)| *p == path)
                .unwrap()
                .2
                .clone()
        };
        assert_eq!(
            hook("/api/hooks/gitlab")["project"]["git_http_url"],
            "/srv/testarena-data/example-repo"
        );
        assert_eq!(
            hook("/api/hooks/github")["repository"]["clone_url"],
            "/srv/testarena-data/example-repo"
        );
    }
}
