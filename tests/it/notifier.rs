//! The notifier as a real process: commit statuses and notifications
//! reach a local HTTP server that checks each request the way GitHub's
//! statuses API documents it (method, path, headers, body), and nothing is
//! lost when that server, or the notifier itself, is killed mid-way.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::stack::{GitRepo, StackOptions, TestStack};

const TOKEN: &str = "ghp_test-token-never-logged";
const HOOK_KEY: &str = "notify-hmac-key";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A local HTTP server on a fixed port that can be stopped and started
/// again, playing GitHub's statuses API (`/repos/...`), a webhook
/// receiver (`/hook`) and Slack (`/slack`).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Self {
        let port = testarena::nats_server::free_port().unwrap();
        let mut receiver = Self {
            port,
            got: Arc::default(),
            task: None,
        };
        receiver.resume().await;
        receiver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops listening: connections are refused until `resume`.
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind");
        let got = self.got.clone();
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    continue;
                };
                let got = got.clone();
                tokio::spawn(async move {
                    if let Some(request) = read_request(&mut socket).await {
                        let status = check(&request);
                        got.lock().unwrap().push(request);
                        let answer = format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = socket.write_all(answer.as_bytes()).await;
                    }
                });
            }
        }));
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not received in 90 s; got {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body,
    })
}

/// The answer GitHub would give: 201 for a status request as its REST
/// reference documents it (POST /repos/{owner}/{repo}/statuses/{sha}, a
/// Bearer token, the v3 JSON media type, a body with a known `state`),
/// 4xx for anything else; 200 for the webhook and Slack receivers.
fn check(request: &Received) -> &'static str {
    if request.path == "/hook" || request.path == "/slack" {
        return if request.method == "POST" {
            "200 OK"
        } else {
            "405 Method Not Allowed"
        };
    }
    let segments: Vec<&str> = request.path.split('/').collect();
    let shape_ok = request.method == "POST"
        && matches!(segments.as_slice(), ["", "repos", "team", "fw", "statuses", sha] if sha.len() == 40);
    if !shape_ok {
        return "404 Not Found";
    }
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return "401 Unauthorized";
    }
    let body = request.json();
    let state_ok = matches!(
        body["state"].as_str(),
        Some("error" | "failure" | "pending" | "success")
    );
    let fields_ok = ["target_url", "description", "context"]
        .iter()
        .all(|k| body[k].is_string());
    let accept_ok = request.header("accept") == Some("application/vnd.github+json");
    if state_ok && fields_ok && accept_ok {
        "201 Created"
    } else {
        "422 Unprocessable Entity"
    }
}

/// The gateway config file the notifier reads, and its secret files.
fn write_config(stack: &TestStack, repo: &str, receiver: &str) -> String {
    let dir = stack.dir.path();
    std::fs::write(dir.join("status-token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(dir.join("hook-secret"), "unused\n").unwrap();
    std::fs::write(dir.join("notify-secret"), format!("{HOOK_KEY}\n")).unwrap();
    let config = format!(
        r#"
[[repos]]
url = "{repo}"
webhook_secret_file = "hook-secret"
status = {{ api = "github", url = "{receiver}", token_file = "status-token" }}

[[notify]]
on = ["failed", "new_failure"]
repo = "{repo}"
webhook = "{receiver}/hook"
secret_file = "notify-secret"

[[notify]]
on = ["failed"]
slack = "{receiver}/slack"
"#
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    path.display().to_string()
}

fn spawn_notifier(stack: &TestStack, config: &str) -> std::process::Child {
    stack.spawn(
        &[
            "notifier",
            "--config",
            config,
            "--public-url",
            "https://arena.example.com",
        ],
        "notifier",
    )
}

/// The consumer exists once the notifier has started: events from then on
/// are its.
async fn wait_for_consumer(stack: &TestStack) {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stream = js.get_stream("ARENA_EVENTS").await;
        if let Ok(stream) = stream {
            let consumer = stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>("arena_notifier")
                .await;
            if consumer.is_ok() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the notifier's consumer did not appear"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn statuses_of<'a>(got: &'a [Received], sha: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.path.ends_with(&format!("/statuses/{sha}")))
        .collect()
}

fn states(statuses: &[&Received]) -> Vec<String> {
    statuses
        .iter()
        .map(|r| r.json()["state"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn statuses_and_notifications_arrive_and_a_killed_receiver_or_notifier_loses_none() {
    let stack = TestStack::start_with(StackOptions {
        role_users: true,
        ..Default::default()
    })
    .await;
    let parent = tempfile::tempdir().unwrap();
    let repo = GitRepo::new(&[("pass.sh", "exit 0\n"), ("fail.sh", "exit 1\n")]);
    let repo_dir = parent.path().join("team").join("fw");
    std::fs::create_dir_all(repo_dir.parent().unwrap()).unwrap();
    std::fs::rename(repo.dir.path(), &repo_dir).unwrap();
    std::fs::create_dir_all(repo.dir.path()).unwrap();
    let repo_url = repo_dir.display().to_string();
    let sha = crate::stack::git(&repo_dir, &["rev-parse", "HEAD"])
        .trim()
        .to_owned();
    let mut receiver = Receiver::start().await;
    let config = write_config(&stack, &repo_url, &receiver.url());
    let mut notifier = spawn_notifier(&stack, &config);
    wait_for_consumer(&stack).await;

    // At its commit: pending on submit, then success, linking the queue page.
    let passing = json!({"id": "smoke", "source": {"repo": repo_url, "ref": sha},
                         "tasks": [{"id": "boot", "scenario": "pass.sh"},
                                   {"id": "uart", "scenario": "pass.sh"}]});
    assert_eq!(stack.submit(&passing).await.0, 201);
    let got = receiver
        .wait_until("pending then success", |got| {
            states(&statuses_of(got, &sha)).contains(&"success".to_owned())
        })
        .await;
    let smoke = statuses_of(&got, &sha);
    assert_eq!(states(&smoke), ["pending", "success"], "{smoke:#?}");
    let last = smoke[1].json();
    assert_eq!(last["context"], "testarena/smoke");
    assert_eq!(
        last["target_url"],
        "https://arena.example.com/#/queue/smoke"
    );
    assert_eq!(last["description"], "passed: 2 of 2 tasks passed");

    // The receiver is down while a queue fails (`uart`, which passed in
    // `smoke`: a new failure): its deliveries wait.
    receiver.stop().await;
    let failing = json!({"id": "broken", "source": {"repo": repo_url, "ref": "main"},
                         "tasks": [{"id": "boot", "scenario": "pass.sh"},
                                   {"id": "uart", "scenario": "fail.sh"}]});
    assert_eq!(stack.submit(&failing).await.0, 201);
    stack.wait_terminal("broken", Duration::from_secs(60)).await;
    let pending = stack
        .wait_for_path("/api/notifications", Duration::from_secs(30), |list| {
            let records = list["deliveries"].as_array().cloned().unwrap_or_default();
            let waiting = |id: &str| {
                records.iter().any(|r| {
                    r["id"].as_str().is_some_and(|i| i.ends_with(id))
                        && r["state"] == "pending"
                        && r["last_error"].is_string()
                })
            };
            waiting("broken.status.final") && waiting(".rule0") && waiting(".rule1")
        })
        .await;
    let text = pending.to_string();
    assert!(
        !text.contains(TOKEN) && !text.contains(HOOK_KEY),
        "a secret in {text}"
    );

    // The notifier is killed too, and started again: nothing is lost.
    let _ = notifier.kill();
    let _ = notifier.wait();
    notifier = spawn_notifier(&stack, &config);
    receiver.resume().await;
    let got = receiver
        .wait_until(
            "the failed queue's status, webhook and Slack message",
            |got| {
                states(&statuses_of(got, &sha))
                    .iter()
                    .filter(|s| *s == "failure")
                    .count()
                    == 1
                    && got.iter().any(|r| r.path == "/hook")
                    && got.iter().any(|r| r.path == "/slack")
            },
        )
        .await;

    let broken: Vec<&Received> = statuses_of(&got, &sha)
        .into_iter()
        .filter(|r| r.json()["context"] == "testarena/broken")
        .collect();
    assert_eq!(
        states(&broken).last().map(String::as_str),
        Some("failure"),
        "{broken:#?}"
    );
    assert_eq!(
        broken.last().unwrap().json()["description"],
        "failed: 1 of 2 tasks passed"
    );

    let hooks: Vec<&Received> = got.iter().filter(|r| r.path == "/hook").collect();
    assert_eq!(hooks.len(), 1, "the webhook is delivered once: {hooks:#?}");
    let hook = hooks[0];
    let signature = hook.header("x-testarena-signature").expect("signed");
    assert!(testarena_notifier::verify(
        HOOK_KEY.as_bytes(),
        &hook.body,
        signature
    ));
    assert!(!testarena_notifier::verify(
        b"another key",
        &hook.body,
        signature
    ));
    let delivery = hook
        .header("x-testarena-delivery")
        .expect("a delivery id")
        .to_owned();
    let body = hook.json();
    assert_eq!(body["delivery"], delivery);
    assert_eq!(body["events"], json!(["failed", "new_failure"]));
    assert_eq!(hook.header("x-testarena-event"), Some("failed,new_failure"));
    assert_eq!(body["queue"]["id"], "broken");
    assert_eq!(body["queue"]["verdict"], "failed");
    assert_eq!(body["queue"]["failing"], json!(["uart"]));
    assert_eq!(body["queue"]["new_failures"], json!(["uart"]));
    assert_eq!(
        body["queue"]["url"],
        "https://arena.example.com/#/queue/broken"
    );

    let slack = got.iter().find(|r| r.path == "/slack").unwrap().json();
    let text = slack["text"].as_str().expect("a Slack text");
    assert!(text.contains("*broken* failed"), "{text}");
    assert!(text.contains("Failing: uart"), "{text}");
    assert!(text.contains("New failures: uart"), "{text}");
    assert!(
        text.contains("<https://arena.example.com/#/queue/broken|Open the queue>"),
        "{text}"
    );

    // The records show the retries.
    let list = stack
        .wait_for_path("/api/notifications", Duration::from_secs(30), |list| {
            list["deliveries"]
                .as_array()
                .is_some_and(|r| r.iter().filter(|r| r["state"] == "delivered").count() >= 5)
        })
        .await;
    let records = list["deliveries"].as_array().unwrap();
    let hook_record = records
        .iter()
        .find(|r| r["id"] == delivery.as_str())
        .expect("its record");
    assert_eq!(hook_record["state"], "delivered");
    assert!(
        hook_record["attempts"].as_u64().unwrap() >= 2,
        "{hook_record:#}"
    );
    assert_eq!(hook_record["last_status"], 200);
    assert_eq!(hook_record["target"], format!("{}/hook", receiver.url()));
    let slack_record = records.iter().find(|r| r["kind"] == "slack").unwrap();
    assert_eq!(
        slack_record["target"],
        format!("{}/…", receiver.url()),
        "no Slack key shown"
    );

    // Nothing was sent twice: one webhook and one Slack message in all,
    // one success for `smoke`, one failure for `broken`.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = receiver.received();
    assert_eq!(got.iter().filter(|r| r.path == "/slack").count(), 1);
    assert_eq!(got.iter().filter(|r| r.path == "/hook").count(), 1);
    assert_eq!(
        states(&statuses_of(&got, &sha))
            .iter()
            .filter(|s| *s == "success")
            .count(),
        1
    );
    let log = std::fs::read_to_string(stack.dir.path().join("notifier.log")).unwrap_or_default();
    assert!(
        !log.contains(TOKEN) && !log.contains(HOOK_KEY),
        "a secret in the notifier's log"
    );
    let _ = notifier.kill();
    let _ = notifier.wait();
}
