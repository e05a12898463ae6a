//! A paused worker does not come back as a zombie (issue 21, item 1). The
//! whole session of the worker running a queue — the worker, its reaper,
//! QEMU booted from the qemu-arm example, the task's shell — is frozen with
//! SIGSTOP for longer than three heartbeats, so the scheduler dispatches the
//! queue again (attempt 2 on worker-1). Woken, the first run learns within
//! two heartbeats that it was superseded, stops its commands, publishes one
//! line saying why and nothing else; the queue's log, its live stream, its
//! events and its final view are attempt 2's, and nothing of attempt 1 runs
//! afterwards. Once with a pause shorter than `ack_wait`, once longer.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::Digest as _;

use crate::stack::{processes_with, GitRepo, StackOptions, TestStack};

const HEARTBEAT_MS: u64 = 500;

/// The qemu-arm example's build and boot; the task prints numbered lines
/// tagged with the worker that runs it (its checkout is under its work dir).
const PROFILE: &str = r#"
default_profile = "qemu-arm"
[profiles.qemu-arm]
build = "make -C firmware"
build_timeout_s = 300
boot = "qemu-system-arm -M mps2-an385 -nographic -monitor none -kernel firmware/build/fw.elf -serial tcp:127.0.0.1:{port},server,nowait"
boot_ready = { tcp = "127.0.0.1:{port}" }
boot_ready_timeout_s = 30
task = "sh {scenario}"
task_timeout_s = 300
artifacts = ["firmware/build/*.elf"]
"#;

const COUNT: &str = r#"case "$TESTARENA_WORKDIR" in *worker-0*) tag=OLD ;; *) tag=NEW ;; esac
i=1
while [ $i -le 40 ]; do echo "$tag-$i"; i=$((i + 1)); sleep 0.25; done
"#;

#[tokio::test]
async fn a_worker_paused_shorter_than_ack_wait_stops_its_superseded_run_on_waking() {
    paused_mid_task(30, false).await;
}

#[tokio::test]
async fn a_worker_paused_longer_than_ack_wait_stops_its_superseded_run_on_waking() {
    paused_mid_task(6, true).await;
}

async fn paused_mid_task(ack_wait_s: u64, past_ack_wait: bool) {
    crate::stack::require_tools(&["arm-none-eabi-gcc", "qemu-system-arm", "make"]);
    let mut stack = TestStack::start_with(StackOptions {
        worker_config: PROFILE.to_owned(),
        worker_args: vec![
            "--heartbeat-ms".into(),
            HEARTBEAT_MS.to_string(),
            "--ack-wait-s".into(),
            ack_wait_s.to_string(),
        ],
        ..Default::default()
    })
    .await;
    let repo = firmware_repo();
    let (status, body) = stack
        .submit(&crate::stack::queue(
            "paused",
            &repo.url(),
            &[("count", "scenarios/count.sh")],
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    wait_for_log(&stack, "OLD-3", Duration::from_secs(180)).await;

    stack.add_worker();
    let frozen = Session::freeze(stack.worker_pid(0));
    let paused = Instant::now();
    wait_for_log(&stack, "NEW-3", Duration::from_secs(180)).await;
    let ack_wait = Duration::from_secs(ack_wait_s);
    if past_ack_wait {
        let past = ack_wait + Duration::from_secs(1);
        tokio::time::sleep(past.saturating_sub(paused.elapsed())).await;
    } else {
        assert!(paused.elapsed() < ack_wait, "paused {:?}", paused.elapsed());
    }
    let woke_ms = frozen.wake();

    let view = stack
        .wait_terminal("paused", Duration::from_secs(120))
        .await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    assert_eq!(view["attempt"], 2, "{view:#}");
    assert_eq!(view["worker"], "worker-1", "{view:#}");
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view:#}");
    frozen.assert_commands_gone().await;

    the_log_is_attempt_twos_after_its_first_line(&stack).await;
    the_paused_run_published_one_line_on_waking(&stack, woke_ms).await;
    no_event_of_attempt_one_follows_attempt_twos_start(&stack).await;
    the_live_stream_leaves_the_late_lines_out(&stack).await;
    the_artifacts_are_attempt_twos(&stack, &view).await;
}

/// A repository with the example's firmware and the counting scenario.
fn firmware_repo() -> GitRepo {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qemu-arm/firmware");
    let repo = GitRepo::new(&[("scenarios/count.sh", COUNT)]);
    crate::engine::copy_dir(&example, &repo.dir.path().join("firmware"));
    repo.commit(&[], "firmware");
    repo
}

async fn wait_for_log(stack: &TestStack, text: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let log = stack.text("/api/queue/paused/log").await;
        if log.contains(text) {
            return;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// queue_log.txt: nothing of attempt 1 after attempt 2's first line; every
/// line of attempt 1, and the line saying it was superseded, on `?attempt=1`.
async fn the_log_is_attempt_twos_after_its_first_line(stack: &TestStack) {
    let log = stack.text("/api/queue/paused/log").await;
    let second = log
        .find("attempt 2 on worker-1")
        .unwrap_or_else(|| panic!("no attempt 2 in the log:\n{log}"));
    assert!(log[..second].contains("OLD-3"), "{log}");
    assert!(
        !log[second..].contains("OLD-"),
        "attempt 1's lines in the middle of attempt 2's:\n{log}"
    );
    for i in 1..=40 {
        assert!(
            log.contains(&format!("[task:count] NEW-{i}\n")),
            "NEW-{i}:\n{log}"
        );
    }
    let first = stack.text("/api/queue/paused/log?attempt=1").await;
    assert!(first.contains("[task:count] OLD-3\n"), "{first}");
    assert!(
        first.contains(
            "attempt 1 was superseded by attempt 2 on worker-1 while this worker was paused"
        ),
        "{first}"
    );
    assert!(!first.contains("NEW-"), "{first}");
    let second_only = stack.text("/api/queue/paused/log?attempt=2").await;
    assert!(
        second_only.contains("[task:count] NEW-40\n"),
        "{second_only}"
    );
    assert!(!second_only.contains("OLD-"), "{second_only}");
}

/// In the logs stream: after attempt 2's first batch, attempt 1 has one
/// batch of one line, the reason, read within two heartbeats of waking.
async fn the_paused_run_published_one_line_on_waking(stack: &TestStack, woke_ms: u64) {
    let batches = log_batches(stack).await;
    let first_of_two = batches
        .iter()
        .position(|b| b["attempt"] == 2)
        .expect("attempt 2 logged");
    let late: Vec<&Value> = batches[first_of_two..]
        .iter()
        .filter(|b| b["attempt"] == 1)
        .collect();
    assert_eq!(
        late.len(),
        1,
        "attempt 1 published after attempt 2 began: {late:#?}"
    );
    let lines = late[0]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{late:#?}");
    let text = lines[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("attempt 1 was superseded by attempt 2 on worker-1"),
        "{text}"
    );
    assert!(text.ends_with("; stopping"), "{text}");
    let said_ms = lines[0]["ts_ms"].as_u64().unwrap();
    let within = 2 * HEARTBEAT_MS + 1000;
    assert!(
        said_ms.saturating_sub(woke_ms) < within,
        "said {} ms after waking",
        said_ms.saturating_sub(woke_ms)
    );
}

async fn log_batches(stack: &TestStack) -> Vec<Value> {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let stream = js.get_stream("ARENA_LOGS").await.unwrap();
    let mut batches = Vec::new();
    let mut seq = 0;
    while let Ok(message) = stream
        .direct_get_next_for_subject("arena.logs.paused", Some(seq + 1))
        .await
    {
        seq = message.sequence;
        batches.push(serde_json::from_slice(&message.payload).unwrap());
    }
    batches
}

/// The run that was paused wrote no event once attempt 2 had started: no
/// task, stage or `finished` of attempt 1.
async fn no_event_of_attempt_one_follows_attempt_twos_start(stack: &TestStack) {
    let (status, events) = stack.get("/api/queue/paused/events").await;
    assert_eq!(status, 200, "{events}");
    let events = events["events"].as_array().unwrap();
    let started_two = events
        .iter()
        .position(|e| e["type"] == "started" && e["attempt"] == 2)
        .expect("attempt 2 started");
    let late: Vec<&Value> = events[started_two..]
        .iter()
        .filter(|e| e["attempt"] == 1)
        .collect();
    assert!(
        late.is_empty(),
        "attempt 1's events after attempt 2 began: {late:#?}"
    );
    let finished: Vec<&Value> = events.iter().filter(|e| e["type"] == "finished").collect();
    assert_eq!(finished.len(), 1, "{finished:#?}");
    assert_eq!(finished[0]["attempt"], 2, "{finished:#?}");
}

/// The SSE stream, read to its `end`: no attempt 1 batch after attempt 2's.
async fn the_live_stream_leaves_the_late_lines_out(stack: &TestStack) {
    let body = stack.text("/api/queue/paused/log/stream").await;
    let mut attempts = Vec::new();
    let mut event = "";
    for line in body.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            if event == "log" {
                let batch: Value = serde_json::from_str(data).unwrap();
                attempts.push(batch["attempt"].as_u64().unwrap());
            }
        }
    }
    assert!(body.contains("event: end"), "{body}");
    let first_of_two = attempts
        .iter()
        .position(|&a| a == 2)
        .expect("attempt 2 streamed");
    assert!(
        attempts[first_of_two..].iter().all(|&a| a == 2),
        "attempts streamed: {attempts:?}"
    );
}

/// The view's artifacts are attempt 2's, and their bytes are what it stored.
async fn the_artifacts_are_attempt_twos(stack: &TestStack, view: &Value) {
    let artifacts = view["artifacts"].as_array().unwrap();
    assert!(!artifacts.is_empty(), "{view:#}");
    let (status, events) = stack.get("/api/queue/paused/events").await;
    assert_eq!(status, 200);
    for artifact in artifacts {
        let stored = events["events"].as_array().unwrap().iter().find(|e| {
            e["type"] == "artifact_stored" && e["name"] == artifact["name"] && e["attempt"] == 2
        });
        let stored = stored.unwrap_or_else(|| panic!("{artifact} not attempt 2's"));
        assert_eq!(stored["sha256"], artifact["sha256"], "{artifact}");
        let url = format!(
            "{}/api/queue/paused/artifacts/{}",
            stack.base,
            artifact["name"].as_str().unwrap().replace('/', "%2F")
        );
        let bytes = stack
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let digest = sha2::Sha256::digest(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(json!(hex), artifact["sha256"], "{artifact}");
    }
}

/// A frozen worker session: the worker and every process under it.
struct Session {
    worker: u32,
    /// The commands' processes (not the worker, not its reaper), with
    /// their start times, so a reused pid is not taken for one of them.
    commands: Vec<(u32, u64)>,
    groups: HashSet<i32>,
}

impl Session {
    /// SIGSTOP to the worker first (it starts nothing more), then to each
    /// process group under it, twice, to catch what a script just started.
    fn freeze(worker: u32) -> Self {
        signal(worker as i32, libc::SIGSTOP);
        let mut groups = HashSet::new();
        let mut commands = Vec::new();
        for _ in 0..2 {
            for pid in descendants(worker) {
                let Some((pgid, start)) = stat(pid) else {
                    continue;
                };
                if pgid != worker as i32 && groups.insert(pgid) {
                    signal(-pgid, libc::SIGSTOP);
                }
                signal(pid as i32, libc::SIGSTOP);
                if !cmdline(pid).contains("reap-process-groups")
                    && !commands.iter().any(|&(p, _)| p == pid)
                {
                    commands.push((pid, start));
                }
            }
        }
        assert!(
            commands
                .iter()
                .any(|&(pid, _)| cmdline(pid).contains("mps2-an385")),
            "QEMU is in the frozen session: {:?}",
            commands
                .iter()
                .map(|&(p, _)| cmdline(p))
                .collect::<Vec<_>>()
        );
        Self {
            worker,
            commands,
            groups,
        }
    }

    /// SIGCONT to all of it; returns when, in ms since the epoch.
    fn wake(&self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        for &pgid in &self.groups {
            signal(-pgid, libc::SIGCONT);
        }
        for &(pid, _) in &self.commands {
            signal(pid as i32, libc::SIGCONT);
        }
        for pid in descendants(self.worker) {
            signal(pid as i32, libc::SIGCONT);
        }
        signal(self.worker as i32, libc::SIGCONT);
        now.as_millis() as u64
    }

    /// None of the paused run's commands runs, QEMU included.
    async fn assert_commands_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left: Vec<String> = self
                .commands
                .iter()
                .filter(|&&(pid, start)| stat(pid).is_some_and(|(_, s)| s == start))
                .map(|&(pid, _)| format!("{pid}: {}", cmdline(pid)))
                .collect();
            let qemu = processes_with("mps2-an385");
            if left.is_empty() && qemu.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left running: {left:?}, QEMU: {qemu:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) touches no memory of ours; a gone process is fine.
    unsafe {
        libc::kill(pid, signal);
    }
}

fn descendants(root: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                next.push(child);
            }
        }
    }
    found
}

/// A process's group and start time (fields 5 and 22 of its stat).
fn stat(pid: u32) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, so field n is fields[n - 3].
    if fields.first() == Some(&"Z") {
        return None;
    }
    Some((fields.get(2)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}
