//! Integrations (issue 25): a repository's `testarena.toml` run by
//! `POST /api/repos/run` and `testarena run`, push hooks that start it,
//! and the merged JUnit report, against real git and a real stack.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::stack::{GitRepo, StackOptions, TestStack, BIN};

const T: Duration = Duration::from_secs(60);

const TESTARENA_TOML: &str = r#"
[[queue]]
name = "smoke"
scenarios = "scenarios/*.sh"

[[queue]]
name = "uart"
tasks = [{ id = "uart", scenario = "uart.sh", timeout_s = 30 }]
"#;

fn repository() -> GitRepo {
    GitRepo::new(&[
        ("testarena.toml", TESTARENA_TOML),
        ("scenarios/boot.sh", "echo booted\n"),
        ("scenarios/power.sh", "echo powered\n"),
        ("uart.sh", "echo 'uart: <rx> & \"tx\" broken'; exit 1\n"),
    ])
}

async fn cli(stack: &TestStack, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("TESTARENA_SERVER", &stack.base)
        .output()
        .await
        .unwrap()
}

async fn run_repo(stack: &TestStack, repo: &str, git_ref: &str) -> (u16, Value) {
    let body = json!({"repo": repo, "ref": git_ref});
    stack
        .request(reqwest::Method::POST, "/api/repos/run", Some(&body))
        .await
}

async fn queue_count(stack: &TestStack) -> u64 {
    stack.get("/api/queues").await.1["total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_repository_runs_its_queues_once_per_commit_and_run_wait_exits_by_them() {
    let stack = TestStack::start().await;
    let repo = repository();
    let head = crate::stack::git(repo.dir.path(), &["rev-parse", "HEAD"]);
    let short = &head.trim()[..12];

    // `testarena run --wait`: both queues to their end; uart fails, so 1.
    let out = cli(
        &stack,
        &["run", "--repo", &repo.url(), "--ref", "main", "--wait"],
    )
    .await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("smoke-{short}")), "{said}");
    let smoke = stack.wait_terminal(&format!("smoke-{short}"), T).await;
    assert_eq!(smoke["verdict"], "passed", "{smoke:#}");
    let tasks: Vec<&str> = smoke["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        tasks,
        ["boot", "power"],
        "one task per scenario file, by its stem"
    );
    assert_eq!(
        smoke["source"]["ref"],
        head.trim(),
        "the queue runs at the resolved commit"
    );
    let uart = stack.wait_terminal(&format!("uart-{short}"), T).await;
    assert_eq!(uart["verdict"], "failed");

    // Again at the same commit: the same ids, nothing new.
    let (status, again) = run_repo(&stack, &repo.url(), "main").await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["commit"], head.trim());
    assert_eq!(
        again["queues"],
        json!([format!("smoke-{short}"), format!("uart-{short}")])
    );
    assert_eq!(queue_count(&stack).await, 2);

    // The merged report, by route and by CLI, with the failure escaped.
    let response = stack
        .http
        .get(format!("{}/api/queue/uart-{short}/junit.xml", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/xml");
    let report = response.text().await.unwrap();
    assert!(
        report.contains(r#"<testsuite name="uart" tests="1" failures="1""#),
        "{report}"
    );
    let out = cli(&stack, &["junit", &format!("uart-{short}")]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), report);

    // Fixed on main: a new commit, new queues, and `run --wait` exits 0.
    let fixed = repo.commit(&[("uart.sh", "echo fine\n")], "fix uart");
    let out = cli(
        &stack,
        &["run", "--repo", &repo.url(), "--ref", "main", "--wait"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stack
            .get(&format!("/api/queue/uart-{}", &fixed[..12]))
            .await
            .1["verdict"],
        "passed"
    );
    assert_eq!(queue_count(&stack).await, 4);
}

#[tokio::test]
async fn a_bad_testarena_toml_an_unknown_ref_or_no_file_is_a_422_saying_which() {
    let stack = TestStack::start().await;
    let repo = repository();
    repo.commit(
        &[(
            "testarena.toml",
            "[[queue]]\nname = \"smoke\"\nshard = 2\nscenarios = \"*.sh\"\n",
        )],
        "typo",
    );
    let (status, error) = run_repo(&stack, &repo.url(), "main").await;
    assert_eq!(status, 422, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("testarena.toml line 3") && message.contains("shard"),
        "{message}"
    );

    let (status, error) = run_repo(&stack, &repo.url(), "no-such-branch").await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no-such-branch"),
        "{error}"
    );

    let bare = GitRepo::new(&[("README.md", "no config here\n")]);
    let (status, error) = run_repo(&stack, &bare.url(), "main").await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("has no testarena.toml"),
        "{error}"
    );
    assert_eq!(queue_count(&stack).await, 0, "nothing was started");

    let out = cli(&stack, &["run", "--repo", &repo.url(), "--ref", "main"]).await;
    assert_eq!(out.status.code(), Some(2), "the API refused it");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
}

/// HMAC-SHA256 as RFC 2104 defines it, so the test signs without the
/// gateway's code: what GitHub puts in `X-Hub-Signature-256`.
fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut key = [0u8; 64];
    key[..secret.len()].copy_from_slice(secret);
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    format!("sha256={}", hex::encode(outer))
}

fn push_payload(repo: &str, git_ref: &str, commit: &str) -> Vec<u8> {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hooks/github_push.json");
    let mut payload: Value = serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    payload["ref"] = json!(git_ref);
    payload["after"] = json!(commit);
    payload["repository"]["clone_url"] = json!(repo);
    serde_json::to_vec(&payload).unwrap()
}

/// A fixture from `tests/fixtures/hooks` with the values at these JSON pointers replaced.
fn fixture_with(name: &str, values: &[(&str, Value)]) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks")
        .join(name);
    let mut payload: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for (pointer, value) in values {
        *payload.pointer_mut(pointer).expect("the fixture has it") = value.clone();
    }
    serde_json::to_vec(&payload).unwrap()
}

async fn deliver_to(
    stack: &TestStack,
    service: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut request = stack
        .http
        .post(format!("{}/api/hooks/{service}", stack.base))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body.to_vec()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn deliver(stack: &TestStack, delivery: &str, body: &[u8], signature: &str) -> (u16, Value) {
    let response = stack
        .http
        .post(format!("{}/api/hooks/github", stack.base))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_signed_push_hook_starts_the_queues_a_bad_one_nothing_and_a_redelivery_nothing_new() {
    let repo = repository();
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(config_dir.path().join("fw-hook"), "hook-secret\n").unwrap();
    let config = config_dir.path().join("gateway.toml");
    let text = format!(
        "[[repos]]\nurl = {:?}\nwebhook_secret_file = \"fw-hook\"\nrefs = [\"main\", \"release/*\"]\n",
        repo.url()
    );
    std::fs::write(&config, text).unwrap();
    let stack = TestStack::start_with(StackOptions {
        gateway_args: vec!["--config".into(), config.display().to_string()],
        ..Default::default()
    })
    .await;
    let head = crate::stack::git(repo.dir.path(), &["rev-parse", "HEAD"])
        .trim()
        .to_owned();

    let body = push_payload(&repo.url(), "refs/heads/main", &head);
    let good = github_signature(b"hook-secret", &body);
    let (status, started) = deliver(&stack, "d-1", &body, &good).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["commit"], head);
    let uart = format!("uart-{}", &head[..12]);
    assert_eq!(started["queues"][1], uart);
    let ended = stack.wait_terminal(&uart, T).await;
    assert_eq!(ended["owner"], "github", "{ended:#}");

    // Redelivered (same delivery id, same commit): the same ids, nothing new.
    let (status, again) = deliver(&stack, "d-1", &body, &good).await;
    assert_eq!((status, &again["queues"]), (201, &started["queues"]));
    assert_eq!(queue_count(&stack).await, 2);

    // A new commit with a wrong signature, or none: 401 and no queue.
    let next = repo.commit(&[("scenarios/extra.sh", "echo more\n")], "more");
    let body = push_payload(&repo.url(), "refs/heads/main", &next);
    let wrong = github_signature(b"not-the-secret", &body);
    let (status, refused) = deliver(&stack, "d-2", &body, &wrong).await;
    assert_eq!(status, 401, "{refused}");
    let (status, _) = deliver(&stack, "d-2", &body, "").await;
    assert_eq!(status, 401);
    assert_eq!(
        stack
            .get(&format!("/api/queue/smoke-{}", &next[..12]))
            .await
            .0,
        404
    );
    assert_eq!(queue_count(&stack).await, 2);

    // GitLab (the token itself) and Gitea (HMAC, no prefix) run it too.
    let gitlab = fixture_with(
        "gitlab_push.json",
        &[
            ("/ref", json!("refs/heads/main")),
            ("/checkout_sha", json!(next)),
            ("/after", json!(next)),
            ("/project/git_http_url", json!(repo.url())),
        ],
    );
    let (status, started) = deliver_to(
        &stack,
        "gitlab",
        &[
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", "hook-secret"),
        ],
        &gitlab,
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["queues"][0], format!("smoke-{}", &next[..12]));
    let third = repo.commit(&[("scenarios/third.sh", "echo third\n")], "third");
    let gitea = fixture_with(
        "gitea_push.json",
        &[
            ("/ref", json!("refs/heads/main")),
            ("/after", json!(third)),
            ("/repository/clone_url", json!(repo.url())),
        ],
    );
    let signature = github_signature(b"hook-secret", &gitea).replace("sha256=", "");
    let headers = [
        ("x-gitea-event", "push"),
        ("x-gitea-signature", signature.as_str()),
    ];
    let (status, started) = deliver_to(&stack, "gitea", &headers, &gitea).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["commit"], third);
    assert_eq!(queue_count(&stack).await, 6);

    // A branch outside `refs`: verified, answered, nothing started.
    let body = push_payload(&repo.url(), "refs/heads/feature", &next);
    let (status, ignored) = deliver(
        &stack,
        "d-3",
        &body,
        &github_signature(b"hook-secret", &body),
    )
    .await;
    assert_eq!(status, 200, "{ignored}");
    assert!(
        ignored["ignored"]
            .as_str()
            .unwrap()
            .contains("refs/heads/feature"),
        "{ignored}"
    );
    assert_eq!(queue_count(&stack).await, 6);
}
