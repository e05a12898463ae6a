//! Execution engine scenarios: per-task overhead, task throughput, mirror
//! reuse, and worker memory under a flooding task.

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use tokio::task::JoinSet;

use crate::fixtures::{queue_body, tree_size, GitRepo};
use crate::nats_tap::Tap;
use crate::procfs;
use crate::report::Row;
use crate::stack::{path_str, Services, Stack};
use crate::stats::{median, ms, summarize};

/// One queue of 200 tasks running `true`: the time a subscriber sees
/// between `task_started` and `task_finished`, minus what spawning
/// `sh -c true` directly costs.
pub async fn engine_overhead() -> Result<Vec<Row>> {
    const TASKS: usize = 200;
    let stack = Stack::start(Services::all(1)).await?;
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let client = stack.nats_client().await?;

    let ids: Vec<String> = (0..TASKS).map(|i| format!("t{i:03}")).collect();
    let tasks: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "noop.scn")).collect();
    // Warm-up: the mirror, the page cache, the worker's first spawns.
    stack
        .create(&queue_body("eo-warm", &repo.url(), "trivial", &tasks[..20]))
        .await?;
    stack
        .wait_terminal("eo-warm", Duration::from_secs(60))
        .await?;

    let mut tap = Tap::subscribe(&client, &["arena.events.eo-run.*".into()]).await?;
    stack
        .create(&queue_body("eo-run", &repo.url(), "trivial", &tasks))
        .await?;
    let mut started: HashMap<String, Instant> = HashMap::new();
    let mut started_order: Vec<Instant> = Vec::new();
    let mut interval_ms = Vec::new();
    let mut duration_ms = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let Some(received) = tap.next_before(deadline).await else {
            bail!("queue eo-run did not finish within 120 s");
        };
        let event = received.json();
        match event["type"].as_str() {
            Some("task_started") => {
                let task = event["task_id"].as_str().unwrap_or_default().to_owned();
                started.insert(task, received.at);
                started_order.push(received.at);
            }
            Some("task_finished") => {
                let task = event["task_id"].as_str().unwrap_or_default();
                if let Some(at) = started.get(task) {
                    interval_ms.push(ms(received.at - *at));
                }
                duration_ms.push(event["duration_ms"].as_f64().unwrap_or(f64::NAN));
            }
            Some("finished") => break,
            _ => {}
        }
    }
    let cycle_ms: Vec<f64> = started_order.windows(2).map(|w| ms(w[1] - w[0])).collect();

    // The command's own cost: the same `sh -c true`, spawned directly with
    // piped output in its own process group, as the worker does.
    let direct_ms = spawn_costs(TASKS, || {
        std::process::Command::new("sh")
            .args(["-c", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .output()
            .map(|_| ())
    })?;
    let mut tokio_ms = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let t = Instant::now();
        tokio::process::Command::new("sh")
            .args(["-c", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .output()
            .await?;
        tokio_ms.push(ms(t.elapsed()));
    }

    let direct = summarize(&direct_ms);
    let interval = summarize(&interval_ms);
    let cycle = summarize(&cycle_ms);
    let duration = summarize(&duration_ms);
    Ok(vec![
        Row::at_most(
            "overhead per task, p50 (task_started→task_finished − direct spawn)",
            interval.p50 - direct.p50,
            "ms",
            5.0,
        ),
        Row::at_most(
            "overhead per task, mean",
            interval.mean - direct.mean,
            "ms",
            5.0,
        ),
        Row::info("overhead per task, p99", interval.p99 - direct.p50, "ms"),
        Row::info("task_started → task_finished p50", interval.p50, "ms"),
        Row::info("task_finished.duration_ms p50", duration.p50, "ms"),
        Row::info(
            "task to task (task_started → next task_started) p50",
            cycle.p50,
            "ms",
        ),
        Row::info("direct `sh -c true` spawn p50 (std)", direct.p50, "ms"),
        Row::info(
            "direct `sh -c true` spawn p50 (tokio::process)",
            summarize(&tokio_ms).p50,
            "ms",
        ),
        Row::info("tasks measured", interval.n as f64, ""),
    ])
}

fn spawn_costs(n: usize, spawn: impl Fn() -> std::io::Result<()>) -> Result<Vec<f64>> {
    let mut costs = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        spawn().context("spawning sh -c true")?;
        costs.push(ms(t.elapsed()));
    }
    Ok(costs)
}

/// 500 queues × 4 `true` tasks of one local repository through one worker
/// with `--concurrency 4`: first submit to last `finished`.
pub async fn tasks_throughput() -> Result<Vec<Row>> {
    const QUEUES: usize = 500;
    const SUBMITTERS: usize = 8;
    let stack =
        Arc::new(Stack::start(Services::all(1).with_worker_args(&["--concurrency", "4"])).await?);
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let client = stack.nats_client().await?;
    let tasks = [
        ("a", "noop.scn"),
        ("b", "noop.scn"),
        ("c", "noop.scn"),
        ("d", "noop.scn"),
    ];
    for i in 0..4 {
        let id = format!("tp-warm-{i}");
        stack
            .create(&queue_body(&id, &repo.url(), "trivial", &tasks))
            .await?;
        stack.wait_terminal(&id, Duration::from_secs(60)).await?;
    }

    let mut tap = Tap::subscribe(
        &client,
        &[
            "arena.events.*.finished".into(),
            "arena.events.*.stage_finished".into(),
            "arena.events.*.task_finished".into(),
        ],
    )
    .await?;
    let first_submit = Instant::now();
    let mut submitters = JoinSet::new();
    for s in 0..SUBMITTERS {
        let stack = stack.clone();
        let repo = repo.url();
        submitters.spawn(async move {
            for q in (s..QUEUES).step_by(SUBMITTERS) {
                stack
                    .create(&queue_body(&format!("tp-{q}"), &repo, "trivial", &tasks))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = submitters.join_next().await {
        joined.context("a submitter panicked")??;
    }
    let all_submitted = first_submit.elapsed();

    let mut finished = 0usize;
    let mut passed = 0usize;
    let mut last = first_submit;
    let mut checkout_ms = Vec::new();
    let mut teardown_ms = Vec::new();
    let mut task_ms = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while finished < QUEUES {
        let Some(received) = tap.next_before(deadline).await else {
            break;
        };
        let (queue, kind) = received.event();
        if !queue.starts_with("tp-") || queue.starts_with("tp-warm") {
            continue;
        }
        let event = received.json();
        match kind {
            "finished" => {
                finished += 1;
                last = received.at;
            }
            "task_finished" => {
                passed += usize::from(event["result"] == "PASS");
                task_ms.push(event["duration_ms"].as_f64().unwrap_or(f64::NAN));
            }
            "stage_finished" => {
                let duration = event["duration_ms"].as_f64().unwrap_or(f64::NAN);
                match event["stage"].as_str() {
                    Some("checkout") => checkout_ms.push(duration),
                    Some("teardown") => teardown_ms.push(duration),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let elapsed = (last - first_submit).as_secs_f64();
    let mut rows = vec![Row::at_least(
        "tasks/s, first submit → last finished",
        (passed as f64) / elapsed,
        "/s",
        500.0,
    )];
    if finished < QUEUES {
        rows.push(Row::info(
            "queues finished before the 600 s limit (of 500)",
            finished as f64,
            "",
        ));
    }
    rows.extend([
        Row::info("wall time, first submit → last finished", elapsed, "s"),
        Row::info("queues/s", finished as f64 / elapsed, "/s"),
        Row::info("tasks PASS (of 2,000)", passed as f64, ""),
        Row::info("time to submit all 500", all_submitted.as_secs_f64(), "s"),
        Row::info("checkout stage p50", median(&checkout_ms), "ms"),
        Row::info("task duration_ms p50", median(&task_ms), "ms"),
        Row::info("teardown stage p50", median(&teardown_ms), "ms"),
    ]);
    Ok(rows)
}

/// A repository of ~30 MB in 3,000 files: one cold queue (clones the
/// mirror), then three queues after a new commit each (fetch). Stage
/// durations from the queue views; then the git steps alone, for the why.
pub async fn mirror_fetch() -> Result<Vec<Row>> {
    const FILES: usize = 3000;
    const BYTES_EACH: usize = 10_000;
    let making = Instant::now();
    let repo = tokio::task::spawn_blocking(|| GitRepo::large(FILES, BYTES_EACH))
        .await
        .context("generating the repository")??;
    println!(
        "  generated a {:.1} MB repository ({} files) in {:.1} s",
        tree_size(repo.dir.path()) as f64 / procfs::MB,
        FILES + 1,
        making.elapsed().as_secs_f64()
    );
    let stack = Stack::start(Services::all(1)).await?;
    let checkout = |view: &serde_json::Value| {
        view["stages"]
            .as_array()
            .and_then(|stages| stages.iter().find(|s| s["stage"] == "checkout"))
            .and_then(|s| s["duration_ms"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let cold_view = run_queue(&stack, &repo, "mf-cold").await?;
    let cold = checkout(&cold_view);
    let mut warm = Vec::new();
    for k in 0..3 {
        repo.commit(
            &[("src/changed.c", &format!("int change = {k};\n"))],
            "change",
        )?;
        let view = run_queue(&stack, &repo, &format!("mf-warm-{k}")).await?;
        warm.push(checkout(&view));
    }
    let warm_median = median(&warm);
    let mirror = stack.dir.path().join("worker-0/cache/mirrors");
    let mirror_mb = tree_size(&mirror) as f64 / procfs::MB;
    drop(stack);

    // The same git steps as the worker's checkout, each timed alone.
    let steps = tokio::task::spawn_blocking(move || git_steps(&repo))
        .await
        .context("timing git steps")??;
    let mut rows = vec![
        Row::at_most(
            "warm checkout / cold checkout (median of 3 warm)",
            100.0 * warm_median / cold,
            "%",
            10.0,
        ),
        Row::info("cold checkout stage (clone --mirror)", cold, "ms"),
        Row::info("warm checkout stage, median (fetch)", warm_median, "ms"),
        Row::info("mirror size on disk", mirror_mb, "MB"),
    ];
    for (step, took) in steps {
        rows.push(Row::info(format!("git alone: {step}"), took, "ms"));
    }
    Ok(rows)
}

async fn run_queue(stack: &Stack, repo: &GitRepo, id: &str) -> Result<serde_json::Value> {
    stack
        .create(&queue_body(id, &repo.url(), "trivial", &[("t", "README")]))
        .await?;
    let view = stack.wait_terminal(id, Duration::from_secs(300)).await?;
    if view["status"] != "Finished" {
        bail!("queue {id} ended {}: {view}", view["status"]);
    }
    Ok(view)
}

/// Times each git command the worker's checkout runs, cold and warm.
fn git_steps(repo: &GitRepo) -> Result<Vec<(&'static str, f64)>> {
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror.git");
    let timed = |args: &[&str]| -> Result<f64> {
        let t = Instant::now();
        let out = std::process::Command::new("git")
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(ms(t.elapsed()))
    };
    let url = repo.url();
    let mut steps = Vec::new();
    steps.push((
        "clone --mirror (cold)",
        timed(&[
            "clone",
            "--mirror",
            "--quiet",
            "--",
            &url,
            path_str(&mirror),
        ])?,
    ));
    let sha = repo.commit(&[("src/changed.c", "int change = 99;\n")], "change")?;
    steps.push((
        "fetch after one new commit (warm)",
        timed(&[
            "-C",
            path_str(&mirror),
            "fetch",
            "--prune",
            "--quiet",
            "origin",
        ])?,
    ));
    steps.push((
        "rev-parse",
        timed(&[
            "-C",
            path_str(&mirror),
            "rev-parse",
            "--verify",
            "--quiet",
            "main^{commit}",
        ])?,
    ));
    let dest = dir.path().join("src");
    steps.push((
        "clone --no-checkout from the mirror (workspace)",
        timed(&[
            "clone",
            "--quiet",
            "--no-checkout",
            "--",
            path_str(&mirror),
            path_str(&dest),
        ])?,
    ));
    steps.push((
        "checkout --detach (writes the working tree)",
        timed(&[
            "-C",
            path_str(&dest),
            "checkout",
            "--quiet",
            "--detach",
            &sha,
        ])?,
    ));
    let dest2 = dir.path().join("src2");
    steps.push((
        "DEBUG clone2",
        timed(&[
            "clone",
            "--quiet",
            "--no-checkout",
            "--",
            path_str(&mirror),
            path_str(&dest2),
        ])?,
    ));
    steps.push((
        "DEBUG checkout2",
        timed(&[
            "-C",
            path_str(&dest2),
            "checkout",
            "--quiet",
            "--detach",
            &sha,
        ])?,
    ));
    let t = Instant::now();
    let out = std::process::Command::new("strace")
        .args([
            "-f",
            "-c",
            "-o",
            "/tmp/mfx/strace.txt",
            "git",
            "-C",
            path_str(&dest2),
            "checkout",
            "--quiet",
            "--detach",
            "HEAD~1",
        ])
        .output()?;
    steps.push(("DEBUG strace checkout3", ms(t.elapsed())));
    let _ = out;
    Ok(steps)
}

/// One task prints 1 GB through the worker with the default 64 MiB log cap;
/// the worker's peak resident memory and what was stored.
pub async fn worker_flood_memory() -> Result<Vec<Row>> {
    const FLOOD_BYTES: u64 = 1_000_000_000;
    let stack = Stack::start(Services::all(1)).await?;
    let repo = GitRepo::new(&[
        (
            "flood.sh",
            &format!(
                "yes 'flood: one line of task output, about as long as a real log line is' | head -c {FLOOD_BYTES}\n"
            ),
        ),
        ("noop.scn", ""),
    ])?;
    stack
        .create(&queue_body(
            "fl-warm",
            &repo.url(),
            "trivial",
            &[("t", "noop.scn")],
        ))
        .await?;
    stack
        .wait_terminal("fl-warm", Duration::from_secs(60))
        .await?;
    let worker = stack.pid("worker-0").context("worker pid")?;
    let hwm_before = procfs::hwm_mb(worker);
    let cpu_before = procfs::cpu_seconds(worker);

    stack
        .create(&queue_body(
            "flood",
            &repo.url(),
            "sh",
            &[("f", "flood.sh")],
        ))
        .await?;
    // Sample while it runs, so a peak is seen even if VmHWM were reset.
    let mut peak_rss: f64 = 0.0;
    let deadline = Instant::now() + Duration::from_secs(900);
    let view = loop {
        peak_rss = peak_rss.max(procfs::rss_mb(worker));
        let (status, view) = stack.get("/api/queue/flood").await?;
        if status == 200
            && matches!(
                view["status"].as_str(),
                Some("Finished" | "Error" | "Cancelled")
            )
        {
            break view;
        }
        if Instant::now() > deadline {
            bail!("the flood queue did not end within 900 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let hwm = procfs::hwm_mb(worker);
    let cpu = procfs::cpu_seconds(worker) - cpu_before;
    let task_ms = view["tasks"][0]["duration_ms"].as_f64().unwrap_or(f64::NAN);
    let log_path = stack.data_dir().join("queues/flood/queue_log.txt");
    let stored = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let counted = cap_notice(&log_path);
    Ok(vec![
        Row::at_most("worker VmHWM after a task printed 1 GB", hwm, "MB", 50.0),
        Row::info(
            "worker VmRSS, highest sample during the flood",
            peak_rss,
            "MB",
        ),
        Row::info("worker VmHWM before the flood", hwm_before, "MB"),
        Row::info(
            "task result is PASS (1 = yes)",
            f64::from(u8::from(view["tasks"][0]["result"] == "PASS")),
            "",
        ),
        Row::info(
            "stored queue_log.txt (cap 64 MiB = 67.1 MB)",
            stored as f64 / procfs::MB,
            "MB",
        ),
        Row::info(
            "lines counted, not stored (from the cap notice)",
            counted,
            "",
        ),
        Row::info(
            "task duration (1 GB through the worker)",
            task_ms / 1e3,
            "s",
        ),
        Row::info(
            "worker throughput",
            FLOOD_BYTES as f64 / procfs::MB / (task_ms / 1e3),
            "MB/s",
        ),
        Row::info("worker CPU during the flood", cpu, "s"),
    ])
}

/// The count of lines the cap notice says were not stored.
fn cap_notice(log: &std::path::Path) -> f64 {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Ok(mut file) = std::fs::File::open(log) else {
        return f64::NAN;
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes)
        .lines()
        .rev()
        .find_map(|l| {
            let rest = l.split_once("reached: ")?.1;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .unwrap_or(f64::NAN)
}
