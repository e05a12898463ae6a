//! The broker dies under load: twenty queues of numbered lines run while
//! the one nats-server is killed (-9) and started again on its store, or
//! while a random node of a 3-node cluster is killed every 10 s. Nothing is
//! lost or doubled: every queue finishes, every line is in its log once,
//! and the views equal a rebuild from the streams.

use std::time::{Duration, Instant};

use crate::projection::snapshot;
use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(180);
const LINES: usize = 40;
/// Prints `n 1` … `n 40`, one every 50 ms.
const NUMBERED: &str = "for i in $(seq 1 40); do echo n $i; sleep 0.05; done\n";

/// Two workers of five slots each; a heartbeat deadline past the outages.
fn loaded_stack(nats_url: Option<String>, service_args: &[&str]) -> StackOptions {
    StackOptions {
        workers: 2,
        worker_args: ["--concurrency", "5", "--ack-wait-s", "30"]
            .map(str::to_owned)
            .to_vec(),
        nats_url,
        service_args: service_args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }
}

/// Submits queue `id` (two tasks of numbered lines), again and again while
/// the gateway cannot reach NATS (503); an identical retry is the same queue.
async fn submit(stack: &TestStack, repo: &GitRepo, id: &str) {
    let body = queue(id, &repo.url(), &[("a", "n.sh"), ("b", "n.sh")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, answer) = stack.submit(&body).await;
        if (200..=202).contains(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "{id}: {status} {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every queue `Finished` with both tasks passed, and each line of the
/// attempt shown once in its log; the queues that ran again (attempt 2+)
/// and their attempt.
async fn all_finished_with_every_line_once(
    stack: &TestStack,
    ids: &[String],
) -> Vec<(String, u64)> {
    let mut again = Vec::new();
    for id in ids {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished", "{view}");
        assert_eq!(view["counts"]["pass"], 2, "{view}");
        let attempt = view["attempt"].as_u64().unwrap_or(0);
        if attempt > 1 {
            again.push((id.clone(), attempt));
        }
        let log = whole_log(stack, id, attempt).await;
        for task in ["a", "b"] {
            for n in 1..=LINES {
                let line = format!("[task:{task}] n {n}");
                let count = log.lines().filter(|l| l.ends_with(&line)).count();
                assert_eq!(count, 1, "{id}: `{line}` once:\n{log}");
            }
        }
    }
    again
}

/// The log of the queue's attempt shown, once it holds every line: all of
/// it for attempt 1, what follows the line that starts a later attempt.
async fn whole_log(stack: &TestStack, id: &str, attempt: u64) -> String {
    let marker = format!("] attempt {attempt} on ");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        let shown = match attempt {
            0 | 1 => Some(log.as_str()),
            _ => log.rsplit_once(&marker).map(|(_, after)| after),
        };
        if let Some(shown) = shown.filter(|s| s.matches("] n ").count() >= 2 * LINES) {
            return shown.to_owned();
        }
        assert!(Instant::now() < deadline, "{id}: log incomplete:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many `dispatched` events queue `id` has: more than one when the
/// scheduler gave it again (its worker counted gone), one when any later
/// attempt came from JetStream delivering that one dispatch again.
async fn dispatches(stack: &TestStack, id: &str) -> usize {
    let (_, events) = stack.get(&format!("/api/queue/{id}/events")).await;
    let events = events["events"].as_array().cloned().unwrap_or_default();
    events.iter().filter(|e| e["type"] == "dispatched").count()
}

/// The views and queue folders equal a rebuild from the streams.
fn views_equal_a_rebuild(stack: &mut TestStack, queues: usize) {
    stack.stop_gateway_side();
    let live = snapshot(&stack.data_dir());
    let rebuilt = snapshot(&stack.rebuild_into("rebuilt"));
    assert_eq!(live.len(), queues);
    for (live, rebuilt) in live.iter().zip(&rebuilt) {
        assert_eq!(live, rebuilt, "{} differs from a rebuild", live.0);
    }
}

async fn running(stack: &TestStack) -> usize {
    let (_, page) = stack.get("/api/queues").await;
    page["queues"]
        .as_array()
        .map(|q| q.iter().filter(|v| v["status"] == "Running").count())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_killed_and_restarted_nats_server_loses_no_queue_and_no_line_of_twenty() {
    let mut stack = TestStack::start_with(loaded_stack(None, &[])).await;
    let repo = GitRepo::new(&[("n.sh", NUMBERED)]);
    let ids: Vec<String> = (0..20).map(|i| format!("q{i:02}")).collect();
    for id in &ids {
        submit(&stack, &repo, id).await;
    }
    let deadline = Instant::now() + T;
    while running(&stack).await < 8 {
        assert!(Instant::now() < deadline, "the queues never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    stack.nats.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.nats.restart().expect("nats-server starts again");

    let again = all_finished_with_every_line_once(&stack, &ids).await;
    assert!(again.is_empty(), "no queue had to start again: {again:?}");
    // Every service reconnected by itself: a new queue goes all the way.
    submit(&stack, &repo, "after").await;
    let view = stack.wait_terminal("after", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    views_equal_a_rebuild(&mut stack, ids.len() + 1);
}

/// `TESTARENA_CHAOS_S` (default 30; the full run is 120): how long
/// a random node is killed every 10 s.
fn chaos_duration() -> Duration {
    let seconds = std::env::var("TESTARENA_CHAOS_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(seconds)
}

/// A small xorshift, seeded from the clock and printed, so a failing
/// order of kills can be told.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test]
async fn a_cluster_losing_a_random_node_every_ten_seconds_loses_no_queue_and_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = testarena::nats_server::NatsCluster::start(dir.path(), 3).unwrap();
    let mut stack =
        TestStack::start_with(loaded_stack(Some(cluster.urls()), &["--replicas", "3"])).await;
    let repo = GitRepo::new(&[("n.sh", NUMBERED)]);
    let chaos = chaos_duration();
    // Twenty queues per 30 s of chaos, submitted as it goes.
    let total = (20 * chaos.as_secs() / 30).max(20) as usize;
    let ids: Vec<String> = (0..total).map(|i| format!("c{i:03}")).collect();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("chaos for {chaos:?}, {total} queues, seed {seed}");
    let started = Instant::now();
    let mut submitted = 0;
    let mut next_kill = started + Duration::from_secs(2);
    while started.elapsed() < chaos {
        let due = (total as f64 * started.elapsed().as_secs_f64() / chaos.as_secs_f64()) as usize;
        while submitted < due.min(total) {
            submit(&stack, &repo, &ids[submitted]).await;
            submitted += 1;
        }
        if Instant::now() >= next_kill {
            let node = (next_random(&mut seed) % 3) as usize;
            eprintln!("{:?}: kill -9 node n{node}", started.elapsed());
            cluster.nodes[node].kill();
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.nodes[node]
                .restart()
                .expect("the node starts again");
            next_kill += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &ids[submitted..] {
        submit(&stack, &repo, id).await;
    }
    // JetStream may deliver a running queue again to its worker when its
    // consumer's leader moves (docs/operations.md, "Faults and what each
    // costs"): the worker keeps the run it has, so no dispatch runs twice.
    let again = all_finished_with_every_line_once(&stack, &ids).await;
    let kept: usize = (0..2)
        .map(|n| stack.service_log(&format!("worker-{n}")))
        .map(|log| log.matches("kept that run").count())
        .sum();
    eprintln!("deliveries again of a running queue, kept: {kept}");
    let mut redelivered = Vec::new();
    for (id, attempt) in &again {
        let given = dispatches(&stack, id).await;
        assert!(given >= 1, "{id}: its dispatch is among its events");
        eprintln!("{id} ran again as attempt {attempt}, dispatched {given} times");
        if given == 1 {
            redelivered.push(id);
        }
    }
    assert!(
        redelivered.is_empty(),
        "ran again on a redelivery of their one dispatch: {redelivered:?}"
    );
    // Nor did the scheduler take a running queue back: a registry that
    // shows nothing newer from anyone while the bucket's leader is elected
    // makes no worker gone (plan.rs, `registry_moved_on_from`).
    assert!(again.is_empty(), "queues that ran again: {again:?}");
    views_equal_a_rebuild(&mut stack, ids.len());
}
