//! Live logs: SSE replay-then-live with no gap or duplicate, resume with
//! Last-Event-ID, and a plain NATS subscriber (the nats-py example).

use std::time::Duration;

use serde_json::Value;

use crate::stack::{queue, GitRepo, TestStack};

/// One parsed SSE event.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    pub event: String,
    pub id: Option<u64>,
    pub data: Value,
}

/// Reads SSE events until `end` (or `max_logs` log events), in order.
pub(crate) async fn read_sse(
    stack: &TestStack,
    id: &str,
    last_event_id: Option<u64>,
    max_logs: Option<usize>,
) -> Vec<Sse> {
    let mut request = stack
        .http
        .get(format!("{}/api/queue/{id}/log/stream", stack.base));
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("SSE stalled")
            .unwrap();
        let Some(chunk) = chunk else { return events };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = Sse {
                event: "message".into(),
                id: None,
                data: Value::Null,
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event.event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    event.id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    event.data = serde_json::from_str(v).unwrap_or(Value::String(v.to_owned()));
                }
            }
            if block.trim().is_empty() || block.starts_with(':') {
                continue;
            }
            let is_end = event.event == "end";
            events.push(event);
            let logs = events.iter().filter(|e| e.event == "log").count();
            if is_end || max_logs.is_some_and(|max| logs >= max) {
                return events;
            }
        }
    }
}

fn task_lines(events: &[Sse]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event == "log")
        .flat_map(|e| e.data["lines"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["source"] == "task:count" && l["stream"] == "stdout")
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect()
}

fn expected(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("count {i}")).collect()
}

const COUNT_SH: &str = "for i in $(seq 1 60); do echo count $i; sleep 0.02; done\n";

#[tokio::test]
async fn an_sse_client_joining_mid_run_gets_every_line_once_in_order_then_end() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("count.sh", COUNT_SH)]);
    stack
        .submit(&queue("sse", &repo.url(), &[("count", "count.sh")]))
        .await;
    // Join once some lines are out, so the replay/live seam is crossed.
    stack
        .wait_for("sse", Duration::from_secs(30), |v| {
            v["tasks"][0]["status"] == "Running"
        })
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = read_sse(&stack, "sse", None, None).await;
    assert_eq!(task_lines(&events), expected(60));
    let ids: Vec<u64> = events.iter().filter_map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increase: {ids:?}"
    );
    assert!(
        events.iter().any(|e| e.event == "task_finished"),
        "status changes come as their own events"
    );
    let end = events.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(end.data["status"], "Finished");

    // A client arriving after the end gets the whole history and the end.
    let late = read_sse(&stack, "sse", None, None).await;
    assert_eq!(task_lines(&late), expected(60));
    assert_eq!(late.last().unwrap().event, "end");
}

#[tokio::test]
async fn last_event_id_resumes_without_gap_or_duplicate() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("count.sh", COUNT_SH)]);
    stack
        .submit(&queue("resume", &repo.url(), &[("count", "count.sh")]))
        .await;
    let first = read_sse(&stack, "resume", None, Some(8)).await;
    let last_id = first.iter().filter_map(|e| e.id).max().unwrap();
    let rest = read_sse(&stack, "resume", Some(last_id), None).await;
    let mut lines = task_lines(&first);
    lines.extend(task_lines(&rest));
    assert_eq!(lines, expected(60));
    assert!(rest.iter().filter_map(|e| e.id).all(|id| id > last_id));
}

#[tokio::test]
async fn the_nats_py_example_follows_a_queue_log_live() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("count.sh", COUNT_SH)]);
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "run scripts/setup (installs nats-py into .tools/venv)"
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/subscribers/follow_log.py");
    // Start following before the queue exists: live from the first line.
    let follower = tokio::process::Command::new(&python)
        .arg(&script)
        .arg("pyq")
        .env("TESTARENA_NATS_URL", stack.nats.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack
        .submit(&queue("pyq", &repo.url(), &[("count", "count.sh")]))
        .await;
    let output = tokio::time::timeout(Duration::from_secs(60), follower.wait_with_output())
        .await
        .expect("the follower exits when the queue finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("[task:count] "))
        .filter(|l| !l.starts_with("---"))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines, expected(60));
    assert!(
        stdout
            .trim_end()
            .ends_with("== pyq: Finished, 1 of 1 tasks passed"),
        "{stdout}"
    );

    // A queue that finished with a failing task is not a pass.
    stack
        .submit(&queue("pyfail", &repo.url(), &[("no", "missing.sh")]))
        .await;
    stack.wait_terminal("pyfail", Duration::from_secs(30)).await;
    let failed = std::process::Command::new(&python)
        .arg(&script)
        .args(["pyfail", "--nats", &stack.nats.url()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("== pyfail: Finished, 0 of 1 tasks passed"),
        "{stdout}"
    );

    // No NATS there: one clear line, exit 2.
    let port = testarena::nats_server::free_port().unwrap();
    let unreachable = std::process::Command::new(&python)
        .arg(&script)
        .args(["pyq", "--nats", &format!("nats://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(unreachable.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot connect to NATS at nats://127.0.0.1:"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_workers_own_lines_travel_together_and_a_tasks_line_is_not_held() {
    use futures_util::StreamExt as _;
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("slow.sh", "echo first\nsleep 1\necho second\n")]);
    let client = stack.nats_client().await;
    let mut batches = client.subscribe("arena.logs.together").await.unwrap();
    client.flush().await.unwrap();
    // (arrival, [(stream, text)]) per batch, read while the queue runs,
    // until the subject has been quiet for a while after the end.
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut quiet_for = Duration::from_secs(30);
        while let Ok(Some(message)) = tokio::time::timeout(quiet_for, batches.next()).await {
            let at = std::time::Instant::now();
            let batch: Value = serde_json::from_slice(&message.payload).unwrap();
            let lines: Vec<(String, String)> = batch["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        l["stream"].as_str().unwrap().to_owned(),
                        l["text"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            received.push((at, lines));
            quiet_for = Duration::from_secs(3);
        }
        received
    });
    stack
        .submit(&queue(
            "together",
            &repo.url(),
            &[("a", "slow.sh"), ("b", "slow.sh")],
        ))
        .await;
    stack
        .wait_terminal("together", Duration::from_secs(60))
        .await;
    let received = reader.await.unwrap();
    let all: Vec<&(String, String)> = received.iter().flat_map(|(_, l)| l).collect();
    // Nothing lost, in order: the stored log has exactly these lines.
    let log = stack.text("/api/queue/together/log").await;
    assert_eq!(log.lines().count(), all.len(), "{log}");
    for ((_, text), stored) in all.iter().zip(log.lines()) {
        assert!(stored.ends_with(text.as_str()), "{stored:?} vs {text:?}");
    }
    // The worker's own lines (attempt, stage and task headers, checkout)
    // came in fewer batches than half their number.
    let system = all.iter().filter(|(s, _)| s == "system").count();
    let only_system = received
        .iter()
        .filter(|(_, l)| l.iter().all(|(s, _)| s == "system"))
        .count();
    assert!(
        system >= 6 && only_system <= system / 2,
        "{system} lines of the worker in {only_system} batches: {received:?}"
    );
    // Each task's "first" was out while that task still slept, not held
    // with the worker's lines until something else came.
    let arrivals = |text: &str| -> Vec<std::time::Instant> {
        received
            .iter()
            .filter(|(_, l)| l.iter().any(|(_, t)| t == text))
            .map(|(at, _)| *at)
            .collect()
    };
    let (first, second) = (arrivals("first"), arrivals("second"));
    assert_eq!((first.len(), second.len()), (2, 2), "{received:?}");
    for (first, second) in first.iter().zip(&second) {
        assert!(
            *second - *first > Duration::from_millis(700),
            "{:?} between a task's lines that were a second apart",
            *second - *first
        );
    }
}

/// Waits until the events stream holds the queue's `finished`.
pub(crate) async fn wait_finished_in_stream(stack: &TestStack, id: &str) {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let stream = js.get_stream("ARENA_EVENTS").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stream
        .direct_get_last_for_subject(format!("arena.events.{id}.finished"))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_stream_ends_on_a_stored_finished_even_while_the_view_lags() {
    let mut stack = TestStack::start().await;
    let repo = GitRepo::new(&[("count.sh", COUNT_SH)]);
    stack
        .submit(&queue("lag", &repo.url(), &[("count", "count.sh")]))
        .await;
    stack
        .wait_for("lag", Duration::from_secs(30), |v| {
            v["tasks"][0]["status"] == "Running"
        })
        .await;
    // The view stops at Running: `finished` is only in the events stream,
    // as when it lands between a stream's view read and its subscription.
    stack.kill_projector();
    wait_finished_in_stream(&stack, "lag").await;
    let events = read_sse(&stack, "lag", None, None).await;
    assert_eq!(task_lines(&events), expected(60));
    assert_eq!(events.last().unwrap().event, "end");

    // Resuming past what the log stream holds is the client's error (409),
    // and a resume at its last event ends at once.
    let last = events.iter().filter_map(|e| e.id).max().unwrap();
    let (status, body) = stack
        .get_with_header(
            "/api/queue/lag/log/stream",
            "Last-Event-ID",
            &(last + 1000).to_string(),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let rest = read_sse(&stack, "lag", Some(last), None).await;
    assert_eq!(
        rest.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["end"]
    );
}

#[tokio::test]
async fn stopping_the_gateway_ends_open_log_streams_at_once() {
    let mut stack = TestStack::start().await;
    let repo = GitRepo::new(&[("sleep.sh", "echo sleeping; sleep 30\n")]);
    stack
        .submit(&queue("held", &repo.url(), &[("s", "sleep.sh")]))
        .await;
    let mut response = stack
        .http
        .get(format!("{}/api/queue/held/log/stream", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.chunk().await.unwrap();
    // The follower belongs to the response and listens to the shutdown: the
    // gateway does not wait out its 5 s drain for an open stream.
    let took = stack.terminate_gateway();
    assert!(
        took < Duration::from_secs(3),
        "the gateway took {took:?} to stop"
    );
    let end = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(_)) = response.chunk().await {}
    })
    .await;
    assert!(
        end.is_ok(),
        "the stream stayed open after the gateway stopped"
    );
}
