//! A worker's state changes on the event log, with who and when: the
//! operator's drain and readmit by the API token's name, the worker's own
//! quarantine and health readmit, and its going offline; the queues it
//! runs now. Under the per-role NATS users of deploy/nats/users.conf.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::schemas::{check, read_all, validator};
use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);
const TOKEN: &str = "ops:worker-changes-token-0123456789";

async fn as_ops(
    stack: &TestStack,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = stack
        .http
        .request(method, format!("{}{path}", stack.base))
        .bearer_auth("worker-changes-token-0123456789");
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// worker-0 as `/api/workers` shows it, once `done` holds.
async fn wait_worker(stack: &TestStack, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let (_, page) = stack.get("/api/workers").await;
        if let Some(worker) = page["workers"]
            .as_array()
            .and_then(|w| w.iter().find(|w| w["id"] == "worker-0"))
        {
            if done(worker) {
                return worker.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "worker-0 never got there: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn newest(worker: &Value) -> &Value {
    &worker["changes"][0]
}

#[tokio::test]
async fn a_workers_changes_say_who_and_when_and_its_running_queues_show() {
    let mut stack = TestStack::start_with(StackOptions {
        workers: 0,
        role_users: true,
        gateway_args: vec!["--api-tokens".into(), TOKEN.into()],
        ..Default::default()
    })
    .await;
    let lab = tempfile::tempdir().unwrap();
    let fixed = lab.path().join("fixed");
    let config = format!(
        "default_profile = \"sh\"\n[profiles.sh]\ntask = \"sh {{scenario}}\"\n\
         [profiles.board]\nboot = \"test -f {fixed} && echo READY && sleep 30\"\n\
         boot_ready = {{ log_regex = \"^READY$\" }}\nboot_ready_timeout_s = 5\n\
         task = \"sh {{scenario}}\"\nquarantine_after = 1\nboot_retries = 0\n\
         health = \"test -f {fixed}\"\nhealth_interval_s = 1\n",
        fixed = fixed.display()
    );
    stack.add_worker_with(
        &config,
        &["--heartbeat-ms", "200", "--shutdown-grace-s", "0"],
    );
    wait_worker(&stack, |w| w["presence"] == "live").await;
    let repo = GitRepo::new(&[("t.sh", "echo ok\n"), ("slow.sh", "sleep 30\n")]);

    // The queue it runs now.
    let (status, body) = as_ops(
        &stack,
        reqwest::Method::POST,
        "/api/queue",
        Some(&queue("slow", &repo.url(), &[("s", "slow.sh")])),
    )
    .await;
    assert!(status == 201 || status == 202, "{status} {body}");
    let worker = wait_worker(&stack, |w| w["running"][0]["id"] == "slow").await;
    assert!(worker["running"][0]["shard"].is_null(), "{worker:#}");

    // An operator drains and readmits: by the token's name.
    let (status, answer) = as_ops(
        &stack,
        reqwest::Method::POST,
        "/api/workers/worker-0/drain",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        !answer["message"].as_str().unwrap().contains("not recorded"),
        "{answer}"
    );
    let worker = wait_worker(&stack, |w| newest(w)["kind"] == "drained").await;
    assert_eq!(newest(&worker)["by"], "ops", "{worker:#}");
    assert!(
        newest(&worker)["at"].as_str().unwrap().ends_with('Z'),
        "{worker:#}"
    );
    let (status, answer) = as_ops(
        &stack,
        reqwest::Method::POST,
        "/api/workers/worker-0/readmit?profile=sh",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let worker = wait_worker(&stack, |w| newest(w)["kind"] == "readmitted").await;
    assert_eq!(
        (&newest(&worker)["by"], &newest(&worker)["profile"]),
        (&"ops".into(), &"sh".into()),
        "{worker:#}"
    );
    // A drain drains every profile: board is taken back too.
    let readmit_board = "/api/workers/worker-0/readmit?profile=board";
    let (status, answer) = as_ops(&stack, reqwest::Method::POST, readmit_board, None).await;
    assert_eq!(status, 200, "{answer}");
    as_ops(
        &stack,
        reqwest::Method::POST,
        "/api/queue/slow/cancel",
        None,
    )
    .await;

    // Its own quarantine, and its health command's readmit: by the worker.
    let mut broken = queue("broken", &repo.url(), &[("t", "t.sh")]);
    broken["profile"] = "board".into();
    as_ops(&stack, reqwest::Method::POST, "/api/queue", Some(&broken)).await;
    let worker = wait_worker(&stack, |w| newest(w)["kind"] == "quarantined").await;
    assert_eq!(
        (&newest(&worker)["by"], &newest(&worker)["profile"]),
        (&"worker-0".into(), &"board".into()),
        "{worker:#}"
    );
    assert!(
        newest(&worker)["detail"]
            .as_str()
            .unwrap()
            .starts_with("1 boots in a row failed"),
        "{worker:#}"
    );
    std::fs::write(&fixed, "").unwrap();
    let worker = wait_worker(&stack, |w| {
        newest(w)["kind"] == "readmitted" && newest(w)["by"] == "worker-0"
    })
    .await;
    assert_eq!(newest(&worker)["profile"], "board", "{worker:#}");

    // Stopped cleanly: offline, by itself, once.
    stack.terminate_worker(0);
    let worker = wait_worker(&stack, |w| newest(w)["kind"] == "offline").await;
    assert_eq!(
        (&newest(&worker)["by"], &newest(&worker)["detail"]),
        (&"worker-0".into(), &"left".into()),
        "{worker:#}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let events = read_all(&stack, "ARENA_EVENTS").await;
    let worker_events: Vec<&Value> = events
        .iter()
        .filter(|e| e.get("queue_id").is_none() && e.get("worker").is_some())
        .collect();
    for event in &worker_events {
        let kind = event["type"].as_str().unwrap();
        check(&validator(&format!("workers/{kind}.json")), kind, event);
    }
    let kinds: Vec<&str> = worker_events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "drained",
            "readmitted",
            "readmitted",
            "quarantined",
            "readmitted",
            "offline"
        ],
        "{worker_events:#?}"
    );
}
