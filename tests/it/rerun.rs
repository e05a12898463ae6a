//! Rerun (`POST /api/queue/{id}/rerun`, `testarena rerun`): a new queue at
//! the original's resolved commit, even after its ref moved on, with the
//! tasks asked for; the new view names the original.

use std::time::Duration;

use serde_json::json;

use crate::stack::{queue, GitRepo, TestStack, BIN};

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_rerun_of_the_failed_tasks_runs_at_the_same_commit_after_the_ref_moved() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("ok.sh", "echo fine\n"), ("bad.sh", "echo nope; exit 1\n")]);
    let body = queue("rr-1", &repo.url(), &[("ok", "ok.sh"), ("bad", "bad.sh")]);
    assert_eq!(stack.submit(&body).await.0, 201);
    let original = stack.wait_terminal("rr-1", T).await;
    assert_eq!(original["verdict"], "failed", "{original:#}");
    let commit = original["commit"].as_str().unwrap().to_owned();
    // `main` moves on: the fix is in, but a rerun tests the same commit.
    repo.commit(&[("bad.sh", "echo fixed\n")], "fix");

    let path = "/api/queue/rr-1/rerun";
    let (status, rerun) = stack
        .request(
            reqwest::Method::POST,
            path,
            Some(&json!({"failed_only": true})),
        )
        .await;
    assert_eq!(status, 201, "{rerun:#}");
    assert_eq!(rerun["rerun_of"], "rr-1");
    assert_eq!(rerun["source"]["ref"], json!(commit));
    let tasks: Vec<&str> = rerun["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["bad"]);
    let id = rerun["id"].as_str().unwrap().to_owned();
    let ended = stack.wait_terminal(&id, T).await;
    assert_eq!(ended["commit"], json!(commit));
    assert_eq!(
        ended["verdict"], "failed",
        "still the broken commit: {ended:#}"
    );

    // The CLI: every task again, followed to its end; it failed, so exit 1.
    let out = tokio::process::Command::new(BIN)
        .args(["rerun", "rr-1", "--wait"])
        .env("TESTARENA_SERVER", &stack.base)
        .output()
        .await
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("nope") && said.contains("fine"), "{said}");
}

#[tokio::test]
async fn a_rerun_that_cannot_be_made_says_why() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("ok.sh", "echo fine\n")]);
    stack
        .submit(&queue("rr-ok", &repo.url(), &[("ok", "ok.sh")]))
        .await;
    stack.wait_terminal("rr-ok", T).await;
    let post = |path: &'static str, body| {
        let stack = &stack;
        async move {
            stack
                .request(reqwest::Method::POST, path, Some(&body))
                .await
        }
    };
    let (status, error) = post("/api/queue/rr-ok/rerun", json!({"failed_only": true})).await;
    assert_eq!(status, 422, "{error}");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("nothing to rerun"));
    let (status, error) = post("/api/queue/rr-ok/rerun", json!({"tasks": ["nope"]})).await;
    assert_eq!(status, 422, "{error}");
    assert!(error["message"].as_str().unwrap().contains("\"nope\""));
    let (status, _) = post("/api/queue/missing/rerun", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = post("/api/queue/rr-ok/rerun", json!({"what": 1})).await;
    assert_eq!(status, 400);

    // A checkout that never resolved a commit leaves nothing "the same" to run.
    stack
        .submit(&queue("rr-gone", "/no/such/repo", &[("ok", "ok.sh")]))
        .await;
    stack.wait_terminal("rr-gone", T).await;
    let (status, error) = post("/api/queue/rr-gone/rerun", json!({})).await;
    assert_eq!(status, 409, "{error}");
}
