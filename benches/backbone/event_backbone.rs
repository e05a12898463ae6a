//! Event backbone scenarios: submit latency and throughput through the
//! gateway, the projector's rebuild rate, and idle memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use async_nats::jetstream;
use testarena_events::{
    ensure_streams, ArenaNames, Event, EventBody, FinalStatus, GitRef, JunitSummary, ProfileName,
    QueueId, RepoUrl, ScenarioPath, Source, Stage, StageOutcome, StreamLimits, TaskId, TaskResult,
    TaskSpec,
};
use tokio::task::JoinSet;

use crate::cpu_meter::CpuMeter;
use crate::fixtures::{queue_body, GitRepo};
use crate::nats_tap::Tap;
use crate::procfs;
use crate::report::Row;
use crate::stack::{Services, Stack};
use crate::stats::{median, ms, summarize};

const WAIT: Duration = Duration::from_secs(30);

/// Sequential submits, each after the previous queue finished, so the
/// worker is idle and waiting on its pull when the submit lands.
pub async fn submit_to_started() -> Result<Vec<Row>> {
    let stack = Stack::start(Services::all(1)).await?;
    let (started_ms, created_ms) = sequential_submits(&stack, "s2s", |_, _| {}).await?;
    let started = summarize(&started_ms);
    let created = summarize(&created_ms);
    Ok(vec![
        Row::at_most("submit → started p50", started.p50, "ms", 2.0),
        Row::at_most("submit → started p99", started.p99, "ms", 5.0),
        Row::info("submit → started p90", started.p90, "ms"),
        Row::info("submit → started max", started.max, "ms"),
        Row::info("submit → 201 response p50", created.p50, "ms"),
        Row::info("submit → 201 response p99", created.p99, "ms"),
        Row::info("submits measured", started.n as f64, ""),
    ])
}

/// Submits trivial queues one at a time, each after the previous one
/// finished (`shape` adds fields to the i-th body); the measured ones' ms
/// from the submit to their `started` event and to the 201 answer.
pub async fn sequential_submits(
    stack: &Stack,
    prefix: &str,
    shape: impl Fn(usize, &mut serde_json::Value),
) -> Result<(Vec<f64>, Vec<f64>)> {
    const WARMUP: usize = 20;
    const MEASURED: usize = 300;
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let client = stack.nats_client().await?;
    let mut tap = Tap::subscribe(
        &client,
        &[
            "arena.events.*.started".into(),
            "arena.events.*.finished".into(),
        ],
    )
    .await?;
    let mut started_ms = Vec::new();
    let mut created_ms = Vec::new();
    for i in 0..WARMUP + MEASURED {
        let id = format!("{prefix}-{i}");
        let mut body = queue_body(&id, &repo.url(), "trivial", &[("t", "noop.scn")]);
        shape(i, &mut body);
        let submitted = Instant::now();
        stack.create(&body).await?;
        let created = submitted.elapsed();
        let started = tap
            .wait_for(WAIT, "started event", |r| {
                r.event() == (id.as_str(), "started")
            })
            .await?;
        tap.wait_for(WAIT, "finished event", |r| {
            r.event() == (id.as_str(), "finished")
        })
        .await?;
        if i >= WARMUP {
            started_ms.push(ms(started.at - submitted));
            created_ms.push(ms(created));
        }
    }
    Ok((started_ms, created_ms))
}

/// Submits/s with 16 keep-alive clients, first with no worker (the
/// headline: gateway + projector + nats), then with one worker running
/// the queues on the same two cores. Three windows each; the median counts.
pub async fn submit_throughput() -> Result<Vec<Row>> {
    const CLIENTS: usize = 16;
    const WINDOW: Duration = Duration::from_secs(5);
    const ROUNDS: usize = 3;
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let mut rows = Vec::new();
    for (workers, label) in [(0, "no worker (headline)"), (1, "1 worker running them")] {
        let stack = Arc::new(Stack::start(Services::all(workers)).await?);
        let repo_url = repo.url();
        // Warm-up: connections, the database, cold caches.
        load(&stack, &repo_url, "warm", CLIENTS, Duration::from_secs(1)).await?;
        let meter = CpuMeter::start(stack.processes());
        let mut rates = Vec::new();
        let mut latencies = Vec::new();
        let mut others = 0u64;
        for round in 0..ROUNDS {
            let run = load(&stack, &repo_url, &format!("r{round}"), CLIENTS, WINDOW).await?;
            let created = run.statuses.get(&201).copied().unwrap_or(0);
            others += run
                .statuses
                .iter()
                .filter(|(s, _)| **s != 201)
                .map(|(_, n)| n)
                .sum::<u64>();
            rates.push(created as f64 / run.elapsed.as_secs_f64());
            latencies.extend(run.latencies_ms);
        }
        let cpu = meter.rows(&format!(", {label}"));
        let rate = summarize(&rates);
        let latency = summarize(&latencies);
        rows.push(Row::at_least(
            format!("201 submits/s, {label}, median of {ROUNDS}×5 s"),
            rate.p50,
            "/s",
            2000.0,
        ));
        rows.push(Row::info(
            format!("201 submits/s, slowest window, {label}"),
            rates.iter().copied().fold(f64::NAN, f64::min),
            "/s",
        ));
        rows.push(Row::info(
            format!("201 submits/s, fastest window, {label}"),
            rate.max,
            "/s",
        ));
        rows.push(Row::info(
            format!("POST latency p50, {label}"),
            latency.p50,
            "ms",
        ));
        rows.push(Row::info(
            format!("POST latency p99, {label}"),
            latency.p99,
            "ms",
        ));
        rows.push(Row::info(
            format!("answers other than 201, {label}"),
            others as f64,
            "",
        ));
        rows.extend(cpu);
    }
    Ok(rows)
}

/// Submits/s through the gateway when the streams are R3 on a 3-node
/// JetStream cluster on loopback (gateway + projector, no worker).
pub async fn cluster_submit_throughput() -> Result<Vec<Row>> {
    const CLIENTS: usize = 16;
    const WINDOW: Duration = Duration::from_secs(5);
    const ROUNDS: usize = 3;
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let mut stack = Stack::nats_only()?;
    let cluster = testarena::nats_server::NatsCluster::start(&stack.dir.path().join("cluster"), 3)
        .context("starting a 3-node nats cluster")?;
    stack.nats_url_override = Some(cluster.urls());
    stack.spawn("projector", &["projector", "--replicas", "3"])?;
    let port = testarena::nats_server::free_port()?;
    stack.base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    stack.spawn(
        "gateway",
        &["gateway", "--listen", &listen, "--replicas", "3"],
    )?;
    stack.spawn("scheduler", &["scheduler", "--replicas", "3"])?;
    stack.wait_ready().await?;
    let stack = Arc::new(stack);
    let repo_url = repo.url();
    load(&stack, &repo_url, "warm", CLIENTS, Duration::from_secs(1)).await?;
    let mut rates = Vec::new();
    for round in 0..ROUNDS {
        let run = load(&stack, &repo_url, &format!("c{round}"), CLIENTS, WINDOW).await?;
        let created = run.statuses.get(&201).copied().unwrap_or(0);
        rates.push(created as f64 / run.elapsed.as_secs_f64());
    }
    let rate = summarize(&rates);
    drop(cluster);
    Ok(vec![
        Row::at_least(
            format!("201 submits/s, R3 streams on 3 nodes, median of {ROUNDS}×5 s"),
            rate.p50,
            "/s",
            1000.0,
        ),
        Row::info(
            "201 submits/s, slowest window",
            rates.iter().copied().fold(f64::NAN, f64::min),
            "/s",
        ),
    ])
}

struct LoadRun {
    statuses: BTreeMap<u16, u64>,
    latencies_ms: Vec<f64>,
    elapsed: Duration,
}

/// `clients` tasks, each submitting back to back until `window` has passed.
async fn load(
    stack: &Arc<Stack>,
    repo: &str,
    tag: &str,
    clients: usize,
    window: Duration,
) -> Result<LoadRun> {
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let stack = stack.clone();
        let repo = repo.to_owned();
        let tag = tag.to_owned();
        tasks.spawn(async move {
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut latencies = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let body = queue_body(
                    &format!("{tag}-{c}-{n}"),
                    &repo,
                    "trivial",
                    &[("t", "noop.scn")],
                );
                n += 1;
                let sent = Instant::now();
                let status = match stack.submit(&body).await {
                    Ok((status, _)) => status,
                    Err(_) => 0,
                };
                latencies.push(ms(sent.elapsed()));
                *statuses.entry(status).or_default() += 1;
            }
            (statuses, latencies)
        });
    }
    let mut run = LoadRun {
        statuses: BTreeMap::new(),
        latencies_ms: Vec::new(),
        elapsed: Duration::ZERO,
    };
    while let Some(joined) = tasks.join_next().await {
        let (statuses, latencies) = joined.context("a client task panicked")?;
        for (status, n) in statuses {
            *run.statuses.entry(status).or_default() += n;
        }
        run.latencies_ms.extend(latencies);
    }
    run.elapsed = started.elapsed();
    Ok(run)
}

const REBUILD_QUEUES: usize = 20_000;
/// Queues whose events interleave in the stream, as with several workers.
pub(crate) const INTERLEAVED: usize = 8;

/// Fills the events stream with 20,000 complete queue histories, then
/// times `testarena projector --rebuild` three times into empty data dirs
/// (the median counts), and once more on tmpfs as a diagnostic.
pub async fn rebuild() -> Result<Vec<Row>> {
    let stack = Stack::nats_only()?;
    let client = stack.nats_client().await?;
    let js = jetstream::new(client);
    ensure_streams(&js, &ArenaNames::default(), &StreamLimits::default())
        .await
        .map_err(|e| anyhow::anyhow!("creating the streams: {e}"))?;
    let published = fill_histories(&js, 0..REBUILD_QUEUES).await?;

    let mut runs = Vec::new();
    for round in 0..3 {
        let data = stack.dir.path().join(format!("rebuilt-{round}"));
        // Kept until the end: deleting 20,000 folders between rounds would
        // slow the next round's inode allocation on a journal-less ext4.
        runs.push(rebuild_once(&stack, &data, &format!("rebuild-{round}")).await?);
    }
    let rates: Vec<f64> = runs.iter().map(|r| published as f64 / r.wall).collect();
    let logged: Vec<f64> = runs.iter().map(|r| r.logged_rate).collect();
    let median_run = {
        let mut by_wall: Vec<&RebuildRun> = runs.iter().collect();
        by_wall.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        by_wall[by_wall.len() / 2]
    };
    let mut rows = vec![
        Row::at_least(
            "events/s, whole process (start → exit), median of 3",
            median(&rates),
            "/s",
            50_000.0,
        ),
        Row::at_least(
            "events/s, as the projector logs it, median of 3",
            median(&logged),
            "/s",
            50_000.0,
        ),
        Row::info(
            "events/s, slowest of 3",
            rates.iter().copied().fold(f64::NAN, f64::min),
            "/s",
        ),
        Row::info(
            "events/s, fastest of 3",
            rates.iter().copied().fold(f64::NAN, f64::max),
            "/s",
        ),
        Row::info("events in the stream", published as f64, ""),
        Row::info("events the projector applied", median_run.logged_events, ""),
        Row::info("queue folders written", median_run.folders as f64, ""),
        Row::info("median run: wall time", median_run.wall, "s"),
        Row::info("median run: rebuild CPU, user", median_run.user, "s"),
        Row::info("median run: rebuild CPU, system", median_run.system, "s"),
        Row::info("median run: nats-server CPU", median_run.nats_cpu, "s"),
        Row::info(
            "median run: machine CPU busy, all processes",
            median_run.machine_busy,
            "s",
        ),
    ];
    // The same replay with the data dir on tmpfs: what the disk's
    // metadata operations cost (diagnostic, not the figure that counts).
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        let data = tempfile::tempdir_in(shm)?;
        let run = rebuild_once(&stack, data.path(), "rebuild-tmpfs").await?;
        rows.push(Row::info(
            "diagnostic: events/s with the data dir on tmpfs",
            published as f64 / run.wall,
            "/s",
        ));
        rows.push(Row::info("diagnostic: tmpfs run CPU, user", run.user, "s"));
        rows.push(Row::info(
            "diagnostic: tmpfs run CPU, system",
            run.system,
            "s",
        ));
    }
    Ok(rows)
}

/// Publishes the complete histories of queues `queues` (a multiple of
/// [`INTERLEAVED`] long) straight into the events stream, interleaved by
/// groups; returns how many events.
pub(crate) async fn fill_histories(
    js: &jetstream::Context,
    queues: std::ops::Range<usize>,
) -> Result<u64> {
    let names = ArenaNames::default();
    let filling = Instant::now();
    let mut acks = Vec::with_capacity(4096);
    let mut published = 0u64;
    for group in queues.start / INTERLEAVED..queues.end / INTERLEAVED {
        let histories: Vec<Vec<Event>> = (0..INTERLEAVED)
            .map(|i| history(group * INTERLEAVED + i))
            .collect::<Result<_>>()?;
        for step in 0..histories[0].len() {
            for queue in &histories {
                let event = &queue[step];
                let subject = names.event_subject(&event.queue_id, event.body.kind());
                acks.push(js.publish(subject, event.to_json().into()).await?);
                published += 1;
            }
        }
        if acks.len() >= 4000 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks.drain(..) {
        ack.await?;
    }
    println!(
        "  published {published} events of {} queues in {:.1} s",
        queues.len(),
        filling.elapsed().as_secs_f64()
    );
    Ok(published)
}

pub(crate) struct RebuildRun {
    pub wall: f64,
    logged_rate: f64,
    pub logged_events: f64,
    user: f64,
    system: f64,
    nats_cpu: f64,
    machine_busy: f64,
    folders: usize,
}

/// Runs `testarena projector --rebuild` into `data` and times it.
async fn rebuild_once(stack: &Stack, data: &std::path::Path, log_name: &str) -> Result<RebuildRun> {
    rebuild_with(stack, data, log_name, &[]).await
}

/// `rebuild_once` with more flags (`--from-start`).
pub(crate) async fn rebuild_with(
    stack: &Stack,
    data: &std::path::Path,
    log_name: &str,
    extra: &[&str],
) -> Result<RebuildRun> {
    let args: Vec<&str> = ["--log-format", "json", "projector", "--rebuild"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let mut command = stack.command(&args, log_name)?;
    command.env("TESTARENA_DATA_DIR", data);
    let nats_pid = stack.nats_pid().context("nats pid")?;
    let nats_cpu = procfs::cpu_seconds(nats_pid);
    let (user, system) = procfs::reaped_children_cpu();
    let machine = CpuMeter::start(Vec::new());
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .context("waiting for the rebuild")??;
    let wall = started.elapsed().as_secs_f64();
    let (user_after, system_after) = procfs::reaped_children_cpu();
    let nats_cpu = procfs::cpu_seconds(nats_pid) - nats_cpu;
    if !status.success() {
        bail!(
            "the rebuild failed ({status}); see {}",
            stack.log_path(log_name).display()
        );
    }
    let log = std::fs::read_to_string(stack.log_path(log_name)).unwrap_or_default();
    let logged = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["events_per_s"].is_number())
        .unwrap_or_default();
    let field = |name: &str| logged["fields"][name].as_f64().unwrap_or(f64::NAN);
    Ok(RebuildRun {
        wall,
        logged_rate: field("events_per_s"),
        logged_events: field("events"),
        user: user_after - user,
        system: system_after - system,
        nats_cpu,
        machine_busy: machine.machine_busy_seconds(),
        folders: std::fs::read_dir(data.join("queues"))
            .map(|d| d.flatten().count())
            .unwrap_or(0),
    })
}

/// A complete, valid history of one queue: submitted, started, checkout,
/// two tasks (one passing, one failing with JUnit counts), teardown, finished.
fn history(n: usize) -> Result<Vec<Event>> {
    let id = QueueId::parse(format!("rb-{n:07}"))?;
    let smoke = TaskId::parse("smoke")?;
    let fault = TaskId::parse("fault")?;
    let bodies = vec![
        EventBody::Submitted {
            source: Source {
                repo: RepoUrl::parse("https://git.example.com/firmware/blinky.git")?,
                git_ref: GitRef::parse("main")?,
            },
            profile: Some(ProfileName::parse("qemu-arm")?),
            tasks: vec![
                TaskSpec {
                    id: smoke.clone(),
                    scenario: ScenarioPath::parse("scenarios/smoke.scn")?,
                    timeout_s: None,
                    retries: None,
                },
                TaskSpec {
                    id: fault.clone(),
                    scenario: ScenarioPath::parse("scenarios/fault.scn")?,
                    timeout_s: Some(30),
                    retries: None,
                },
            ],
            requires: Vec::new(),
            priority: Default::default(),
            owner: None,
            shards: 1,
            claim_order: Vec::new(),
            bisect: None,
            rerun_of: None,
        },
        EventBody::Started {
            worker: "lab-rack1-w3".into(),
            attempt: 1,
        },
        EventBody::StageStarted {
            stage: Stage::Checkout,
            attempt: 1,
        },
        EventBody::StageFinished {
            stage: Stage::Checkout,
            attempt: 1,
            outcome: StageOutcome::Ok,
            duration_ms: 412,
            commit: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
            commit_context: None,
            message: None,
        },
        EventBody::TaskStarted {
            task_id: smoke.clone(),
            attempt: 1,
        },
        EventBody::TaskFinished {
            task_id: smoke,
            attempt: 1,
            result: TaskResult::Pass,
            exit_code: Some(0),
            duration_ms: 1800,
            junit: None,
            message: None,
            tries: Vec::new(),
        },
        EventBody::TaskStarted {
            task_id: fault.clone(),
            attempt: 1,
        },
        EventBody::TaskFinished {
            task_id: fault,
            attempt: 1,
            result: TaskResult::Fail,
            exit_code: Some(1),
            duration_ms: 12446,
            junit: Some(JunitSummary {
                tests: 5,
                failures: 1,
                errors: 0,
                skipped: 1,
                failed_cases: vec!["fault.hardfault_is_reported".into()],
                cases: vec![],
            }),
            message: Some("1 of 5 test cases failed".into()),
            tries: Vec::new(),
        },
        EventBody::StageStarted {
            stage: Stage::Teardown,
            attempt: 1,
        },
        EventBody::StageFinished {
            stage: Stage::Teardown,
            attempt: 1,
            outcome: StageOutcome::Ok,
            duration_ms: 3,
            commit: None,
            commit_context: None,
            message: None,
        },
        EventBody::Finished {
            status: FinalStatus::Finished,
            attempt: Some(1),
            reason: None,
        },
    ];
    Ok(bodies
        .into_iter()
        .map(|body| Event::new(id.clone(), body))
        .collect())
}

/// Resident memory once idle after a few queues ran: `testarena up` with
/// its nats-server, then each service as its own process.
pub async fn memory_idle() -> Result<Vec<Row>> {
    const SETTLE: Duration = Duration::from_secs(3);
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let mut rows = Vec::new();

    let up = Stack::up().await?;
    run_a_few(&up, &repo, "up").await?;
    tokio::time::sleep(SETTLE).await;
    let up_pid = up.pid("up").context("up pid")?;
    let nats_pid = up
        .nats_pid()
        .context("the nats-server of `testarena up` was not found among its children")?;
    let (up_rss, nats_rss) = (procfs::rss_mb(up_pid), procfs::rss_mb(nats_pid));
    rows.push(Row::at_most(
        "`up` + its nats-server, VmRSS sum",
        up_rss + nats_rss,
        "MB",
        45.0,
    ));
    rows.push(Row::info("`up` process VmRSS", up_rss, "MB"));
    rows.push(Row::info("its nats-server VmRSS", nats_rss, "MB"));
    rows.push(Row::info(
        "`up` process VmHWM (peak)",
        procfs::hwm_mb(up_pid),
        "MB",
    ));
    rows.push(Row::info(
        "`up` process, of VmRSS: file-backed (binary, libraries)",
        procfs::status_mb(up_pid, "RssFile"),
        "MB",
    ));
    rows.push(Row::info("`up` threads", threads(up_pid) as f64, ""));
    drop(up);

    let stack = Stack::start(Services::all(1)).await?;
    run_a_few(&stack, &repo, "sep").await?;
    tokio::time::sleep(SETTLE).await;
    for name in ["gateway", "scheduler", "projector", "worker-0"] {
        let pid = stack.pid(name).context("service pid")?;
        rows.push(Row::at_most(
            format!("{name} alone, VmRSS"),
            procfs::rss_mb(pid),
            "MB",
            20.0,
        ));
        rows.push(Row::info(
            format!("{name} alone, VmHWM (peak)"),
            procfs::hwm_mb(pid),
            "MB",
        ));
        rows.push(Row::info(
            format!("{name} alone, of VmRSS: file-backed (binary, libraries)"),
            procfs::status_mb(pid, "RssFile"),
            "MB",
        ));
    }
    if let Some(pid) = stack.nats_pid() {
        rows.push(Row::info(
            "nats-server beside them, VmRSS",
            procfs::rss_mb(pid),
            "MB",
        ));
    }
    Ok(rows)
}

async fn run_a_few(stack: &Stack, repo: &GitRepo, tag: &str) -> Result<()> {
    for i in 0..3 {
        let id = format!("{tag}-{i}");
        stack
            .create(&queue_body(
                &id,
                &repo.url(),
                "trivial",
                &[("a", "noop.scn"), ("b", "noop.scn")],
            ))
            .await?;
        stack.wait_passed(&id, WAIT).await?;
    }
    Ok(())
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Submit → the task's first instruction, as the peer harness measures it:
/// from the 201 answer to a `date +%s%N` the task's `sh` runs first. Once
/// with the ref a branch of a repository on this host, once with a full SHA
/// the mirror has; also `started` event → that stamp. Then `started` → the
/// task's own first act without the shell in between: the task command is
/// `date +%s%N` itself, its stamp read from the queue's log batch.
pub async fn first_task() -> Result<Vec<Row>> {
    let marks = tempfile::tempdir()?;
    let script = format!(
        "date +%s%N > {}/$TESTARENA_QUEUE_ID\n",
        marks.path().display()
    );
    let repo = GitRepo::new(&[])?;
    let sha = repo.commit(&[("mark.scn", script.as_str())], "mark")?;
    let stack = Stack::start(Services::all(1)).await?;
    let client = stack.nats_client().await?;
    let mut tap = Tap::subscribe(&client, &["arena.events.*.started".into()]).await?;
    let mut rows = Vec::new();
    for (label, git_ref) in [
        ("branch of a local repo", "main"),
        ("full SHA", sha.as_str()),
    ] {
        let mut probe = Probe {
            stack: &stack,
            tap: &mut tap,
            repo: &repo,
            git_ref,
        };
        let (to_task, started_to_task) = probe.rounds("sh", marks.path()).await?;
        let (all, after_started) = (summarize(&to_task), summarize(&started_to_task));
        let (p50_target, p99_target) = if git_ref == "main" {
            (5.0, f64::INFINITY)
        } else {
            (2.0, 5.0)
        };
        rows.push(Row::at_most(
            format!("submit → first task p50, {label}"),
            all.p50,
            "ms",
            p50_target,
        ));
        if p99_target.is_finite() {
            rows.push(Row::at_most(
                format!("submit → first task p99, {label}"),
                all.p99,
                "ms",
                p99_target,
            ));
        } else {
            rows.push(Row::info(
                format!("submit → first task p99, {label}"),
                all.p99,
                "ms",
            ));
        }
        rows.push(Row::info(
            format!("started → first task p50, {label}, the harness's way (sh, then date)"),
            after_started.p50,
            "ms",
        ));
    }
    // Only now the logs too: a subscriber of every batch costs the rounds
    // above nothing.
    let subjects = ["arena.events.*.started".into(), "arena.logs.*".into()];
    let mut tap = Tap::subscribe(&client, &subjects).await?;
    let mut probe = Probe {
        stack: &stack,
        tap: &mut tap,
        repo: &repo,
        git_ref: &sha,
    };
    let (to_task, started_to_task) = probe.rounds("stamp", marks.path()).await?;
    rows.push(Row::info(
        "submit → first task p50, full SHA, `date` as the task",
        summarize(&to_task).p50,
        "ms",
    ));
    rows.push(Row::at_most(
        "started → the task's first act p50, full SHA, `date` as the task",
        summarize(&started_to_task).p50,
        "ms",
        1.0,
    ));
    Ok(rows)
}

/// One series of `first_task`: queues of one task submitted one at a time.
struct Probe<'a> {
    stack: &'a Stack,
    tap: &'a mut Tap,
    repo: &'a GitRepo,
    git_ref: &'a str,
}

impl Probe<'_> {
    /// Per queue after a warm-up: 201 → stamp and `started` → stamp, in ms.
    /// The stamp is the file the `sh` profile's script writes in `marks`;
    /// for `stamp`, the line the task printed, read from its log batch.
    async fn rounds(
        &mut self,
        profile: &str,
        marks: &std::path::Path,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        const WARMUP: usize = 10;
        const MEASURED: usize = 100;
        let (mut to_task, mut started_to_task) = (Vec::new(), Vec::new());
        for i in 0..WARMUP + MEASURED {
            let id = format!("ft-{profile}-{}-{i}", self.git_ref.len());
            let mut body = queue_body(&id, &self.repo.url(), profile, &[("t", "mark.scn")]);
            body["source"]["ref"] = self.git_ref.into();
            self.stack.create(&body).await?;
            let answered = wall_ns();
            let started = self
                .tap
                .wait_for(WAIT, "started event", |r| {
                    r.event() == (id.as_str(), "started")
                })
                .await?;
            let stamp = match profile {
                "stamp" => self.printed_stamp(&id).await?,
                _ => wait_for_stamp(&marks.join(&id)).await?,
            };
            if i >= WARMUP {
                to_task.push((stamp as f64 - answered as f64) / 1e6);
                started_to_task.push((stamp as f64 - started.wall_ns as f64) / 1e6);
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Ok((to_task, started_to_task))
    }

    /// The wall clock the queue's task printed, from its log batch.
    async fn printed_stamp(&mut self, id: &str) -> Result<u128> {
        let subject = format!("arena.logs.{id}");
        let deadline = Instant::now() + WAIT;
        loop {
            let Some(received) = self.tap.next_before(deadline).await else {
                bail!("no stamp in the log of {id}");
            };
            if received.message.subject.as_str() != subject {
                continue;
            }
            let batch: testarena_events::LogBatch =
                serde_json::from_slice(&received.message.payload).context("a log batch")?;
            let printed = batch
                .lines
                .iter()
                .filter(|l| l.source.starts_with("task:"))
                .find_map(|l| l.text.trim().parse::<u128>().ok());
            if let Some(stamp) = printed {
                return Ok(stamp);
            }
        }
    }
}

fn wall_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The stamp a task wrote, once the file holds a whole line.
async fn wait_for_stamp(path: &std::path::Path) -> Result<u128> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Some(line) = text.strip_suffix('\n') {
                return line.trim().parse().context("a task's stamp");
            }
        }
        if Instant::now() > deadline {
            bail!("no stamp at {}", path.display());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}
