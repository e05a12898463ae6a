//! The projector: exactly-once views across a kill, and a rebuild that
//! gives the same views from the stream alone.

use std::path::Path;
use std::time::Duration;

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(90);

/// Every queue's view JSON (minus nothing) and its folder files, sorted by id.
pub(crate) fn snapshot(data: &Path) -> Vec<(String, String, String, String)> {
    let script = "[print(r[0]+'\\t'+r[1]) for r in c.execute('select id, view_json from queues order by id')]";
    python_sqlite(data, script)
        .iter()
        .map(|line| {
            let (id, json) = line.split_once('\t').unwrap();
            let folder = data.join("queues").join(id);
            (
                id.to_owned(),
                json.to_owned(),
                std::fs::read_to_string(folder.join("queue_status.json")).unwrap_or_default(),
                std::fs::read_to_string(folder.join("queue_log.txt")).unwrap_or_default(),
            )
        })
        .collect()
}

/// The rows `queries` select from the views database, one line per row.
pub(crate) fn rows(data: &Path, queries: &[&str]) -> Vec<String> {
    let script = queries
        .iter()
        .map(|q| format!("[print(r) for r in c.execute('{q}')]"))
        .collect::<Vec<_>>()
        .join("; ");
    python_sqlite(data, &script)
}

/// The lines `script` prints, run by python3 with `c` connected to the
/// views database.
fn python_sqlite(data: &Path, script: &str) -> Vec<String> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); {script}"
        ))
        .arg(data.join("views.sqlite"))
        .output()
        .expect("python3 reads sqlite");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The `/metrics` counts the projector keeps (`view_counts`) equal a count
/// over the views' rows.
pub(crate) fn assert_counts_are_the_views(data: &Path) {
    let kept = rows(
        data,
        &["select kind, key, n from view_counts where n != 0 order by kind, key"],
    );
    let scanned = rows(
        data,
        &[
            "select \\'queue_status\\', status, count(*) from queues group by status order by 2",
            "select \\'task_result\\', coalesce(json_extract(t.value, \\'$.result\\'), json_extract(t.value, \\'$.status\\')) as r, count(*) from queues q, json_each(q.view_json, \\'$.tasks\\') t group by r order by r",
        ],
    );
    assert!(!kept.is_empty(), "no counts kept in {}", data.display());
    assert_eq!(kept, scanned, "view_counts of {}", data.display());
}

/// The test history tables, row by row in key order.
pub(crate) fn history(data: &Path) -> String {
    rows(
        data,
        &[
            "select * from tests order by id",
            "select * from test_runs order by test_id, seq, try",
        ],
    )
    .join("\n")
}

/// The `firmware_sizes` table, one line per row, sorted by queue.
pub(crate) fn sizes_snapshot(data: &Path) -> Vec<String> {
    rows(data, &["select * from firmware_sizes order by queue_id"])
}

/// The `bisects` table, one line per row, sorted by id.
pub(crate) fn bisects_snapshot(data: &Path) -> Vec<String> {
    rows(data, &["select * from bisects order by id"])
}

/// The `worker_changes` table, one line per row, in stream order.
fn worker_changes_snapshot(data: &Path) -> Vec<String> {
    rows(data, &["select * from worker_changes order by seq"])
}

/// Every queue stores a build artifact and its result files, and measures
/// an ELF (the host's `true`), so views carry artifacts and firmware sizes;
/// every queue after the first restores its build from the build cache
/// (a `cached` stage).
pub(crate) const MEASURING_PROFILE: &str = r#"
default_profile = "sh"
[profiles.sh]
build = "mkdir -p out && cp /bin/true out/fw.elf"
build_outputs = ["out/fw.elf"]
artifacts = ["out/*.elf"]
elf = "out/fw.elf"
task = "sh {scenario}"
"#;

#[tokio::test]
async fn a_projector_killed_mid_stream_and_restarted_matches_a_rebuild() {
    let mut stack = TestStack::start_with(StackOptions {
        workers: 1,
        worker_config: MEASURING_PROFILE.into(),
        ..Default::default()
    })
    .await;
    let markers = tempfile::tempdir().unwrap();
    let repo = GitRepo::new(&[
        (
            "chatty.sh",
            // "[i/200]" is progress the projector folds into the running task.
            "for i in $(seq 1 200); do echo \"[$i/200] line $i\"; done; echo $i > \"$TESTARENA_RESULT_DIR/count.txt\"\n",
        ),
        ("flaky.sh", &crate::results::fails_once(markers.path())),
    ]);
    // A bisect folded with the rest (its one step passes: Inconclusive).
    let bisect = serde_json::json!({"id": "b-proj", "source": {"repo": repo.url()}, "bad": "main",
        "tasks": [{"id": "a", "scenario": "chatty.sh"}, {"id": "b", "scenario": "chatty.sh"}]});
    let (status, body) = stack
        .request(reqwest::Method::POST, "/api/bisect", Some(&bisect))
        .await;
    assert_eq!(status, 201, "{body}");
    let mut ids: Vec<String> = (0..12).map(|i| format!("p{i:02}")).collect();
    for (n, id) in ids.iter().enumerate() {
        // Test history: a task retried to FLAKY, quarantined half-way.
        let mut body = queue(
            id,
            &repo.url(),
            &[("a", "chatty.sh"), ("b", "chatty.sh"), ("f", "flaky.sh")],
        );
        body["tasks"][2]["retries"] = 1.into();
        if n == 3 {
            // Shard-tagged events and log lines, claims, shard ends.
            body["shards"] = 2.into();
        }
        stack.submit(&body).await;
        if n == 6 {
            let test = serde_json::json!({"repo": repo.url(), "task": "f", "reason": "flaky"});
            let (status, body) = stack
                .request(reqwest::Method::POST, "/api/tests/quarantine", Some(&test))
                .await;
            assert!(status == 200 || status == 202, "{body}");
        }
        if n == 4 || n == 8 {
            // Kill it while events and log batches are flowing.
            tokio::time::sleep(Duration::from_millis(150)).await;
            stack.restart_projector();
        }
    }
    for id in &ids {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished", "{view}");
    }
    // A queue submitted after those expects their tasks' durations.
    let last = "p12".to_owned();
    stack
        .submit(&queue(
            &last,
            &repo.url(),
            &[("a", "chatty.sh"), ("b", "chatty.sh")],
        ))
        .await;
    let view = stack.wait_terminal(&last, T).await;
    for task in view["tasks"].as_array().unwrap() {
        assert!(task["expected_duration_ms"].is_u64(), "{view}");
        assert!(
            task["progress"].is_null(),
            "an ended task has no progress: {view}"
        );
    }
    assert!(view["firmware"]["text"].as_u64().unwrap() > 0, "{view}");
    assert_eq!(view["artifacts"].as_array().unwrap().len(), 3, "{view}");
    assert_eq!(view["stages"][1]["stage"], "build", "{view}");
    assert_eq!(view["stages"][1]["status"], "cached", "{view}");
    ids.push(last);
    let bisect = stack
        .wait_for_path("/api/bisect/b-proj", T, |v| v["status"] != "Running")
        .await;
    assert_eq!(bisect["status"], "Inconclusive", "{bisect:#}");
    ids.push(bisect["steps"][0]["queues"][0].as_str().unwrap().to_owned());
    ids.sort();
    // Let the log stream catch up too, then compare with a rebuild.
    let expected_lines = 2 * 200 + 2;
    for id in &ids {
        let deadline = std::time::Instant::now() + T;
        loop {
            let log = stack.text(&format!("/api/queue/{id}/log")).await;
            if log.matches("line ").count() >= 400 {
                assert!(log.lines().count() >= expected_lines, "{id}: {log}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{id} log incomplete");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A drain and a readmit: worker events, folded like the rest.
    for path in [
        "/api/workers/worker-0/drain",
        "/api/workers/worker-0/readmit?profile=sh",
    ] {
        let (status, body) = stack.request(reqwest::Method::POST, path, None).await;
        assert_eq!(status, 200, "{body}");
    }
    stack.stop_gateway_side();
    let live = snapshot(&stack.data_dir());
    let rebuilt_dir = stack.rebuild_into("rebuilt");
    let rebuilt = snapshot(&rebuilt_dir);
    assert_counts_are_the_views(&stack.data_dir());
    assert_counts_are_the_views(&rebuilt_dir);
    let live_history = history(&stack.data_dir());
    assert!(
        // The retried task is one FLAKY run carrying its failed try.
        live_history.contains("'FLAKY'")
            && live_history.contains(r#""result":"FAIL""#)
            && live_history.contains(", 1, 'flaky', "),
        "{live_history}"
    );
    assert_eq!(
        live_history,
        history(&rebuilt_dir),
        "test history and quarantines differ after rebuild"
    );
    let live_sizes = sizes_snapshot(&stack.data_dir());
    assert_eq!(live_sizes.len(), ids.len(), "{live_sizes:#?}");
    assert_eq!(
        live_sizes,
        sizes_snapshot(&rebuilt_dir),
        "firmware sizes differ after rebuild"
    );
    let live_bisects = bisects_snapshot(&stack.data_dir());
    assert_eq!(live_bisects.len(), 1, "{live_bisects:#?}");
    assert_eq!(
        live_bisects,
        bisects_snapshot(&rebuilt_dir),
        "bisects differ after rebuild"
    );
    let live_workers = worker_changes_snapshot(&stack.data_dir());
    assert_eq!(live_workers.len(), 2, "{live_workers:#?}");
    assert_eq!(
        live_workers,
        worker_changes_snapshot(&rebuilt_dir),
        "worker changes differ after rebuild"
    );
    assert_eq!(live.len(), ids.len());
    for (a, b) in live.iter().zip(rebuilt.iter()) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1, "view of {} differs after rebuild", a.0);
        assert_eq!(a.2, b.2, "queue_status.json of {} differs", a.0);
        assert_eq!(
            a.3, b.3,
            "queue_log.txt of {} differs (lost or doubled lines)",
            a.0
        );
        assert_eq!(
            a.3.matches("line 17\n").count(),
            2,
            "each line exactly once per task"
        );
    }
}
