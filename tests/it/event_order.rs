//! A run's events are written without waiting for each acknowledgement
//! (the worker's emitter.rs): they must still be stored in the order the
//! run emitted them, none missing, and an event JetStream does not store
//! must still stop the run — its running command too.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stack::{processes_with, queue, users_conf, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);

/// The run's events after `started`, each as `type` plus its stage or task.
fn run_events(events: &Value) -> Vec<String> {
    let events = events["events"].as_array().expect("events");
    events
        .iter()
        .skip_while(|e| e["type"] != "started")
        .skip(1)
        .map(|e| {
            let what = e["stage"].as_str().or(e["task_id"].as_str());
            match what {
                Some(what) => format!("{} {what}", e["type"].as_str().unwrap_or("?")),
                None => e["type"].as_str().unwrap_or("?").to_owned(),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_runs_events_are_stored_in_the_order_emitted_with_none_missing() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("ok.sh", "echo ok\n")]);
    let tasks: Vec<(String, &str)> = (1..=6).map(|i| (format!("t{i}"), "ok.sh")).collect();
    let tasks: Vec<(&str, &str)> = tasks.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    for round in 0..3 {
        let id = format!("order-{round}");
        let (status, body) = stack.submit(&queue(&id, &repo.url(), &tasks)).await;
        assert_eq!(status, 201, "{body}");
        let view = stack.wait_terminal(&id, T).await;
        assert_eq!(view["status"], "Finished", "{view}");
        let (_, events) = stack.get(&format!("/api/queue/{id}/events")).await;
        let mut expected: Vec<String> = [
            "stage_started checkout",
            "stage_finished checkout",
            "stage_started build",
            "stage_finished build",
        ]
        .map(String::from)
        .to_vec();
        for (task, _) in &tasks {
            expected.push(format!("task_started {task}"));
            expected.push(format!("task_finished {task}"));
        }
        expected.extend(
            [
                "stage_started teardown",
                "stage_finished teardown",
                "finished",
            ]
            .map(String::from),
        );
        assert_eq!(run_events(&events), expected, "{events}");
    }
}

/// The users of deploy/nats/users.conf, the worker refused the
/// `task_started` events of queue `refused`.
fn users_refusing_task_started() -> String {
    let worker = "user: worker";
    let conf = users_conf();
    let at = conf.find(worker).expect("a worker user");
    let allow = "allow: [";
    let publish = at + conf[at..].find(allow).expect("its publish allow-list");
    format!(
        "{}deny: [\"arena.events.refused.task_started\"]\n          {}",
        &conf[..publish],
        &conf[publish..]
    )
}

#[tokio::test]
async fn a_run_whose_task_started_is_not_stored_stops_its_running_task() {
    let stack = TestStack::start_with(StackOptions {
        role_users: true,
        users_conf: Some(users_refusing_task_started()),
        // One attempt: a redelivery would start the task again.
        worker_args: ["--ack-wait-s", "3", "--max-attempts", "1"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    })
    .await;
    let marker = format!("refused-marker-{}", std::process::id());
    let script = format!("sh -c 'sleep 120' {marker}\n");
    let repo = GitRepo::new(&[("long.sh", script.as_str())]);
    let (status, body) = stack
        .submit(&queue("refused", &repo.url(), &[("long", "long.sh")]))
        .await;
    assert_eq!(status, 201, "{body}");

    // The task starts without waiting for its `task_started` to be stored.
    let started = Instant::now() + Duration::from_secs(20);
    while processes_with(&marker).is_empty() {
        assert!(Instant::now() < started, "the task never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The event is refused (a permissions violation: no acknowledgement
    // ever comes); within the first ack timeout plus `ack_wait` the run
    // gives up and stops what it started, long before the task's 120 s.
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut stopped = false;
    while Instant::now() < deadline {
        let log = stack.service_log("worker-0");
        if log.contains("an event could not be stored; stopping the run")
            || log.contains("run abandoned")
        {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        stopped,
        "the run did not stop:\n{}",
        stack.service_log("worker-0")
    );
    let gone = Instant::now() + Duration::from_secs(10);
    while !processes_with(&marker).is_empty() && Instant::now() < gone {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        processes_with(&marker),
        Vec::<String>::new(),
        "the task outlived its run"
    );
    let (_, view) = stack.get("/api/queue/refused").await;
    assert_ne!(view["status"], "Finished", "{view}");
}
