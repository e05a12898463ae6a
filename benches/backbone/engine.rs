//! Execution engine scenarios: per-task overhead, task throughput, mirror
//! reuse, and worker memory under a flooding task.

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use tokio::task::JoinSet;

use crate::cpu_meter::CpuMeter;
use crate::fixtures::{queue_body, tree_size, GitRepo};
use crate::nats_tap::Tap;
use crate::procfs;
use crate::report::Row;
use crate::stack::{path_str, remove_later, Services, Stack};
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
        .wait_passed("eo-warm", Duration::from_secs(60))
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
        stack.wait_passed(&id, Duration::from_secs(60)).await?;
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
    let meter = CpuMeter::start(stack.processes());
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
    let cpu = meter.rows("");
    let machine_ms_per_queue = meter.machine_busy_seconds() * 1000.0 / finished.max(1) as f64;
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
        Row::info(
            "machine CPU per queue (busy time / queues)",
            machine_ms_per_queue,
            "ms",
        ),
    ]);
    rows.extend(cpu);
    // Which queues fetched the mirror: their stored logs say (read after
    // the run, so it costs the measurement nothing).
    let fetched = (0..QUEUES)
        .filter(|q| {
            let log = stack
                .data_dir()
                .join(format!("queues/tp-{q}/queue_log.txt"));
            std::fs::read_to_string(log).is_ok_and(|l| l.contains("] fetching "))
        })
        .count();
    rows.push(Row::info(
        "queues that fetched the mirror (of 500; the rest used a later fetch)",
        fetched as f64,
        "",
    ));
    drop(stack);
    let url = repo.url();
    let costs = tokio::task::spawn_blocking(move || per_queue_processes(&url))
        .await
        .context("timing the per-queue processes")??;
    for (what, cpu) in costs {
        rows.push(Row::info(
            format!("alone, CPU per queue: {what}"),
            cpu,
            "ms",
        ));
    }
    Ok(rows)
}

/// A repository of 30 MB in 3,000 files, reached two ways: as a `file://`
/// URL (git transfers packs, as from a remote) and as a plain path (git
/// hard-links the objects). For each: one cold queue (clones the mirror),
/// then three queues after a new commit each (fetch). Stage durations come
/// from the queue views; then each git step alone, to show where it goes.
pub async fn mirror_fetch() -> Result<Vec<Row>> {
    const FILES: usize = 3000;
    const BYTES_EACH: usize = 10_000;
    let repo = tokio::task::spawn_blocking(|| GitRepo::large(FILES, BYTES_EACH))
        .await
        .context("generating the repository")??;
    let total = tree_size(repo.dir.path());
    let work_tree_mb = (total - tree_size(&repo.dir.path().join(".git"))) as f64 / procfs::MB;
    let stack = Stack::start(Services::all(1)).await?;
    let checkout = |view: &serde_json::Value| {
        view["stages"]
            .as_array()
            .and_then(|stages| stages.iter().find(|s| s["stage"] == "checkout"))
            .and_then(|s| s["duration_ms"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let mut rows = Vec::new();
    let mut details = Vec::new();
    let file_url = format!("file://{}", repo.url());
    for (tag, url, label) in [
        ("file", file_url.as_str(), "file:// URL"),
        ("path", repo.url().as_str(), "plain path"),
    ] {
        let cold = checkout(&run_queue(&stack, url, &format!("mf-{tag}-cold")).await?);
        let mut warm = Vec::new();
        for k in 0..3 {
            repo.commit(
                &[("src/changed.c", &format!("int change_{tag} = {k};\n"))],
                "change",
            )?;
            let view = run_queue(&stack, url, &format!("mf-{tag}-warm-{k}")).await?;
            warm.push(checkout(&view));
        }
        let warm_median = median(&warm);
        rows.push(Row::at_most(
            format!("warm / cold checkout stage, {label}"),
            100.0 * warm_median / cold,
            "%",
            10.0,
        ));
        details.push(Row::info(
            format!("cold checkout stage (clone --mirror), {label}"),
            cold,
            "ms",
        ));
        details.push(Row::info(
            format!("warm checkout stage, median of 3 (fetch), {label}"),
            warm_median,
            "ms",
        ));
    }
    rows.extend(details);
    rows.push(Row::info(
        "working tree of the repository",
        work_tree_mb,
        "MB",
    ));
    rows.push(Row::info(
        "its mirrors on the worker's disk (both URLs)",
        tree_size(&stack.dir.path().join("worker-0/cache/mirrors")) as f64 / procfs::MB,
        "MB",
    ));
    drop(stack);

    // The worker's checkout steps, each timed alone: wall and CPU time.
    let steps = tokio::task::spawn_blocking(move || git_steps(&repo, &file_url))
        .await
        .context("timing git steps")??;
    for (step, wall, cpu) in steps {
        rows.push(Row::info(format!("git alone: {step}, wall"), wall, "ms"));
        rows.push(Row::info(format!("git alone: {step}, CPU"), cpu, "ms"));
    }
    Ok(rows)
}

async fn run_queue(stack: &Stack, url: &str, id: &str) -> Result<serde_json::Value> {
    stack
        .create(&queue_body(id, url, "trivial", &[("t", "README")]))
        .await?;
    stack.wait_passed(id, Duration::from_secs(300)).await
}

/// Runs a command to its end: (wall ms, user + system CPU ms of it and
/// the processes it started).
fn timed(program: &str, args: &[&str]) -> Result<(f64, f64)> {
    let cpu = procfs::reaped_children_cpu_seconds();
    let t = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program}"))?;
    let wall = ms(t.elapsed());
    if !out.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((wall, (procfs::reaped_children_cpu_seconds() - cpu) * 1e3))
}

/// CPU each child process of one queue's run costs on its own, for this
/// small repository with its mirror already there (mean of 20 runs). The
/// rest of a warm checkout (resolving the ref, moving the worktree) runs
/// inside the worker with libgit2 and is part of the worker's own CPU.
fn per_queue_processes(url: &str) -> Result<Vec<(&'static str, f64)>> {
    const RUNS: usize = 20;
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror.git");
    timed(
        "git",
        &["clone", "--mirror", "--quiet", "--", url, path_str(&mirror)],
    )?;
    let fetch = [
        "-C",
        path_str(&mirror),
        "fetch",
        "--prune",
        "--quiet",
        "--no-auto-maintenance",
        "origin",
    ];
    let (mut fetch_cpu, mut shell_cpu) = (0.0, 0.0);
    for _ in 0..RUNS {
        fetch_cpu += timed("git", &fetch)?.1;
        shell_cpu += timed("sh", &["-c", "true"])?.1;
    }
    let n = RUNS as f64;
    let costs = vec![
        (
            "git fetch (nothing new, no auto-maintenance), incl. its helpers; only when no later fetch serves the queue",
            fetch_cpu / n,
        ),
        ("4 × sh -c true (the tasks)", 4.0 * shell_cpu / n),
    ];
    remove_later(dir);
    Ok(costs)
}

/// Times each git command of the worker's checkout (cold, then warm after
/// a new commit): (step, wall ms, user + system CPU ms).
fn git_steps(repo: &GitRepo, url: &str) -> Result<Vec<(&'static str, f64, f64)>> {
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror.git");
    let mut steps = Vec::new();
    let mut step = |name: &'static str, args: &[&str]| -> Result<()> {
        let (wall, cpu) = timed("git", args)?;
        steps.push((name, wall, cpu));
        Ok(())
    };
    step(
        "clone --mirror of the file:// URL (cold)",
        &["clone", "--mirror", "--quiet", "--", url, path_str(&mirror)],
    )?;
    let sha = repo.commit(&[("src/changed.c", "int change = 99;\n")], "change")?;
    step(
        "fetch after one new commit (warm)",
        &[
            "-C",
            path_str(&mirror),
            "fetch",
            "--prune",
            "--quiet",
            "origin",
        ],
    )?;
    let dest = dir.path().join("src");
    step(
        "clone --no-checkout from the mirror (workspace)",
        &[
            "clone",
            "--quiet",
            "--no-checkout",
            "--",
            path_str(&mirror),
            path_str(&dest),
        ],
    )?;
    step(
        "checkout --detach (writes the 30 MB working tree)",
        &[
            "-C",
            path_str(&dest),
            "checkout",
            "--quiet",
            "--detach",
            &sha,
        ],
    )?;
    // What a reused worktree would cost instead: the first checkout writes
    // everything, the next queue's commit only what changed.
    let worktree = dir.path().join("worktree");
    step(
        "worktree add --detach (full write, for comparison)",
        &[
            "-C",
            path_str(&mirror),
            "worktree",
            "add",
            "--quiet",
            "--detach",
            path_str(&worktree),
            &sha,
        ],
    )?;
    // The first checkouts after a full write re-hash every "racily clean"
    // file (written in the same second as the index); a worktree reused
    // across queues is past that, so the third checkout is the steady state.
    let incremental = |n: u32| -> Result<(f64, f64)> {
        std::thread::sleep(Duration::from_secs(2));
        let next = repo.commit(
            &[("src/changed.c", &format!("int change = {};\n", 100 + n))],
            "change",
        )?;
        timed(
            "git",
            &[
                "-C",
                path_str(&mirror),
                "fetch",
                "--prune",
                "--quiet",
                "origin",
            ],
        )?;
        timed(
            "git",
            &[
                "-C",
                path_str(&worktree),
                "checkout",
                "--quiet",
                "--detach",
                &next,
            ],
        )
    };
    let mut last = (f64::NAN, f64::NAN);
    for n in 0..3 {
        last = incremental(n)?;
    }
    steps.push((
        "checkout --detach of a new commit in a reused worktree (incremental, steady state)",
        last.0,
        last.1,
    ));
    remove_later(dir);
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
        .wait_passed("fl-warm", Duration::from_secs(60))
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
