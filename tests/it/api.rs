//! The HTTP API as a user meets it: submit, retry, validation, reads, delete.

use std::time::Duration;

use serde_json::json;

use crate::stack::{processes_with, queue, GitRepo, TestStack};

const T: Duration = Duration::from_secs(30);

fn repo() -> GitRepo {
    GitRepo::new(&[
        ("pass.sh", "echo all good; exit 0\n"),
        ("fail.sh", "echo broken >&2; exit 7\n"),
        (
            "slow.sh",
            "echo starting; sh -c 'sleep 30; true' testarena-slow-marker\n",
        ),
    ])
}

#[tokio::test]
async fn a_submitted_queue_runs_to_finished_with_results_log_and_folder() {
    let stack = TestStack::start().await;
    let repo = repo();
    let (status, view) = stack
        .submit(&queue(
            "fw-1",
            &repo.url(),
            &[("ok", "pass.sh"), ("bad", "fail.sh")],
        ))
        .await;
    assert_eq!(status, 201, "{view}");
    // The gateway waited for the projector: the view is there at once.
    assert_eq!(view["id"], "fw-1");
    assert!(
        matches!(view["status"].as_str(), Some("Waiting" | "Running")),
        "{view}"
    );

    let view = stack.wait_terminal("fw-1", T).await;
    assert_eq!(view["status"], "Finished");
    assert_eq!(view["attempt"], 1);
    assert_eq!(view["commit"].as_str().unwrap().len(), 40);
    assert_eq!(view["tasks"][0]["result"], "PASS");
    assert_eq!(view["tasks"][1]["result"], "FAIL");
    assert_eq!(view["tasks"][1]["exit_code"], 7);
    assert_eq!(
        (
            view["counts"]["pass"].as_u64(),
            view["counts"]["fail"].as_u64()
        ),
        (Some(1), Some(1))
    );

    let log = stack.text("/api/queue/fw-1/log").await;
    assert!(log.contains("[task:ok] all good"), "{log}");
    assert!(log.contains("[task:bad!] broken"), "{log}");
    // From an offset: the rest of the file.
    let tail = stack.text("/api/queue/fw-1/log?offset=10").await;
    assert_eq!(tail, log[10..]);

    let folder = stack.data_dir().join("queues/fw-1");
    let status_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("queue_status.json")).unwrap()).unwrap();
    assert_eq!(status_file["status"], "Finished");
    assert_eq!(
        std::fs::read_to_string(folder.join("queue_log.txt")).unwrap(),
        log
    );

    let (status, events) = stack.get("/api/queue/fw-1/events").await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"submitted"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert!(kinds.contains(&"task_finished"));

    let (status, page) = stack.get("/api/queues?status=Finished").await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 1);
    let (_, page) = stack.get("/api/queues?status=Running").await;
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn identical_retry_returns_the_same_queue_and_another_body_conflicts() {
    let stack = TestStack::start_with(crate::stack::StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let body = queue("same", "/nowhere", &[("a", "pass.sh")]);
    let (first, view) = stack.submit(&body).await;
    assert_eq!(first, 201, "{view}");
    let (again, view2) = stack.submit(&body).await;
    assert_eq!(again, 200, "{view2}");
    assert_eq!(view2["id"], "same");
    assert_eq!(view2["submitted_at"], view["submitted_at"]);

    let other = queue("same", "/nowhere", &[("b", "pass.sh")]);
    let (status, error) = stack.submit(&other).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"], "conflict");

    let (_, page) = stack.get("/api/queues").await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn bad_input_is_rejected_with_the_field_named() {
    let stack = TestStack::start_with(crate::stack::StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let cases = [
        (
            json!({"id": "a.b", "source": {"repo": "r", "ref": "main"}, "tasks": [{"id": "t", "scenario": "s"}]}),
            422,
            "id:",
        ),
        (
            json!({"source": {"repo": "r", "ref": "-x"}, "tasks": [{"id": "t", "scenario": "s"}]}),
            422,
            "source.ref:",
        ),
        (
            json!({"source": {"repo": "", "ref": "main"}, "tasks": [{"id": "t", "scenario": "s"}]}),
            422,
            "source.repo:",
        ),
        (
            json!({"source": {"repo": "r", "ref": "main"}, "tasks": []}),
            422,
            "tasks:",
        ),
        (
            json!({"source": {"repo": "r", "ref": "main"}, "tasks": [{"id": "t", "scenario": "../etc/passwd"}]}),
            422,
            "tasks[0].scenario:",
        ),
        (
            json!({"source": {"repo": "r", "ref": "main"}, "tasks": [{"id": "t", "scenario": "/abs"}]}),
            422,
            "tasks[0].scenario:",
        ),
        (
            json!({"source": {"repo": "r", "ref": "main"}, "tasks": [{"id": "t", "scenario": "a"}, {"id": "t", "scenario": "b"}]}),
            422,
            "tasks[1].id:",
        ),
        (
            json!({"source": {"repo": "r", "ref": "main"}, "tasks": [{"id": "t", "scenario": "a", "timeout_s": "ten"}]}),
            400,
            "tasks[0].timeout_s:",
        ),
        (
            json!({"source": {"repo": "r"}, "tasks": [{"id": "t", "scenario": "a"}]}),
            400,
            "source:",
        ),
        (
            json!({"source": {"repo": "r", "ref": "main"}, "tasks": [{"id": "t", "scenario": "a"}], "colour": 1}),
            400,
            "colour",
        ),
    ];
    for (body, code, field) in cases {
        let (status, error) = stack.submit(&body).await;
        assert_eq!(status, code, "{body} → {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(field),
            "{body}: message {message:?} should name {field}"
        );
        assert!(error["error"].is_string());
    }
    let tasks: Vec<_> = (0..501)
        .map(|i| json!({"id": format!("t{i}"), "scenario": "a"}))
        .collect();
    let (status, error) = stack
        .submit(&json!({"source": {"repo": "r", "ref": "main"}, "tasks": tasks}))
        .await;
    assert_eq!(status, 422, "{error}");

    let response = stack
        .http
        .post(format!("{}/api/queue", stack.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 << 20));
    let response = stack
        .http
        .post(format!("{}/api/queue", stack.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let (_, page) = stack.get("/api/queues").await;
    assert_eq!(page["total"], 0, "nothing was created by bad input");
}

#[tokio::test]
async fn unknown_ids_are_404_on_every_route() {
    let stack = TestStack::start_with(crate::stack::StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    for path in [
        "/api/queue/nope",
        "/api/queue/nope/events",
        "/api/queue/nope/log",
        "/api/queue/bad.id",
    ] {
        let (status, body) = stack.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"], "not_found");
    }
    let (status, _) = stack
        .request(reqwest::Method::DELETE, "/api/delete/nope", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .request(reqwest::Method::POST, "/api/queue/nope/cancel", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn delete_removes_a_finished_queue_its_folder_and_its_logs() {
    let stack = TestStack::start().await;
    let repo = repo();
    stack
        .submit(&queue("gone", &repo.url(), &[("ok", "pass.sh")]))
        .await;
    stack.wait_terminal("gone", T).await;
    let folder = stack.data_dir().join("queues/gone");
    assert!(folder.join("queue_log.txt").exists());

    let (status, body) = stack
        .request(reqwest::Method::DELETE, "/api/delete/gone", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = stack.get("/api/queue/gone").await;
    assert_eq!(status, 404);
    assert!(!folder.exists(), "the queue folder is removed");

    let js = async_nats::jetstream::new(stack.nats_client().await);
    let logs = js.get_stream("ARENA_LOGS").await.unwrap();
    assert!(
        logs.direct_get_last_for_subject("arena.logs.gone")
            .await
            .is_err(),
        "the queue's log batches are purged from the log stream"
    );

    // Ids are not reused: the history still holds the queue.
    let (status, _) = stack
        .submit(&queue("gone", &repo.url(), &[("ok", "pass.sh")]))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn deleting_or_cancelling_a_running_queue_stops_its_processes() {
    let stack = TestStack::start().await;
    let repo = repo();
    for (id, how) in [("del", "delete"), ("can", "cancel")] {
        stack
            .submit(&queue(
                id,
                &repo.url(),
                &[("slow", "slow.sh"), ("after", "pass.sh")],
            ))
            .await;
        stack
            .wait_for(id, T, |v| v["tasks"][0]["status"] == "Running")
            .await;
        // The task's process is really there...
        let deadline = std::time::Instant::now() + T;
        while processes_with("testarena-slow-marker").is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the slow task never showed up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if how == "delete" {
            let (status, body) = stack
                .request(reqwest::Method::DELETE, &format!("/api/queue/{id}"), None)
                .await;
            assert_eq!(status, 200, "{body}");
            let (status, _) = stack.get(&format!("/api/queue/{id}")).await;
            assert_eq!(status, 404);
        } else {
            let (status, body) = stack
                .request(
                    reqwest::Method::POST,
                    &format!("/api/queue/{id}/cancel"),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let view = stack.wait_terminal(id, T).await;
            assert_eq!(view["status"], "Cancelled");
            assert_eq!(view["tasks"][0]["status"], "Cancelled");
            assert_eq!(view["tasks"][1]["status"], "Cancelled");
            let (status, _) = stack
                .request(
                    reqwest::Method::POST,
                    &format!("/api/queue/{id}/cancel"),
                    None,
                )
                .await;
            assert_eq!(status, 409, "cancelling an ended queue conflicts");
            // The log says why it ends there, as its last line.
            let deadline = std::time::Instant::now() + T;
            loop {
                let log = stack.text(&format!("/api/queue/{id}/log")).await;
                if log.ends_with("[worker] queue cancelled by a user\n") {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{log}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // ...and gone soon after, with no orphan left.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !processes_with("testarena-slow-marker").is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "orphans: {:?}",
                processes_with("testarena-slow-marker")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_waiting_queue_cancels_at_once() {
    let stack = TestStack::start_with(crate::stack::StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    stack
        .submit(&queue("idle", "/nowhere", &[("a", "pass.sh")]))
        .await;
    let (status, view) = stack
        .request(reqwest::Method::POST, "/api/queue/idle/cancel", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "Cancelled");
    assert_eq!(view["tasks"][0]["status"], "Cancelled");
    assert_eq!(
        view["reason"],
        "cancelled by a user while it was waiting, before any worker started it"
    );
}

#[tokio::test]
async fn with_nats_down_writes_fail_fast_with_503() {
    let mut stack = TestStack::start_with(crate::stack::StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    stack.nats.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let (status, body) = stack.submit(&queue("x", "/r", &[("a", "b")])).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let (status, _) = stack.get("/readyz").await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn the_openapi_document_swagger_ui_and_probes_are_served() {
    let stack = TestStack::start_with(crate::stack::StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let (status, spec) = stack.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/api/queue",
        "/api/queues",
        "/api/queue/{id}",
        "/api/queue/{id}/log",
        "/api/delete/{id}",
        "/api/queue/{id}/cancel",
    ] {
        assert!(spec["paths"].get(path).is_some(), "spec lacks {path}");
    }
    assert!(spec["paths"]["/api/queue"]["post"]["responses"]
        .get("409")
        .is_some());
    // The most used route: both its methods survive in the served document.
    for method in ["get", "delete"] {
        assert!(
            spec["paths"]["/api/queue/{id}"].get(method).is_some(),
            "{method} /api/queue/{{id}} is missing"
        );
    }
    for status in ["403", "415"] {
        assert!(spec["paths"]["/api/queue"]["post"]["responses"]
            .get(status)
            .is_some());
    }
    let docs = stack.text("/docs").await;
    assert!(docs.to_lowercase().contains("swagger"), "{docs}");
    // Swagger shows the served document, with the example queue to try.
    let example_repo = stack.data_dir().join("example-repo");
    let at = docs
        .find("example-repo")
        .map(|i| docs[i.saturating_sub(120)..i + 20].to_owned());
    assert!(
        docs.contains(&*example_repo.to_string_lossy()),
        "no example in /docs: {at:?}"
    );
    assert_eq!(stack.text("/healthz").await, "ok");
    let (status, _) = stack.get("/readyz").await;
    assert_eq!(status, 200);
}
