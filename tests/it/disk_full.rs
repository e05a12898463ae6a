//! Full disks: the projector's data dir, and a worker's work dir mid-build,
//! each a small tmpfs filled up by the test and emptied again.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::projection::snapshot;
use crate::small_disk::SmallDisk;
use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(90);
/// Prints `line 1` … `line 150`.
const CHATTY: &str = "for i in $(seq 1 150); do echo \"line $i\"; sleep 0.01; done\n";

/// `/readyz`'s status and body.
async fn readyz(stack: &TestStack) -> (u16, String) {
    let response = stack
        .http
        .get(format!("{}/readyz", stack.base))
        .send()
        .await
        .expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Waits until `/readyz` answers `status`; its body then.
async fn readyz_until(stack: &TestStack, status: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (now, body) = readyz(stack).await;
        if now == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {now} after {within:?}: {body}\nlogs in {}",
            stack.dir.path().display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until each queue's log holds both tasks' 150 lines; asserts each once.
async fn every_line_once(stack: &TestStack, ids: &[String]) {
    for id in ids {
        let deadline = Instant::now() + T;
        let log = loop {
            let log = stack.text(&format!("/api/queue/{id}/log")).await;
            if log.matches("] line ").count() >= 300 {
                break log;
            }
            assert!(Instant::now() < deadline, "{id}: log incomplete:\n{log}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for task in ["a", "b"] {
            for n in 1..=150 {
                let line = format!("[task:{task}] line {n}");
                let count = log.lines().filter(|l| l.ends_with(&line)).count();
                assert_eq!(count, 1, "{id}: {line} once:\n{log}");
            }
        }
    }
}

async fn submit_chatty(stack: &TestStack, repo: &GitRepo, id: &str) {
    let body = queue(id, &repo.url(), &[("a", "chatty.sh"), ("b", "chatty.sh")]);
    let (status, body) = stack.submit(&body).await;
    // 202: accepted while the projector cannot apply it yet.
    assert!(status == 201 || status == 202, "{status} {body}");
}

#[tokio::test]
async fn a_full_data_dir_stalls_the_projector_clearly_and_it_resumes_when_space_returns() {
    let mut stack = TestStack::start_with(StackOptions {
        data_dir_bytes: Some(24 << 20),
        gateway_args: vec!["--submit-wait-ms".into(), "500".into()],
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[("chatty.sh", CHATTY)]);
    let mut ids: Vec<String> = vec!["before".into()];
    submit_chatty(&stack, &repo, "before").await;
    stack.wait_terminal("before", T).await;

    stack.data_disk().fill();
    for n in 0..3 {
        let id = format!("during-{n}");
        submit_chatty(&stack, &repo, &id).await;
        ids.push(id);
    }
    // The projector says why it stopped, on /readyz and once in its log.
    let why = readyz_until(&stack, 503, Duration::from_secs(30)).await;
    assert!(why.contains("projector"), "{why}");
    assert!(
        why.contains("No space left on device") || why.contains("disk is full"),
        "{why}"
    );
    let stalled_at = applied_offsets(&stack.data_dir());
    tokio::time::sleep(Duration::from_secs(6)).await; // several retries
    assert_eq!(
        applied_offsets(&stack.data_dir()),
        stalled_at,
        "nothing committed while the disk is full"
    );
    let log = stack.service_log("projector");
    assert_eq!(
        log.matches("stopped applying").count(),
        1,
        "one error line for the stall:\n{log}"
    );
    assert!(!log.contains("lost its streams"), "{log}");

    stack.data_disk().free();
    readyz_until(&stack, 200, Duration::from_secs(20)).await;
    for id in &ids {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished", "{view}");
        assert_eq!(view["counts"]["pass"], 2, "{view}");
    }
    every_line_once(&stack, &ids).await;
    assert!(stack.service_log("projector").contains("applying again"));

    stack.stop_gateway_side();
    let live = snapshot(&stack.data_dir());
    let rebuilt = snapshot(&stack.rebuild_into("rebuilt"));
    assert_eq!(live.len(), ids.len());
    assert_eq!(live, rebuilt, "the views equal a rebuild");
}

/// The projector's committed offsets (events, logs), read from its database.
fn applied_offsets(data: &Path) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(list(c.execute('select stream, seq from projector_offsets order by stream')))")
        .arg(data.join("views.sqlite"))
        .output()
        .expect("python3 reads sqlite");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A profile whose build (build.sh) waits on gate files in `gates` (outside
/// the work dir), so the test fills the disk at the moment it chooses.
const CACHING_PROFILE: &str = r#"
default_profile = "sh"
[profiles.sh]
build = "sh build.sh"
build_outputs = ["out/fw.bin"]
task = "sh {scenario}"
"#;

/// build.sh: says it started, waits for `go`, writes a 3 MB firmware,
/// says it is built, waits for `go2`. The task checks the firmware whole.
fn gated_build(gates: &Path) -> String {
    let g = gates.display();
    format!(
        "mkdir -p out\ntouch {g}/started\n\
         while [ ! -f {g}/go ]; do sleep 0.05; done\n\
         head -c 3000000 /dev/zero > out/fw.bin || exit 1\n\
         touch {g}/built\n\
         while [ ! -f {g}/go2 ]; do sleep 0.05; done\n"
    )
}

const CHECK: &str = "test \"$(wc -c < out/fw.bin)\" -eq 3000000 && echo firmware whole\n";

async fn wait_file(path: &Path) {
    let deadline = Instant::now() + T;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never came", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_full_work_dir_mid_build_ends_that_queue_and_the_worker_takes_the_next() {
    let mut stack = TestStack::start_with(StackOptions {
        workers: 0,
        worker_config: CACHING_PROFILE.into(),
        ..Default::default()
    })
    .await;
    let disk = SmallDisk::mount(&stack.dir.path().join("worker-0"), 32 << 20);
    stack.add_worker();
    let gates = tempfile::tempdir().unwrap();
    let gate = |name: &str| gates.path().join(name);
    let repo = GitRepo::new(&[
        ("build.sh", &gated_build(gates.path())),
        ("check.sh", CHECK),
    ]);
    let body = |id: &str| queue(id, &repo.url(), &[("fw", "check.sh")]);

    // 1. The disk fills up while the build writes its output.
    stack.submit(&body("full-build")).await;
    wait_file(&gate("started")).await;
    disk.fill();
    std::fs::write(gate("go"), "").unwrap();
    let view = stack.wait_terminal("full-build", T).await;
    assert_eq!(view["status"], "Error", "{view}");
    let reason = view["reason"].to_string();
    assert!(
        reason.contains("no space left on device"),
        "the reason says the disk is full: {view}"
    );
    disk.free();

    // 2. Built, then the disk fills up while its outputs go into the cache:
    // the queue passes, nothing half-stored is kept.
    stack.submit(&body("full-store")).await;
    wait_file(&gate("built")).await;
    disk.fill_leaving(1 << 20);
    std::fs::write(gate("go2"), "").unwrap();
    let view = stack.wait_terminal("full-store", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["counts"]["pass"], 1, "{view}");
    let log = stack.text("/api/queue/full-store/log").await;
    assert!(
        log.contains("keeping the build outputs in the cache failed"),
        "{log}"
    );
    disk.free();

    // 3. The same commit again: the worker took it, built and kept it;
    // 4. and once more: restored whole from the cache.
    for (id, build) in [("again", "ok"), ("cached", "cached")] {
        stack.submit(&body(id)).await;
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished", "{view}");
        assert_eq!(view["counts"]["pass"], 1, "{view}");
        assert_eq!(view["stages"][1]["stage"], "build", "{view}");
        assert_eq!(view["stages"][1]["status"], build, "{view}");
        assert_eq!(view["worker"], "worker-0", "{view}");
    }
    let (_, workers) = stack.get("/api/workers").await;
    assert_eq!(
        workers["workers"][0]["state"]["sh"]["state"], "ready",
        "{workers:#}"
    );
}
