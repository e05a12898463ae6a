//! Boards on the worker's side (issue 24), on simulated boards
//! (board_sim.rs): a board queue runs end to end on a TCP board and on a
//! pty board (the firmware's console in the queue's log as `console`, the
//! scenario talking to it through `{port}`); worker config errors name the
//! key; three failed boots quarantine that board (the profile's other
//! board keeps running queues) and its health command re-admits it; a worker killed mid-queue powers the board off when it
//! starts again, so the next run's `power_on` is a power cycle; two
//! queues for one board take turns; a serial that cannot be opened makes
//! the board offline until it opens; four boards of two kinds on two
//! workers each run the queues of their kind.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::board_sim::SimBoard;
use crate::stack::{queue, GitRepo, StackOptions, TestStack, BIN};

const T: Duration = Duration::from_secs(120);

const SLOW: &str = "timeout 5\ncase ping\nsend ping\nexpect ^pong$\nsleep 30\n";

/// A worker config with these sim boards and the board profile `fw`.
fn worker_config(root: &Path, boards: &[(&str, &SimBoard)], ready_timeout_s: u64) -> String {
    let mut config = fw_profile(root, ready_timeout_s);
    for (name, board) in boards {
        let unit = format!("unit={name}");
        config.push_str(&board.worker_toml_table(name, &["board=mps2-an385", &unit]));
    }
    config
}

/// The board profile `fw`, the default, for sim boards under `root`.
fn fw_profile(root: &Path, ready_timeout_s: u64) -> String {
    format!(
        "default_profile = \"fw\"\n\
         [profiles.fw]\n\
         board = true\n\
         flash = \"{}\"\n\
         boot_ready = {{ log_regex = \"READY\" }}\n\
         boot_ready_timeout_s = {ready_timeout_s}\n\
         boot_retries = 0\n\
         quarantine_after = 3\n\
         health_interval_s = 1\n\
         task = \"python3 scenario_execution.py {{scenario}}\"\n\
         task_timeout_s = 60\n\
         env = {{ DUT_PORT = \"{{port}}\" }}\n",
        SimBoard::flash_command(root)
    )
}

/// The example's scenario runner and scenarios, and a slow one.
fn scenario_repo() -> GitRepo {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qemu-arm");
    let read = |p: &str| std::fs::read_to_string(example.join(p)).unwrap();
    let (runner, smoke) = (read("scenario_execution.py"), read("scenarios/smoke.scn"));
    GitRepo::new(&[
        ("scenario_execution.py", runner.as_str()),
        ("scenarios/smoke.scn", smoke.as_str()),
        ("scenarios/slow.scn", SLOW),
    ])
}

async fn board_stack(config: String, args: &[&str]) -> TestStack {
    TestStack::start_with(StackOptions {
        worker_config: config,
        worker_args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
    .await
}

async fn submit(stack: &TestStack, repo: &GitRepo, id: &str, scenario: &str) {
    submit_requiring(stack, repo, id, scenario, &[]).await;
}

async fn submit_requiring(
    stack: &TestStack,
    repo: &GitRepo,
    id: &str,
    scenario: &str,
    requires: &[&str],
) {
    let mut body = queue(id, &repo.url(), &[("t", scenario)]);
    body["requires"] = json!(requires);
    let (status, body) = stack.submit(&body).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_board_queue_runs_end_to_end_on_a_tcp_sim_board() {
    runs_on_a_sim_board(SimBoard::tcp).await;
}

#[tokio::test]
async fn a_board_queue_runs_end_to_end_on_a_pty_sim_board() {
    runs_on_a_sim_board(SimBoard::pty).await;
}

async fn runs_on_a_sim_board(make: fn(&Path) -> SimBoard) {
    let root = tempfile::tempdir().unwrap();
    let board = make(&root.path().join("sim-1"));
    let stack = board_stack(worker_config(root.path(), &[("sim-1", &board)], 20), &[]).await;
    let repo = scenario_repo();
    submit(&stack, &repo, "on-board", "scenarios/smoke.scn").await;
    let view = stack.wait_terminal("on-board", T).await;
    let log = stack.text("/api/queue/on-board/log").await;
    assert_eq!(view["status"], "Finished", "{view:#}\n{log}");
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view:#}\n{log}");
    // The banner, printed at power on, and the firmware's answers to the
    // scenario, which reached it through the bridge.
    assert!(
        log.contains("[console] TestArena qemu-arm demo fw 1.0.0 READY\n"),
        "{log}"
    );
    assert!(log.contains("[console] > pong\n"), "{log}");
    assert!(log.contains("[boot] board sim-1 ready\n"), "{log}");
    assert!(log.contains("[power_on] powered on\n"), "{log}");
    // Off at the worker's start, on for the queue, off at its teardown.
    assert_eq!(board.power_log(), ["off", "on", "off"]);
    assert_eq!(board.qemu_pid(), None, "teardown powered it off");
    let record = board_record(&stack, "sim-1").await;
    assert_eq!(record["admission"], "ready", "{record:#}");
    assert_eq!(record["labels"][0], "board=mps2-an385", "{record:#}");
    the_worker_answers_power_and_console_requests(&stack, &board).await;
}

/// Between queues: a power cycle asked of the worker, the banner in the
/// console's ring and live on `.out`, a command sent on `.in` answered.
async fn the_worker_answers_power_and_console_requests(stack: &TestStack, board: &SimBoard) {
    let client = stack.nats_client().await;
    let mut out = client
        .subscribe("arena.console.worker-0.sim-1.out")
        .await
        .unwrap();
    let ask = |action: &'static str, body: Value| {
        let client = client.clone();
        async move {
            let subject = format!("arena.fleet.worker-0.{action}");
            let reply = client
                .request(subject, body.to_string().into())
                .await
                .unwrap();
            reply.payload
        }
    };
    let reply = ask("power", json!({"board": "sim-1", "action": "cycle"})).await;
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(board.power_log(), ["off", "on", "off", "off", "on"]);
    let reply = ask("power", json!({"board": "nope", "action": "on"})).await;
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(
        (reply["ok"].as_bool(), reply["message"].as_str()),
        (Some(false), Some("this worker has no board nope"))
    );

    // As the profile's flash does after power_on (a pty board starts halted).
    let flashed = std::process::Command::new("sh")
        .arg(board.dir.join("flash.sh"))
        .status();
    assert!(flashed.unwrap().success());
    read_until(&mut out, "READY").await;
    client
        .publish("arena.console.worker-0.sim-1.in", "ping\n".into())
        .await
        .unwrap();
    read_until(&mut out, "pong").await;
    let tail = ask("console", json!({"board": "sim-1"})).await;
    let tail = String::from_utf8_lossy(&tail);
    assert!(
        tail.contains("TestArena qemu-arm demo fw 1.0.0 READY") && tail.ends_with("pong\r\n> "),
        "{tail:?}"
    );
}

/// Reads the console's `.out` until `text` came (within a read or across).
async fn read_until(out: &mut async_nats::Subscriber, text: &str) {
    use futures_util::StreamExt as _;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains(text) {
        match tokio::time::timeout_at(deadline, out.next()).await {
            Ok(Some(message)) => seen.push_str(&String::from_utf8_lossy(&message.payload)),
            _ => panic!("no {text:?} on the console; saw {seen:?}"),
        }
    }
}

#[tokio::test]
async fn two_queues_for_one_board_run_one_after_the_other() {
    let root = tempfile::tempdir().unwrap();
    let board = SimBoard::tcp(&root.path().join("sim-1"));
    let config = worker_config(root.path(), &[("sim-1", &board)], 20);
    let stack = board_stack(config, &["--concurrency", "4"]).await;
    let repo = scenario_repo();
    submit(&stack, &repo, "first", "scenarios/smoke.scn").await;
    submit(&stack, &repo, "second", "scenarios/smoke.scn").await;
    for id in ["first", "second"] {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished", "{view:#}");
    }
    // Each run powered the board on and off before the next began.
    assert_eq!(board.power_log(), ["off", "on", "off", "on", "off"]);
    for id in ["first", "second"] {
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        assert!(
            log.contains("[console] TestArena qemu-arm demo fw 1.0.0 READY"),
            "{log}"
        );
    }
}

#[tokio::test]
async fn a_board_whose_serial_cannot_be_opened_is_offline_until_it_opens() {
    let root = tempfile::tempdir().unwrap();
    let port = testarena::nats_server::free_port().unwrap();
    // No power commands: always on, so a closed serial is the board's fault.
    let config = format!(
        "{}[boards.lost]\nserial = {{ tcp = \"127.0.0.1:{port}\" }}\n",
        worker_config(root.path(), &[], 20)
    );
    let stack = board_stack(config, &[]).await;
    let offline = board_event(&stack, "lost", "offline", T).await;
    assert_eq!(offline["by"], "worker-0", "{offline:#}");
    let reason = offline["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("its serial cannot be opened: connecting to 127.0.0.1:"),
        "{reason}"
    );
    let record = board_record(&stack, "lost").await;
    assert_eq!(record["admission"], "offline", "{record:#}");
    assert_eq!(record["reason"], reason, "{record:#}");

    let serial = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (_connection, _) = tokio::time::timeout(T, serial.accept())
        .await
        .unwrap()
        .unwrap();
    board_event(&stack, "lost", "readmitted", T).await;
    let record = wait_board_record(&stack, "lost", |r| r["admission"] == "ready").await;
    assert!(record["reason"].is_null(), "{record:#}");
}

#[test]
fn worker_config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[profiles.fw]\nboard = true\ntask = 'x'\n",
            "profiles.fw: board = true but this worker has no [boards.<name>]",
        ),
        (
            "[boards.nucleo-1]\nserial = { device = '/dev/ttyACM0' }\n[profiles.a]\ntask = 'x'\n",
            "boards.nucleo-1.serial: device needs baud",
        ),
        (
            "[boards.nucleo-1]\nserial = { tcp = '127.0.0.1:7001' }\npower = 'x'\n[profiles.a]\ntask = 'x'\n",
            "boards.nucleo-1: unknown field `power`",
        ),
        (
            "[boards.b]\nserial = { tcp = 'h:1' }\n[profiles.fw]\nboard = true\nboot = 'x'\ntask = 'x'\n",
            "profiles.fw.boot: not used by a board profile",
        ),
    ];
    for (config, says) in cases {
        let path = dir.path().join("worker.toml");
        std::fs::write(&path, config).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["worker", "--config"])
            .arg(&path)
            .args(["--worker-name", "w", "--work-dir"])
            .arg(dir.path().join("work"))
            .env("TESTARENA_NATS_URL", "nats://127.0.0.1:1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{config}: {stderr}");
        assert!(stderr.contains(says), "{config}: {stderr}");
    }
}

#[tokio::test]
async fn four_boards_of_two_kinds_on_two_workers_run_each_queue_on_a_board_of_its_kind() {
    let root = tempfile::tempdir().unwrap();
    let sim = |name: &str| SimBoard::tcp(&root.path().join(name));
    let (a1, b1, a2, b2) = (sim("a1"), sim("b1"), sim("a2"), sim("b2"));
    let config = |boards: [(&str, &SimBoard, &str); 2]| {
        let mut config = fw_profile(root.path(), 30);
        for (name, board, kind) in boards {
            config.push_str(&board.worker_toml_table(name, &[kind]));
        }
        config
    };
    let first = config([("a1", &a1, "kind=a"), ("b1", &b1, "kind=b")]);
    let mut stack = board_stack(first, &[]).await;
    stack.add_worker_with(&config([("a2", &a2, "kind=a"), ("b2", &b2, "kind=b")]), &[]);
    let idle = |v: &Value| {
        let boards = v["boards"].as_array();
        boards.is_some_and(|b| b.len() == 4 && b.iter().all(|b| b["state"] == "idle"))
    };
    stack.wait_for_path("/api/boards", T, idle).await;
    let repo = scenario_repo();
    let queues = [("a-1", "a"), ("b-1", "b"), ("a-2", "a"), ("b-2", "b")];
    for (id, kind) in queues {
        let kind = format!("kind={kind}");
        submit_requiring(&stack, &repo, id, "scenarios/smoke.scn", &[kind.as_str()]).await;
    }
    let mut boards_used = std::collections::BTreeSet::new();
    for (id, kind) in queues {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished", "{view:#}");
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        let board = ["a1", "b1", "a2", "b2"]
            .into_iter()
            .find(|b| log.contains(&format!("[boot] board {b} ready")))
            .unwrap_or_else(|| panic!("{id} names no board it booted:\n{log}"));
        assert!(board.starts_with(kind), "{id} (kind={kind}) ran on {board}");
        boards_used.insert(board);
    }
    // Both workers served: with a free board of each kind on each, the
    // scheduler spreads the queues rather than waiting for one board.
    let workers: std::collections::BTreeSet<char> = boards_used
        .iter()
        .map(|b| b.chars().nth(1).unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "boards used: {boards_used:?}");
}

#[tokio::test]
async fn three_failed_boots_quarantine_one_board_the_other_keeps_working_and_health_readmits_it() {
    let root = tempfile::tempdir().unwrap();
    let board = SimBoard::tcp(&root.path().join("sim-1"));
    let other = SimBoard::tcp(&root.path().join("sim-2"));
    board.break_boot();
    let boards = [("sim-1", &board), ("sim-2", &other)];
    let stack = board_stack(worker_config(root.path(), &boards, 3), &[]).await;
    let repo = scenario_repo();
    for n in 1..=3 {
        let id = format!("broken-{n}");
        submit_requiring(&stack, &repo, &id, "scenarios/smoke.scn", &["unit=sim-1"]).await;
        let view = stack.wait_terminal(&id, T).await;
        assert_eq!(view["status"], "Error", "{view:#}");
    }
    // The profile is not quarantined: its other board keeps working.
    submit(&stack, &repo, "other", "scenarios/smoke.scn").await;
    let view = stack.wait_terminal("other", T).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    let log = stack.text("/api/queue/other/log").await;
    assert!(log.contains("[boot] board sim-2 ready"), "{log}");
    let log = stack.text("/api/queue/broken-3/log").await;
    assert!(
        log.contains("board sim-1 quarantined on this worker: 3 boots in a row failed"),
        "{log}"
    );
    let quarantined = board_event(&stack, "sim-1", "quarantined", T).await;
    assert_eq!(quarantined["by"], "worker-0", "{quarantined:#}");
    // Its health command runs every second, and fails while it is broken.
    let record = wait_board_record(&stack, "sim-1", |r| r["health"].is_object()).await;
    assert_eq!(record["admission"], "quarantined", "{record:#}");
    assert_eq!(record["health"]["ok"], false, "{record:#}");
    assert!(
        record["health"]["message"]
            .as_str()
            .unwrap()
            .contains("does not boot"),
        "{record:#}"
    );

    board.fix_boot();
    board_event(&stack, "sim-1", "readmitted", T).await;
    let record = board_record(&stack, "sim-1").await;
    assert_eq!(record["admission"], "ready", "{record:#}");
    assert_eq!(record["health"]["ok"], true, "{record:#}");
    submit_requiring(
        &stack,
        &repo,
        "fixed",
        "scenarios/smoke.scn",
        &["unit=sim-1"],
    )
    .await;
    let view = stack.wait_terminal("fixed", T).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
}

#[tokio::test]
async fn a_worker_killed_mid_queue_powers_its_board_off_before_the_next_run() {
    let root = tempfile::tempdir().unwrap();
    let board = SimBoard::tcp(&root.path().join("sim-1"));
    let config = worker_config(root.path(), &[("sim-1", &board)], 20);
    let mut stack = board_stack(config, &["--ack-wait-s", "6", "--heartbeat-ms", "500"]).await;
    let repo = scenario_repo();
    submit(&stack, &repo, "killed", "scenarios/slow.scn").await;
    wait_for_log(&stack, "killed", "[console] > pong").await;
    let first = board.qemu_pid().expect("the board is on");
    let client = stack.nats_client().await;
    let asked = json!({"board": "sim-1", "action": "cycle"}).to_string();
    let reply = client
        .request("arena.fleet.worker-0.power", asked.into())
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(
        reply["message"],
        "board sim-1 runs queue killed; power it once the queue ends"
    );
    stack.kill_worker(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        board.qemu_pid(),
        Some(first),
        "the board stays on with its worker gone"
    );

    stack.restart_worker(0);
    let view = stack
        .wait_terminal("killed", Duration::from_secs(180))
        .await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    assert_eq!(view["attempt"], 2, "{view:#}");
    // Off at each start; on for each run; off at the last run's teardown.
    assert_eq!(board.power_log(), ["off", "on", "off", "on", "off"]);
    let power = board_event(&stack, "sim-1", "power", T).await;
    assert_eq!(
        (power["action"].as_str(), power["ok"].as_bool()),
        (Some("off"), Some(true))
    );
    assert!(
        !Path::new(&format!("/proc/{first}")).exists(),
        "the first QEMU is gone"
    );
}

/// This board's entry in worker-0's registry record once `done` holds.
async fn wait_board_record(stack: &TestStack, board: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let record = board_record(stack, board).await;
        if done(&record) {
            return record;
        }
        assert!(Instant::now() < deadline, "{record:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// This board's entry in worker-0's registry record.
async fn board_record(stack: &TestStack, board: &str) -> Value {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let fleet = js.get_key_value("arena_fleet").await.unwrap();
    let entry = fleet
        .get("worker-0")
        .await
        .unwrap()
        .expect("worker-0's record");
    let record: Value = serde_json::from_slice(&entry).unwrap();
    let boards = record["boards"].as_array().cloned().unwrap_or_default();
    boards
        .into_iter()
        .find(|b| b["name"] == board)
        .unwrap_or_else(|| panic!("no board {board} in {record:#}"))
}

/// The last board event of this kind, waited for.
async fn board_event(stack: &TestStack, board: &str, kind: &str, timeout: Duration) -> Value {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let stream = js.get_stream("ARENA_EVENTS").await.unwrap();
    let subject = format!("arena.boards.worker-0.{board}.{kind}");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(message) = stream.direct_get_last_for_subject(&subject).await {
            return serde_json::from_slice(&message.payload).unwrap();
        }
        assert!(Instant::now() < deadline, "no {subject}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_log(stack: &TestStack, id: &str, text: &str) {
    let deadline = Instant::now() + T;
    loop {
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        if log.contains(text) {
            return;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
