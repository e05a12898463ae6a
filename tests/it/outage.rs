//! NATS going away mid-run: the stack's real nats-server is killed while a
//! queue runs and started again on the same port and store. A short outage
//! costs nothing; a long one hands the queue to a new attempt; SIGTERM
//! during one never hangs the worker.

use std::time::{Duration, Instant};

use crate::stack::{processes_with, queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(90);
/// Prints `line 1` … `line 80`, one every 50 ms.
const COUNT: &str = "for i in $(seq 1 80); do echo line $i; sleep 0.05; done\n";

fn stack_with(worker_args: &[&str]) -> StackOptions {
    StackOptions {
        worker_args: worker_args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }
}

/// Submits a queue of two counting tasks and waits until the first runs.
async fn start_counting(stack: &TestStack, id: &str) -> GitRepo {
    let repo = GitRepo::new(&[("count.sh", COUNT)]);
    let (status, body) = stack
        .submit(&queue(
            id,
            &repo.url(),
            &[("a", "count.sh"), ("b", "count.sh")],
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    stack
        .wait_for(id, T, |v| v["tasks"][0]["status"] == "Running")
        .await;
    repo
}

/// The queue's log once `done` holds for it (the log is projected on its own).
async fn log_when(stack: &TestStack, id: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "log incomplete:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How often each task's `line {n}` appears in `log`, for n in 1..=80.
fn line_counts(log: &str, task: &str) -> Vec<usize> {
    (1..=80)
        .map(|n| {
            let line = format!("[task:{task}] line {n}");
            log.lines().filter(|l| l.ends_with(&line)).count()
        })
        .collect()
}

#[tokio::test]
async fn a_nats_outage_shorter_than_ack_wait_loses_no_log_line_and_the_queue_finishes() {
    let mut stack = TestStack::start_with(stack_with(&["--ack-wait-s", "15"])).await;
    let _repo = start_counting(&stack, "blip").await;

    stack.nats.kill();
    tokio::time::sleep(Duration::from_secs(3)).await; // the outage
    stack.nats.restart().expect("nats-server starts again");

    let view = stack.wait_terminal("blip", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["attempt"], 1, "rode out the outage: {view}");
    assert_eq!(view["counts"]["pass"], 2, "{view}");
    let log = log_when(&stack, "blip", |log| log.matches("] line ").count() >= 160).await;
    for task in ["a", "b"] {
        assert_eq!(
            line_counts(&log, task),
            vec![1; 80],
            "every line of task {task} exactly once:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_nats_outage_longer_than_ack_wait_abandons_the_run_and_a_new_attempt_finishes_it() {
    let mut stack = TestStack::start_with(stack_with(&["--ack-wait-s", "3"])).await;
    let _repo = start_counting(&stack, "outage").await;

    stack.nats.kill();
    tokio::time::sleep(Duration::from_secs(10)).await; // the outage
    stack.nats.restart().expect("nats-server starts again");

    let view = stack.wait_terminal("outage", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(
        view["attempt"], 2,
        "the first attempt was abandoned: {view}"
    );
    assert_eq!(view["counts"]["pass"], 2, "{view}");
    // The new attempt says why it exists, and its log is whole.
    let marker = "attempt 2 on worker-0 (attempt 1 ended without settling the queue";
    let log = log_when(&stack, "outage", |log| {
        log.split_once(marker)
            .is_some_and(|(_, second)| second.matches("] line ").count() >= 160)
    })
    .await;
    let (_, second) = log.split_once(marker).unwrap();
    for task in ["a", "b"] {
        assert_eq!(line_counts(second, task), vec![1; 80], "{log}");
    }
    // The operator's log says what happened to the first attempt.
    let worker = stack.service_log("worker-0");
    assert!(
        worker.contains("run abandoned") && worker.contains("NATS unreachable"),
        "{worker}"
    );
}

#[tokio::test]
async fn sigterm_during_a_nats_outage_stops_the_worker_and_its_commands_promptly() {
    let mut stack = TestStack::start_with(stack_with(&[
        "--ack-wait-s",
        "60",
        "--shutdown-grace-s",
        "1",
    ]))
    .await;
    let repo = GitRepo::new(&[(
        "long.sh",
        "sh -c 'for i in $(seq 1 1200); do echo line $i; sleep 0.05; done' testarena-outage-marker\n",
    )]);
    stack
        .submit(&queue("sigterm", &repo.url(), &[("long", "long.sh")]))
        .await;
    stack
        .wait_for("sigterm", T, |v| v["tasks"][0]["status"] == "Running")
        .await;

    stack.nats.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let took = stack.terminate_worker_within(0, Duration::from_secs(30));
    let took = took.unwrap_or_else(|| {
        panic!(
            "the worker did not exit within 30s of SIGTERM; its log:\n{}",
            stack.service_log("worker-0")
        )
    });
    // Shutdown grace (1 s) + kill grace (1 s) + one publish timeout, far
    // below the publish bound (ack_wait, 60 s).
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        processes_with("testarena-outage-marker").is_empty(),
        "{:?}",
        processes_with("testarena-outage-marker")
    );
}
