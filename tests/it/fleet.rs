//! The fleet, with real workers of different profiles and labels on one
//! nats-server: routing by capability, the registry, waiting for a worker
//! that left, priority and fair share, drain.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);
const HEARTBEAT: &[&str] = &["--heartbeat-ms", "200"];

/// A worker with the `sh` profile, one profile of its own and a board.
fn board_worker(board: &str) -> String {
    format!(
        "default_profile = \"sh\"\nlabels = [\"board={board}\"]\n\
         [profiles.sh]\ntask = \"sh {{scenario}}\"\n\
         [profiles.only-{board}]\ntask = \"sh {{scenario}}\"\n"
    )
}

async fn stack_without_workers() -> TestStack {
    TestStack::start_with(StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await
}

async fn wait_workers(stack: &TestStack, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + T;
    loop {
        let (status, page) = stack.get("/api/workers").await;
        assert_eq!(status, 200, "{page}");
        let workers = page["workers"].as_array().cloned().unwrap_or_default();
        if done(&workers) {
            return workers;
        }
        assert!(
            Instant::now() < deadline,
            "workers never got there: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mixed_queue(n: usize, repo: &str) -> (Value, &'static str) {
    let mut body = queue(&format!("mix-{n}"), repo, &[("t", "t.sh")]);
    let expected = match n % 5 {
        0 => {
            body["profile"] = json!("only-a");
            "worker-0"
        }
        1 => {
            body["profile"] = json!("only-b");
            "worker-1"
        }
        2 => {
            body["requires"] = json!(["board=a"]);
            "worker-0"
        }
        3 => {
            body["profile"] = json!("sh");
            body["requires"] = json!(["board=b"]);
            "worker-1"
        }
        _ => "either",
    };
    (body, expected)
}

#[tokio::test]
async fn each_queue_runs_on_a_worker_that_has_what_it_asks_and_the_registry_shows_them() {
    let mut stack = stack_without_workers().await;
    let mut args = HEARTBEAT.to_vec();
    args.extend(["--concurrency", "2"]);
    stack.add_worker_with(&board_worker("a"), &args);
    stack.add_worker_with(&board_worker("b"), &args);
    let workers = wait_workers(&stack, |w| w.len() == 2).await;
    assert_eq!(workers[0]["id"], "worker-0");
    assert_eq!(workers[0]["labels"], json!(["board=a"]));
    assert_eq!(workers[0]["profiles"], json!(["only-a", "sh"]));
    assert_eq!(workers[0]["slots"], 2);
    assert_eq!(workers[1]["state"]["only-b"]["state"], "ready");

    let repo = GitRepo::new(&[("t.sh", "echo ok\n")]);
    let mut expected = Vec::new();
    for n in 0..50 {
        let (body, worker) = mixed_queue(n, &repo.url());
        let (status, answer) = stack.submit(&body).await;
        assert!(status == 201 || status == 202, "{status} {answer}");
        expected.push((format!("mix-{n}"), worker));
    }
    for (id, worker) in &expected {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished", "{view}");
        assert_eq!(view["verdict"], "passed", "{view}");
        if *worker != "either" {
            assert_eq!(view["worker"], *worker, "{view}");
        }
    }

    // Nobody has board=c: refused, naming what is missing and what exists.
    let mut body = queue("nowhere", &repo.url(), &[("t", "t.sh")]);
    body["requires"] = json!(["board=c"]);
    let (status, answer) = stack.submit(&body).await;
    assert_eq!(status, 422, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("requires: no worker seen in the last 24 h has a default profile and board=c; workers offer: profile only-a with board=a;"), "{message}");
}

#[tokio::test]
async fn a_queue_only_a_stopped_worker_can_run_waits_and_starts_when_it_returns() {
    let mut stack = stack_without_workers().await;
    stack.add_worker_with(&board_worker("a"), HEARTBEAT);
    stack.add_worker_with(&board_worker("b"), HEARTBEAT);
    wait_workers(&stack, |w| w.len() == 2).await;

    // Killed: offline within three heartbeats, with no time it left.
    stack.kill_worker(1);
    let killed_at = Instant::now();
    let workers = wait_workers(&stack, |w| w[1]["presence"] == "offline").await;
    assert!(killed_at.elapsed() < Duration::from_secs(5));
    assert_eq!(workers[0]["presence"], "live");
    assert!(workers[1]["left"].is_null(), "{}", workers[1]);

    // Remembered for 24 h, so accepted; it waits, saying why.
    let repo = GitRepo::new(&[("t.sh", "echo ok\n")]);
    let mut body = queue("for-b", &repo.url(), &[("t", "t.sh")]);
    body["profile"] = json!("only-b");
    let (status, answer) = stack.submit(&body).await;
    assert!(status == 201 || status == 202, "{status} {answer}");
    let view = stack
        .wait_for("for-b", T, |v| v["waiting_reason"].is_string())
        .await;
    assert_eq!(view["status"], "Waiting");
    assert_eq!(view["position"], 1);
    assert_eq!(
        view["waiting_reason"],
        "waiting for a worker with profile only-b"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, view) = stack.get("/api/queue/for-b").await;
    assert_eq!(view["status"], "Waiting", "{view}");

    stack.restart_worker(1);
    let view = stack.wait_terminal("for-b", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["worker"], "worker-1");
}

#[tokio::test]
async fn high_starts_first_and_owners_take_turns() {
    let mut stack = stack_without_workers().await;
    let gate = tempfile::tempdir().unwrap();
    let open = gate.path().join("open");
    let repo = GitRepo::new(&[
        ("t.sh", "echo ok\n"),
        (
            "hold.sh",
            &format!("while [ ! -f {} ]; do sleep 0.05; done\n", open.display()),
        ),
    ]);
    stack.add_worker_with(&board_worker("a"), HEARTBEAT);
    wait_workers(&stack, |w| w.len() == 1).await;
    // One slot, held until everything below is waiting.
    stack
        .submit(&queue("hold", &repo.url(), &[("h", "hold.sh")]))
        .await;
    stack
        .wait_for("hold", T, |v| v["status"] == "Running")
        .await;

    let submit = |id: String, priority: &str, owner: &str| {
        let mut body = queue(&id, &repo.url(), &[("t", "t.sh")]);
        body["priority"] = json!(priority);
        body["owner"] = json!(owner);
        body
    };
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push((
            format!("low-{n}"),
            submit(format!("low-{n}"), "low", "team-a"),
        ));
    }
    for n in 0..20 {
        ids.push((
            format!("a-{n}"),
            submit(format!("a-{n}"), "normal", "team-a"),
        ));
    }
    ids.push(("b-0".into(), submit("b-0".into(), "normal", "team-b")));
    ids.push(("urgent".into(), submit("urgent".into(), "high", "team-c")));
    for (_, body) in &ids {
        let (status, answer) = stack.submit(body).await;
        assert!(status == 201 || status == 202, "{status} {answer}");
    }
    let (_, urgent) = stack.get("/api/queue/urgent").await;
    assert_eq!(urgent["position"], 1, "{urgent}");
    assert_eq!(urgent["priority"], "high");
    // Owners take turns: team-a's oldest, then team-b's only one.
    let (_, b) = stack.get("/api/queue/b-0").await;
    assert_eq!(b["position"], 3, "after urgent and team-a's oldest: {b}");
    assert_eq!(b["owner"], "team-b");

    std::fs::write(&open, "").unwrap();
    let mut started: Vec<(String, String)> = Vec::new();
    for (id, _) in &ids {
        let view = stack.wait_terminal(id, T).await;
        started.push((view["started_at"].as_str().unwrap().to_owned(), id.clone()));
    }
    started.sort();
    let order: Vec<&str> = started.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(order[0], "urgent", "{order:?}");
    assert!(
        order[1..3].contains(&"b-0"),
        "team-b waits behind at most one of team-a's: {order:?}"
    );
    assert!(
        order[order.len() - 5..]
            .iter()
            .all(|id| id.starts_with("low-")),
        "{order:?}"
    );
}

#[tokio::test]
async fn a_drained_worker_finishes_what_it_runs_and_takes_nothing_new() {
    let mut stack = stack_without_workers().await;
    let repo = GitRepo::new(&[("t.sh", "echo ok\n"), ("slow.sh", "sleep 1\n")]);
    stack.add_worker_with(&board_worker("a"), HEARTBEAT);
    wait_workers(&stack, |w| w.len() == 1).await;
    stack
        .submit(&queue("running", &repo.url(), &[("s", "slow.sh")]))
        .await;
    stack
        .wait_for("running", T, |v| v["status"] == "Running")
        .await;

    let (status, answer) = stack
        .request(reqwest::Method::POST, "/api/workers/worker-0/drain", None)
        .await;
    assert_eq!(status, 200, "{answer}");
    wait_workers(&stack, |w| w[0]["state"]["sh"]["state"] == "draining").await;
    stack
        .submit(&queue("later", &repo.url(), &[("t", "t.sh")]))
        .await;
    let running = stack.wait_terminal("running", T).await;
    assert_eq!(running["status"], "Finished");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, later) = stack.get("/api/queue/later").await;
    assert_eq!(later["status"], "Waiting", "{later}");
    assert_eq!(
        later["waiting_reason"],
        "waiting: every worker with a default profile is draining or has it quarantined"
    );

    let (status, answer) = stack
        .request(reqwest::Method::POST, "/api/workers/nobody/drain", None)
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = stack
        .request(
            reqwest::Method::POST,
            "/api/workers/worker-0/readmit?profile=sh",
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let later = stack.wait_terminal("later", T).await;
    assert_eq!(later["status"], "Finished", "{later}");
}

#[tokio::test]
async fn a_target_that_keeps_failing_to_boot_is_quarantined_and_readmitted_by_its_health_command() {
    let mut stack = stack_without_workers().await;
    let lab = tempfile::tempdir().unwrap();
    let fixed = lab.path().join("fixed");
    let config = format!(
        "default_profile = \"board\"\n[profiles.board]\n\
         boot = \"test -f {fixed} && echo READY && sleep 30\"\n\
         boot_ready = {{ log_regex = \"^READY$\" }}\nboot_ready_timeout_s = 5\n\
         task = \"sh {{scenario}}\"\nquarantine_after = 3\nboot_retries = 1\n\
         health = \"test -f {fixed}\"\nhealth_interval_s = 1\n",
        fixed = fixed.display()
    );
    stack.add_worker_with(&config, HEARTBEAT);
    wait_workers(&stack, |w| w.len() == 1).await;
    let repo = GitRepo::new(&[("t.sh", "echo ok\n")]);
    for n in 0..3 {
        let id = format!("broken-{n}");
        stack
            .submit(&queue(&id, &repo.url(), &[("t", "t.sh")]))
            .await;
        let view = stack.wait_terminal(&id, T).await;
        assert_eq!(view["status"], "Error", "{view}");
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        assert!(
            log.contains("booting again on this worker (try 2 of 2)"),
            "{log}"
        );
    }
    let workers = wait_workers(&stack, |w| w[0]["state"]["board"]["state"] == "quarantined").await;
    let reason = workers[0]["state"]["board"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("3 boots in a row failed; the last: boot process ended"),
        "{reason}"
    );

    // Quarantined: the next queue waits, saying why, and the health
    // command takes the profile back once the target works.
    stack
        .submit(&queue("after", &repo.url(), &[("t", "t.sh")]))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, view) = stack.get("/api/queue/after").await;
    assert_eq!(view["status"], "Waiting", "{view}");
    assert!(
        view["waiting_reason"]
            .as_str()
            .unwrap()
            .contains("quarantined"),
        "{view}"
    );
    std::fs::write(&fixed, "").unwrap();
    let view = stack.wait_terminal("after", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    wait_workers(&stack, |w| w[0]["state"]["board"]["state"] == "ready").await;
}

#[tokio::test]
async fn a_boot_that_fails_once_is_retried_on_the_same_worker_and_says_so() {
    let mut stack = stack_without_workers().await;
    let lab = tempfile::tempdir().unwrap();
    let tried = lab.path().join("tried");
    let config = format!(
        "default_profile = \"board\"\n[profiles.board]\n\
         boot = \"if [ -f {tried} ]; then echo READY; sleep 30; else touch {tried}; exit 3; fi\"\n\
         boot_ready = {{ log_regex = \"^READY$\" }}\nboot_ready_timeout_s = 5\n\
         task = \"sh {{scenario}}\"\n",
        tried = tried.display()
    );
    stack.add_worker_with(&config, HEARTBEAT);
    wait_workers(&stack, |w| w.len() == 1).await;
    let repo = GitRepo::new(&[("t.sh", "echo ok\n")]);
    stack
        .submit(&queue("flaky-boot", &repo.url(), &[("t", "t.sh")]))
        .await;
    let view = stack.wait_terminal("flaky-boot", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    let boot = view["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "boot")
        .unwrap();
    assert_eq!(boot["status"], "ok");
    assert!(
        boot["message"]
            .as_str()
            .unwrap()
            .starts_with("ready after 1 failed boot(s): boot process ended"),
        "{boot}"
    );
    let (_, workers) = stack.get("/api/workers").await;
    assert_eq!(workers["workers"][0]["state"]["board"]["state"], "ready");
}

#[tokio::test]
async fn a_killed_workers_queue_is_dispatched_again_to_another_worker() {
    let mut stack = stack_without_workers().await;
    stack.add_worker_with(&board_worker("a"), HEARTBEAT);
    stack.add_worker_with(&board_worker("a"), HEARTBEAT);
    wait_workers(&stack, |w| w.len() == 2).await;
    let repo = GitRepo::new(&[("slow.sh", "sleep 2; echo done\n")]);
    stack
        .submit(&queue("orphan", &repo.url(), &[("s", "slow.sh")]))
        .await;
    let running = stack
        .wait_for("orphan", T, |v| v["status"] == "Running")
        .await;
    let first = running["worker"].as_str().unwrap().to_owned();
    let index = if first == "worker-0" { 0 } else { 1 };
    stack.kill_worker(index);

    let view = stack.wait_terminal("orphan", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["attempt"], 2, "{view}");
    assert_ne!(view["worker"], first.as_str(), "{view}");

    // The killed worker comes back: its stale delivery is superseded, so
    // the queue is not run a third time.
    stack.restart_worker(index);
    wait_workers(&stack, |w| w.len() == 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, events) = stack.get("/api/queue/orphan/events").await;
    let starts = events
        .as_array()
        .or_else(|| events["events"].as_array())
        .map_or(0, |e| e.iter().filter(|e| e["type"] == "started").count());
    assert_eq!(starts, 2, "{events:#}");
}

#[tokio::test]
async fn two_schedulers_dispatch_each_of_200_queues_exactly_once() {
    let mut stack = stack_without_workers().await;
    stack.start_another_scheduler();
    let repo = GitRepo::new(&[("t.sh", "true\n")]);
    let ids: Vec<String> = (0..200).map(|n| format!("pair-{n}")).collect();
    // Submitted before any worker exists, so both schedulers hold all 200
    // waiting when the workers come, and race to give each one.
    for id in &ids {
        let (status, body) = stack
            .submit(&queue(id, &repo.url(), &[("t", "t.sh")]))
            .await;
        assert!(status == 201 || status == 202, "{status} {body}");
    }
    stack.add_worker_with(&board_worker("a"), &["--concurrency", "4"]);
    stack.add_worker_with(&board_worker("b"), &["--concurrency", "4"]);
    for id in &ids {
        let view = stack.wait_terminal(id, Duration::from_secs(180)).await;
        assert_eq!(view["status"], "Finished", "{view}");
        assert_eq!(view["attempt"], 1, "{view}");
    }
    for id in &ids {
        let (_, events) = stack.get(&format!("/api/queue/{id}/events")).await;
        let dispatches = events
            .as_array()
            .or_else(|| events["events"].as_array())
            .map_or(0, |e| {
                e.iter().filter(|e| e["type"] == "dispatched").count()
            });
        assert_eq!(
            dispatches, 1,
            "{id} was dispatched {dispatches} times: {events:#}"
        );
    }
    let dispatched_by = |log: &str| log.contains("scheduler running");
    assert!(
        dispatched_by(&stack.service_log("scheduler"))
            && dispatched_by(&stack.service_log("scheduler-2")),
        "both schedulers ran"
    );
}

#[tokio::test]
async fn a_cleanly_restarted_labelled_worker_is_remembered_offline_and_hands_its_queue_on_at_once()
{
    let mut stack = stack_without_workers().await;
    // Three silent heartbeats would take 15 s: a handover well within
    // them comes from the record saying the worker left.
    let args = ["--heartbeat-ms", "5000", "--shutdown-grace-s", "0"];
    stack.add_worker_with(&board_worker("a"), &args);
    wait_workers(&stack, |w| w.len() == 1).await;
    let repo = GitRepo::new(&[("t.sh", "echo ok\n"), ("slow.sh", "sleep 3; echo done\n")]);
    stack
        .submit(&queue("upgrade", &repo.url(), &[("s", "slow.sh")]))
        .await;
    stack
        .wait_for("upgrade", T, |v| v["status"] == "Running")
        .await;
    stack.add_worker_with(&board_worker("b"), &args);
    wait_workers(&stack, |w| w.len() == 2).await;

    // Stopped for an upgrade (SIGTERM): its queue goes to worker-1 at once.
    stack.terminate_worker(0);
    let stopped = Instant::now();
    let view = stack
        .wait_for("upgrade", T, |v| {
            v["worker"] == "worker-1" && v["status"] == "Running"
        })
        .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(8),
        "handed on after {:?}: {view}",
        stopped.elapsed()
    );

    // Until it is back, a queue only it can run is accepted and waits.
    let mut body = queue("for-a", &repo.url(), &[("t", "t.sh")]);
    body["requires"] = json!(["board=a"]);
    let (status, answer) = stack.submit(&body).await;
    assert!(status == 201 || status == 202, "{status} {answer}");
    let workers = wait_workers(&stack, |w| {
        w.len() == 2 && w[0]["presence"] == "offline" && w[1]["presence"] == "live"
    })
    .await;
    assert_eq!(workers[0]["id"], "worker-0");
    assert_eq!(workers[0]["labels"], json!(["board=a"]));
    let left = workers[0]["left"].as_str().expect("when it left");
    assert!(left.ends_with('Z') && left.contains('T'), "{left}");
    assert!(workers[1]["left"].is_null(), "{}", workers[1]);

    stack.restart_worker(0);
    wait_workers(&stack, |w| {
        w[0]["presence"] == "live" && w[0]["left"].is_null()
    })
    .await;
    let view = stack.wait_terminal("for-a", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["worker"], "worker-0");
    let view = stack.wait_terminal("upgrade", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["attempt"], 2, "{view}");
}
