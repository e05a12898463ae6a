//! History that does not grow for ever: `--retention-days` takes an ended
//! queue's events (but how it began and ended), log batches and artifacts
//! out of JetStream while its view, test history and sizes stay; snapshots
//! of the views let a rebuild start near the end, and equal a rebuild from
//! the start for what is retained.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream::DirectGetErrorKind};
use futures_util::StreamExt;
use serde_json::Value;

use crate::projection::{history, rows, sizes_snapshot, snapshot, MEASURING_PROFILE};
use crate::stack::{queue, urlencode, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);
/// 17.28 s: long enough that a queue just ended is inside it, short enough
/// for a test; the sweep looks every 4.32 s.
const RETENTION_DAYS: &str = "0.0002";

fn chatty_repo() -> GitRepo {
    GitRepo::new(&[(
        "chatty.sh",
        "for i in $(seq 1 50); do echo \"line $i\"; done; echo done > \"$TESTARENA_RESULT_DIR/out.txt\"\n",
    )])
}

async fn run_queue(stack: &TestStack, id: &str, repo: &GitRepo) -> Value {
    let (status, body) = stack
        .submit(&queue(id, &repo.url(), &[("a", "chatty.sh")]))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let view = stack.wait_terminal(id, T).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    view
}

/// Whether the stream holds a message on `subject`.
async fn has_message(js: &jetstream::Context, stream: &str, subject: &str) -> bool {
    let stream = js.get_stream(stream).await.unwrap();
    match stream.direct_get_last_for_subject(subject).await {
        Ok(_) => true,
        Err(e) if e.kind() == DirectGetErrorKind::NotFound => false,
        Err(e) => panic!("direct get {subject}: {e}"),
    }
}

/// The kinds of the events the stream holds for a queue.
async fn event_kinds(stack: &TestStack, id: &str) -> Vec<String> {
    let (status, body) = stack.get(&format!("/api/queue/{id}/events")).await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_queue_ended_before_the_retention_leaves_jetstream_while_its_history_stays() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: MEASURING_PROFILE.into(),
        // The projector's own NATS user purges and deletes: its rights are tested.
        role_users: true,
        service_env: vec![("TESTARENA_RETENTION_DAYS".into(), RETENTION_DAYS.into())],
        ..Default::default()
    })
    .await;
    let repo = chatty_repo();
    let old = run_queue(&stack, "old", &repo).await;
    assert_eq!(old["log_expired_at"], Value::Null);
    assert!(!old["artifacts"].as_array().unwrap().is_empty(), "{old:#}");
    assert!(stack.text("/api/queue/old/log").await.contains("line 50"));
    let expired = stack
        .wait_for("old", T, |v| !v["log_expired_at"].is_null())
        .await;
    // A queue that just ended is inside the window.
    run_queue(&stack, "recent", &repo).await;
    let (_, recent) = stack.get("/api/queue/recent").await;
    assert_eq!(recent["log_expired_at"], Value::Null, "{recent:#}");

    // The view stays, as it was, with the mark.
    assert_eq!(expired["status"], "Finished");
    assert_eq!(expired["verdict"], "passed");
    assert_eq!(expired["counts"], old["counts"]);
    assert_eq!(expired["tasks"], old["tasks"]);
    // The log answers 410, naming why; the artifacts too.
    for path in [
        "/api/queue/old/log",
        "/api/queue/old/log/lines",
        "/api/queue/old/log/stream",
        "/api/queue/old/artifacts",
    ] {
        let (status, body) = stack.get(path).await;
        assert_eq!(status, 410, "{path}: {body}");
        assert_eq!(body["error"], "expired", "{body}");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("--retention-days"));
    }
    let folder = stack.data_dir().join("queues");
    assert!(!folder.join("old/queue_log.txt").exists());
    assert!(folder.join("old/queue_status.json").exists());
    assert!(folder.join("recent/queue_log.txt").exists());

    // In JetStream: how it began and ended stays, the rest left.
    assert_eq!(event_kinds(&stack, "old").await, ["submitted", "finished"]);
    let kinds = event_kinds(&stack, "recent").await;
    assert!(
        kinds.len() > 5 && kinds.contains(&"task_finished".to_owned()),
        "{kinds:?}"
    );
    let js = jetstream::new(stack.nats_client().await);
    assert!(!has_message(&js, "ARENA_LOGS", "arena.logs.old").await);
    assert!(has_message(&js, "ARENA_LOGS", "arena.logs.recent").await);
    let bucket = js.get_object_store("ARENA_ARTIFACTS").await.unwrap();
    // A deleted object's info says `deleted` (a tombstone), its chunks gone.
    let live = |info: Result<async_nats::jetstream::object_store::ObjectInfo, _>| {
        info.is_ok_and(|i: async_nats::jetstream::object_store::ObjectInfo| !i.deleted)
    };
    assert!(
        !live(bucket.info("old/out/fw.elf").await),
        "old's artifact stays"
    );
    assert!(live(bucket.info("recent/out/fw.elf").await));

    // Test history and sizes stay in the views.
    let data = stack.data_dir();
    let runs = rows(&data, &["select queue_id from test_runs"]);
    assert_eq!(
        runs.iter().filter(|r| *r == "('old',)").count(),
        1,
        "{runs:?}"
    );
    assert_eq!(sizes_snapshot(&data).len(), 2);
    let (status, tests) = stack
        .get(&format!(
            "/api/tests/history?repo={}&task=a",
            urlencode(&repo.url())
        ))
        .await;
    assert_eq!(status, 200, "{tests}");
    assert!(tests.to_string().contains("\"old\""), "{tests:#}");

    // The id stays taken: the kept `submitted` still makes a new submit
    // with it conditional on nothing.
    let (status, body) = stack
        .submit(&queue("old", &repo.url(), &[("b", "chatty.sh")]))
        .await;
    assert_eq!(status, 409, "{body}");
    // Consumers that rely on sequences go on after the purges: the
    // scheduler dispatches, the worker's conditional publishes land, the
    // projector applies, and a log stream resumes by Last-Event-ID.
    run_queue(&stack, "after", &repo).await;
    let logs = js.get_stream("ARENA_LOGS").await.unwrap();
    let first = logs
        .direct_get_next_for_subject("arena.logs.recent", None)
        .await
        .unwrap()
        .sequence;
    let whole = crate::live::read_sse(&stack, "recent", None, None).await;
    let resumed = crate::live::read_sse(&stack, "recent", Some(first), None).await;
    let ids = |events: &[crate::live::Sse]| -> Vec<u64> {
        events
            .iter()
            .filter(|e| e.event == "log")
            .filter_map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(&whole).first(), Some(&first));
    assert_eq!(ids(&resumed), ids(&whole)[1..]);
    assert_eq!(resumed.last().unwrap().event, "end");
}

/// The snapshots in the bucket, by name.
async fn snapshot_names(stack: &TestStack) -> Vec<String> {
    let js = jetstream::new(stack.nats_client().await);
    let bucket = js.get_object_store("ARENA_SNAPSHOTS").await.unwrap();
    let mut list = bucket.list().await.unwrap();
    let mut names = Vec::new();
    while let Some(info) = list.next().await {
        names.push(info.unwrap().name);
    }
    names.sort();
    names
}

/// The views a rebuild from the newest snapshot and one from the start
/// give, and the snapshot's log line. The folders of `in_snapshot` are
/// written only by the projector following the rebuild.
fn assert_rebuilds_agree(stack: &TestStack, ids: &[&str], in_snapshot: &[&str]) {
    let from_snapshot = stack.rebuild_into("from-snapshot");
    for id in in_snapshot {
        let status = from_snapshot.join(id).join("queue_status.json");
        assert!(
            !status.exists(),
            "{} written by the rebuild",
            status.display()
        );
    }
    stack.restore_folders("from-snapshot", &from_snapshot);
    let from_start = stack.rebuild_into_with("from-start", &["--from-start"]);
    let log = stack.service_log("rebuild-from-snapshot");
    assert!(log.contains("rebuilding from a snapshot"), "{log}");
    let (a, b) = (snapshot(&from_snapshot), snapshot(&from_start));
    assert_eq!(
        a.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ids,
        "queues rebuilt"
    );
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.1, b.1, "view of {}", a.0);
        assert_eq!(a.2, b.2, "queue_status.json of {}", a.0);
        assert!(a.3.contains("line 50"), "{}: {}", a.0, a.3);
        assert_eq!(a.3, b.3, "queue_log.txt of {}", a.0);
    }
    assert_eq!(history(&from_snapshot), history(&from_start));
    crate::projection::assert_counts_are_the_views(&from_snapshot);
    crate::projection::assert_counts_are_the_views(&from_start);
    assert_eq!(sizes_snapshot(&from_snapshot), sizes_snapshot(&from_start));
}

#[tokio::test]
async fn a_rebuild_from_a_snapshot_equals_a_rebuild_from_the_start() {
    let mut stack = TestStack::start_with(StackOptions {
        worker_config: MEASURING_PROFILE.into(),
        role_users: true,
        ..Default::default()
    })
    .await;
    let repo = chatty_repo();
    run_queue(&stack, "q1", &repo).await;
    run_queue(&stack, "q2", &repo).await;
    // A clean shutdown stores a snapshot; q3 and q4 come after it, so a
    // rebuild from it replays them.
    stack.terminate_projector();
    let names = snapshot_names(&stack).await;
    assert_eq!(names.len(), 1, "{names:?}");
    stack.start_projector();
    run_queue(&stack, "q3", &repo).await;
    run_queue(&stack, "q4", &repo).await;
    stack.stop_gateway_side();
    assert_rebuilds_agree(&stack, &["q1", "q2", "q3", "q4"], &["q1", "q2"]);
}

/// What a projector killed during a snapshot's upload leaves: chunks
/// without metadata, and its local copy.
async fn leave_a_torn_upload(stack: &TestStack) {
    let js = jetstream::new(stack.nats_client().await);
    for n in 0..3 {
        js.publish("$O.ARENA_SNAPSHOTS.C.torn", vec![n; 1024].into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    std::fs::write(
        stack.data_dir().join("views.sqlite.snapshot"),
        b"half a copy",
    )
    .unwrap();
}

#[tokio::test]
async fn a_projector_killed_while_it_snapshots_leaves_the_previous_snapshot_usable() {
    let mut stack = TestStack::start_with(StackOptions {
        worker_config: MEASURING_PROFILE.into(),
        // A snapshot every 0.6 s, so the kills below come while one is taken.
        service_env: vec![("TESTARENA_SNAPSHOT_MINUTES".into(), "0.01".into())],
        ..Default::default()
    })
    .await;
    let repo = chatty_repo();
    run_queue(&stack, "k1", &repo).await;
    let deadline = Instant::now() + T;
    while snapshot_names(&stack).await.is_empty() {
        assert!(Instant::now() < deadline, "no snapshot stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // kill -9 while queues run and snapshots are copied and uploaded.
    for id in ["k2", "k3"] {
        let (status, body) = stack
            .submit(&queue(id, &repo.url(), &[("a", "chatty.sh")]))
            .await;
        assert!(status == 200 || status == 201, "{body}");
        tokio::time::sleep(Duration::from_millis(700)).await;
        stack.kill_projector();
        stack.start_projector();
    }
    for id in ["k2", "k3"] {
        stack.wait_terminal(id, T).await;
    }
    stack.kill_projector();
    leave_a_torn_upload(&stack).await;
    let names = snapshot_names(&stack).await;
    assert!(!names.is_empty() && names.len() <= 3, "{names:?}");
    assert_rebuilds_agree(&stack, &["k1", "k2", "k3"], &[]);
}
