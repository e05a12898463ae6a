//! Sharded queues on real workers: the tasks of one queue spread over
//! several slots, one view and one log; cancel stops every shard; a killed
//! shard's tasks finish on another worker.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::stack::{processes_with, queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(90);

/// `n` tasks, each running `script` (which gets the task's number).
pub(crate) fn sharded_queue(id: &str, repo: &GitRepo, n: usize, shards: u8) -> Value {
    let names: Vec<(String, String)> = (0..n)
        .map(|i| (format!("t{i:02}"), format!("t{i:02}.sh")))
        .collect();
    let tasks: Vec<(&str, &str)> = names
        .iter()
        .map(|(t, s)| (t.as_str(), s.as_str()))
        .collect();
    let mut body = queue(id, &repo.url(), &tasks);
    body["shards"] = json!(shards);
    body
}

/// A repo with `n` task scripts that each run `body` (`$0` is the script).
pub(crate) fn task_repo(n: usize, body: &str) -> GitRepo {
    let scripts: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("t{i:02}.sh"),
                format!("{body}\necho task {i} done\n"),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = scripts
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    GitRepo::new(&files)
}

async fn stack_with_workers(workers: usize, slots: &str) -> TestStack {
    TestStack::start_with(StackOptions {
        workers,
        worker_args: vec![
            "--concurrency".into(),
            slots.into(),
            "--heartbeat-ms".into(),
            "200".into(),
        ],
        ..Default::default()
    })
    .await
}

fn tasks_of(view: &Value) -> Vec<Value> {
    view["tasks"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_sharded_queue_runs_its_tasks_on_several_slots_with_one_view_and_one_log() {
    let stack = stack_with_workers(2, "2").await;
    let repo = task_repo(12, "sleep 0.3");
    let (status, body) = stack.submit(&sharded_queue("wide", &repo, 12, 4)).await;
    assert!(status == 201 || status == 202, "{status} {body}");

    let view = stack.wait_terminal("wide", T).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    assert_eq!(view["verdict"], "passed", "{view:#}");
    let tasks = tasks_of(&view);
    let ids: Vec<&str> = tasks.iter().filter_map(|t| t["id"].as_str()).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("t{i:02}")).collect();
    assert_eq!(ids, expected, "the view keeps the submitted order");
    assert!(tasks.iter().all(|t| t["result"] == "PASS"), "{view:#}");
    let shards_used: BTreeSet<u64> = tasks.iter().filter_map(|t| t["shard"].as_u64()).collect();
    let workers_used: BTreeSet<&str> = tasks.iter().filter_map(|t| t["worker"].as_str()).collect();
    assert!(
        shards_used.len() >= 2,
        "tasks ran on one shard only: {view:#}"
    );
    assert_eq!(workers_used.len(), 2, "both workers ran tasks: {view:#}");
    let shards = view["shards"].as_array().expect("shards in the view");
    assert_eq!(shards.len(), 4, "{view:#}");
    for shard in shards {
        assert_eq!(shard["status"], "finished", "{view:#}");
    }

    // One log, each line tagged with its shard.
    let log = stack.text("/api/queue/wide/log").await;
    for i in 0..12 {
        assert!(log.contains(&format!("task {i} done")), "{log}");
    }
    let tagged: BTreeSet<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("[s"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(tagged.len() >= 2, "lines of several shards: {log}");
    // Each task ran once: one `task_started` per task.
    let (_, events) = stack.get("/api/queue/wide/events").await;
    let events = events
        .as_array()
        .or_else(|| events["events"].as_array())
        .cloned()
        .unwrap_or_default();
    let starts = events
        .iter()
        .filter(|e| e["type"] == "task_started")
        .count();
    assert_eq!(starts, 12, "{events:#?}");
}

#[tokio::test]
async fn cancelling_a_sharded_queue_stops_every_shard() {
    let stack = stack_with_workers(2, "2").await;
    let marker = format!("shardcancel{}", std::process::id());
    let repo = task_repo(8, &format!("sleep 30 # {marker}"));
    stack.submit(&sharded_queue("stopme", &repo, 8, 4)).await;
    let deadline = Instant::now() + T;
    loop {
        let (_, view) = stack.get("/api/queue/stopme").await;
        let running = tasks_of(&view)
            .iter()
            .filter(|t| t["status"] == "Running")
            .count();
        if running >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "shards never ran: {view:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = stack
        .request(reqwest::Method::POST, "/api/queue/stopme/cancel", None)
        .await;
    assert!(status < 300, "{status}");
    let view = stack.wait_terminal("stopme", Duration::from_secs(20)).await;
    assert_eq!(view["status"], "Cancelled", "{view:#}");
    assert!(
        tasks_of(&view).iter().all(|t| t["result"] != "PASS"),
        "{view:#}"
    );
    // Every shard's task process is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            processes_with(&marker)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_shards_tasks_finish_on_another_worker() {
    let mut stack = stack_with_workers(3, "1").await;
    let repo = task_repo(6, "sleep 1");
    stack.submit(&sharded_queue("survive", &repo, 6, 2)).await;
    let deadline = Instant::now() + T;
    let victim = loop {
        let (_, view) = stack.get("/api/queue/survive").await;
        let running: Vec<&str> = view["shards"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter(|s| s["status"] == "running")
                    .filter_map(|s| s["worker"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let busy = tasks_of(&view).iter().any(|t| t["status"] == "Running");
        if running.len() == 2 && busy {
            break running[0].to_owned();
        }
        assert!(Instant::now() < deadline, "shards never ran: {view:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let index: usize = victim.trim_start_matches("worker-").parse().unwrap();
    stack.kill_worker(index);

    let view = stack.wait_terminal("survive", T).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    let tasks = tasks_of(&view);
    assert!(tasks.iter().all(|t| t["result"] == "PASS"), "{view:#}");
    let shards = view["shards"].as_array().unwrap();
    assert!(
        shards.iter().any(|s| s["attempt"] == 2),
        "the killed shard ran again: {view:#}"
    );
}
