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

use crate::fixtures::{queue_body, GitRepo};
use crate::nats_tap::Tap;
use crate::procfs;
use crate::report::Row;
use crate::stack::{Services, Stack};
use crate::stats::{ms, summarize};

const WAIT: Duration = Duration::from_secs(30);

/// Sequential submits, each after the previous queue finished, so the
/// worker is idle and waiting on its pull when the submit lands.
pub async fn submit_to_started() -> Result<Vec<Row>> {
    const WARMUP: usize = 20;
    const MEASURED: usize = 300;
    let stack = Stack::start(Services::all(1)).await?;
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
        let id = format!("s2s-{i}");
        let body = queue_body(&id, &repo.url(), "trivial", &[("t", "noop.scn")]);
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

/// Submits/s with 16 keep-alive clients, first with no worker (the
/// headline: gateway + projector + nats), then with one worker running
/// the queues on the same two cores.
pub async fn submit_throughput() -> Result<Vec<Row>> {
    const CLIENTS: usize = 16;
    const WINDOW: Duration = Duration::from_secs(6);
    let repo = GitRepo::new(&[("noop.scn", "")])?;
    let mut rows = Vec::new();
    for (workers, label) in [(0, "no worker (headline)"), (1, "1 worker running them")] {
        let stack = Stack::start(Services::all(workers)).await?;
        let stack = Arc::new(stack);
        let repo_url = repo.url();
        // Warm-up: connections, the database, the JIT-free but cache-cold paths.
        load(&stack, &repo_url, "warm", CLIENTS, Duration::from_secs(1)).await?;
        let run = load(&stack, &repo_url, "run", CLIENTS, WINDOW).await?;
        let created = run.statuses.get(&201).copied().unwrap_or(0);
        let others: u64 = run
            .statuses
            .iter()
            .filter(|(s, _)| **s != 201)
            .map(|(_, n)| n)
            .sum();
        let latency = summarize(&run.latencies_ms);
        rows.push(Row::at_least(
            format!("201 submits/s, {label}"),
            created as f64 / run.elapsed.as_secs_f64(),
            "/s",
            2000.0,
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
        rows.push(Row::info(
            format!("gateway CPU during the run, {label}"),
            run.cpu.get("gateway").copied().unwrap_or(f64::NAN),
            "s",
        ));
        rows.push(Row::info(
            format!("projector CPU during the run, {label}"),
            run.cpu.get("projector").copied().unwrap_or(f64::NAN),
            "s",
        ));
        rows.push(Row::info(
            format!("nats-server CPU during the run, {label}"),
            run.cpu.get("nats").copied().unwrap_or(f64::NAN),
            "s",
        ));
    }
    Ok(rows)
}

struct LoadRun {
    statuses: BTreeMap<u16, u64>,
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    /// CPU seconds each process used during the run.
    cpu: BTreeMap<&'static str, f64>,
}

/// `clients` tasks, each submitting back to back until `window` has passed.
async fn load(
    stack: &Arc<Stack>,
    repo: &str,
    tag: &str,
    clients: usize,
    window: Duration,
) -> Result<LoadRun> {
    let pids: Vec<(&'static str, Option<u32>)> = vec![
        ("gateway", stack.pid("gateway")),
        ("projector", stack.pid("projector")),
        ("nats", stack.nats_pid()),
    ];
    let cpu_before: Vec<f64> = pids
        .iter()
        .map(|(_, p)| p.map_or(f64::NAN, procfs::cpu_seconds))
        .collect();
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
        cpu: BTreeMap::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (statuses, latencies) = joined.context("a client task panicked")?;
        for (status, n) in statuses {
            *run.statuses.entry(status).or_default() += n;
        }
        run.latencies_ms.extend(latencies);
    }
    run.elapsed = started.elapsed();
    for ((name, pid), before) in pids.iter().zip(cpu_before) {
        if let Some(pid) = pid {
            run.cpu.insert(name, procfs::cpu_seconds(*pid) - before);
        }
    }
    Ok(run)
}

const REBUILD_QUEUES: usize = 20_000;
/// Queues whose events interleave in the stream, as with several workers.
const INTERLEAVED: usize = 8;

/// Fills the events stream with 20,000 complete queue histories, then
/// times `testarena projector --rebuild` into an empty data dir.
pub async fn rebuild() -> Result<Vec<Row>> {
    let stack = Stack::nats_only()?;
    let client = stack.nats_client().await?;
    let js = jetstream::new(client);
    ensure_streams(&js, &ArenaNames::default(), &StreamLimits::default())
        .await
        .map_err(|e| anyhow::anyhow!("creating the streams: {e}"))?;
    let names = ArenaNames::default();

    let filling = Instant::now();
    let mut acks = Vec::with_capacity(4096);
    let mut published = 0u64;
    for group in 0..REBUILD_QUEUES / INTERLEAVED {
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
        "  filled the events stream with {published} events in {:.1} s",
        filling.elapsed().as_secs_f64()
    );

    let data = stack.dir.path().join("rebuilt");
    let mut command = stack.command(
        &["--log-format", "json", "projector", "--rebuild"],
        "rebuild",
    )?;
    command.env("TESTARENA_DATA_DIR", &data);
    let nats_pid = stack.nats_pid().context("nats pid")?;
    let nats_cpu = procfs::cpu_seconds(nats_pid);
    let children_cpu = procfs::reaped_children_cpu_seconds();
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .context("waiting for the rebuild")??;
    let wall = started.elapsed().as_secs_f64();
    let rebuild_cpu = procfs::reaped_children_cpu_seconds() - children_cpu;
    let nats_cpu = procfs::cpu_seconds(nats_pid) - nats_cpu;
    if !status.success() {
        bail!(
            "the rebuild failed ({status}); see {}",
            stack.log_path("rebuild").display()
        );
    }
    let log = std::fs::read_to_string(stack.log_path("rebuild")).unwrap_or_default();
    let logged = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["events_per_s"].is_number());
    let (logged_rate, logged_events, logged_seconds) = match &logged {
        Some(line) => (
            line["fields"]["events_per_s"].as_f64().unwrap_or(f64::NAN),
            line["fields"]["events"].as_f64().unwrap_or(f64::NAN),
            line["fields"]["seconds"].as_f64().unwrap_or(f64::NAN),
        ),
        None => (f64::NAN, f64::NAN, f64::NAN),
    };
    let folders = std::fs::read_dir(data.join("queues"))
        .map(|d| d.flatten().count())
        .unwrap_or(0);
    Ok(vec![
        Row::at_least(
            "events/s, whole process (start → exit)",
            published as f64 / wall,
            "/s",
            50_000.0,
        ),
        Row::at_least(
            "events/s, as the projector logs it",
            logged_rate,
            "/s",
            50_000.0,
        ),
        Row::info("events in the stream", published as f64, ""),
        Row::info("events the projector applied", logged_events, ""),
        Row::info("rebuild wall time", wall, "s"),
        Row::info("rebuild time the projector logs", logged_seconds, "s"),
        Row::info("rebuild CPU (user + sys)", rebuild_cpu, "s"),
        Row::info("nats-server CPU during the rebuild", nats_cpu, "s"),
        Row::info("queue folders written", folders as f64, ""),
    ])
}

/// A complete, valid history of one queue: submitted, started, checkout,
/// two tasks (one passing, one failing with JUnit counts), teardown, finished.
fn history(n: usize) -> Result<Vec<Event>> {
    let id = QueueId::parse(format!("rb-{n:05}"))?;
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
                },
                TaskSpec {
                    id: fault.clone(),
                    scenario: ScenarioPath::parse("scenarios/fault.scn")?,
                    timeout_s: Some(30),
                },
            ],
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
            }),
            message: Some("1 of 5 test cases failed".into()),
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
    rows.push(Row::info("`up` threads", threads(up_pid) as f64, ""));
    drop(up);

    let stack = Stack::start(Services::all(1)).await?;
    run_a_few(&stack, &repo, "sep").await?;
    tokio::time::sleep(SETTLE).await;
    for name in ["gateway", "projector", "worker-0"] {
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
        let view = stack.wait_terminal(&id, WAIT).await?;
        if view["status"] != "Finished" {
            bail!("queue {id} ended {}: {view}", view["status"]);
        }
    }
    Ok(())
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}
