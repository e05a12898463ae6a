//! Live logs: SSE replay-then-live with no gap or duplicate, resume with
//! Last-Event-ID, and a plain NATS subscriber (the nats-py example).

use std::time::Duration;

use serde_json::Value;

use crate::stack::{queue, GitRepo, TestStack};

/// One parsed SSE event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: Value,
}

/// Reads SSE events until `end` (or `max_logs` log events), in order.
async fn read_sse(
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
        .arg("--nats")
        .arg(stack.nats.url())
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
    assert!(stdout.trim_end().ends_with("== pyq: Finished"), "{stdout}");
}
