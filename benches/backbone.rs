//! TestArena's performance benchmark. Each scenario starts its own real
//! processes — the release `testarena` binary, a private nats-server on a
//! free loopback port, temp dirs, real git repositories — measures, and
//! prints its figures against the targets. A miss is reported, never
//! asserted: the run always completes and shows every number.
//!
//! `cargo bench --bench backbone` runs every scenario;
//! `cargo bench --bench backbone -- <name>...` runs the scenarios whose
//! name contains one of the given words; `-- --list` lists them.
//! The method of each scenario is in `docs/benchmarks.md`.

#[path = "backbone/artifacts.rs"]
mod artifacts;
#[path = "backbone/backlog.rs"]
mod backlog;
#[path = "backbone/build_cache.rs"]
mod build_cache;
#[path = "backbone/cpu_meter.rs"]
mod cpu_meter;
#[path = "backbone/engine.rs"]
mod engine;
#[path = "backbone/event_backbone.rs"]
mod event_backbone;
#[path = "backbone/fixtures.rs"]
mod fixtures;
#[path = "backbone/fleet.rs"]
mod fleet;
#[path = "backbone/jetstream_sync.rs"]
mod jetstream_sync;
#[path = "backbone/list_page.rs"]
mod list_page;
#[path = "backbone/live_logs.rs"]
mod live_logs;
#[path = "backbone/log_search.rs"]
mod log_search;
#[path = "backbone/many_workers.rs"]
mod many_workers;
#[path = "backbone/nats_tap.rs"]
mod nats_tap;
#[path = "backbone/procfs.rs"]
mod procfs;
#[path = "backbone/publishing.rs"]
mod publishing;
#[path = "backbone/real_project.rs"]
mod real_project;
#[path = "backbone/rebuild_snapshot.rs"]
mod rebuild_snapshot;
#[path = "backbone/report.rs"]
mod report;
#[path = "backbone/sharding.rs"]
mod sharding;
#[path = "backbone/sse.rs"]
mod sse;
#[path = "backbone/stack.rs"]
mod stack;
#[path = "backbone/stats.rs"]
mod stats;
#[path = "backbone/test_history.rs"]
mod test_history;

use std::process::ExitCode;
use std::time::Instant;

use futures_util::future::BoxFuture;

use crate::report::{Row, ScenarioReport};

/// A scenario's rows; on error, the rows it had so far are lost but the
/// error is reported in their place.
type Outcome = anyhow::Result<Vec<Row>>;

struct Scenario {
    name: &'static str,
    what: &'static str,
    run: fn() -> BoxFuture<'static, Outcome>,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "submit_to_started",
        what: "submit → `started` event at a NATS subscriber, idle worker",
        run: || Box::pin(event_backbone::submit_to_started()),
    },
    Scenario {
        name: "first_task",
        what: "submit → a task's first instruction, branch ref and full SHA",
        run: || Box::pin(event_backbone::first_task()),
    },
    Scenario {
        name: "routing_pools",
        what: "submit → `started` with 4 capability pools vs one; idle heartbeat CPU",
        run: || Box::pin(fleet::routing_pools()),
    },
    Scenario {
        name: "many_workers",
        what: "50 worker processes on one `up`: idle CPU of the stack, trivial queues/s",
        run: || Box::pin(many_workers::many_workers()),
    },
    Scenario {
        name: "backlog",
        what: "1,000 / 10,000 / 100,000 waiting: submits/s, drain-and-run/s, CPU each, list page",
        run: || Box::pin(backlog::backlog()),
    },
    Scenario {
        name: "submit_throughput",
        what: "201 submits/s through the gateway, 16 keep-alive clients",
        run: || Box::pin(event_backbone::submit_throughput()),
    },
    Scenario {
        name: "cluster_submit_throughput",
        what: "201 submits/s through the gateway on a 3-node R3 JetStream cluster",
        run: || Box::pin(event_backbone::cluster_submit_throughput()),
    },
    Scenario {
        name: "jetstream_sync",
        what: "events/s into the events stream with the default sync_interval and with `sync_interval: always`",
        run: || Box::pin(jetstream_sync::jetstream_sync()),
    },
    Scenario {
        name: "rebuild",
        what: "`testarena projector --rebuild` replay rate",
        run: || Box::pin(event_backbone::rebuild()),
    },
    Scenario {
        name: "test_history",
        what: "GET /api/tests and one test's history with 1,000,000 recorded runs",
        run: || Box::pin(test_history::test_history()),
    },
    Scenario {
        name: "memory_idle",
        what: "resident memory of `up` and of each service alone, idle",
        run: || Box::pin(event_backbone::memory_idle()),
    },
    Scenario {
        name: "list_page",
        what: "GET /api/queues?per_page=50 with 1,000,000 finished queues: first, deep (cursor) and filtered pages",
        run: || Box::pin(list_page::list_page()),
    },
    Scenario {
        name: "engine_overhead",
        what: "engine cost per task beyond the command's own run time",
        run: || Box::pin(engine::engine_overhead()),
    },
    Scenario {
        name: "rebuild_snapshot",
        what: "`--rebuild` from a snapshot taken near the end vs from the start, 1,000,000 queues",
        run: || Box::pin(rebuild_snapshot::rebuild_snapshot()),
    },
    Scenario {
        name: "tasks_throughput",
        what: "500 queues × 4 trivial tasks, worker --concurrency 4",
        run: || Box::pin(engine::tasks_throughput()),
    },
    Scenario {
        name: "mirror_fetch",
        what: "checkout of an already mirrored repo vs a cold clone",
        run: || Box::pin(engine::mirror_fetch()),
    },
    Scenario {
        name: "build_cache",
        what: "300-file C build: cold, same-commit requeue (cached), one file changed (ccache)",
        run: || Box::pin(build_cache::build_cache()),
    },
    Scenario {
        name: "real_project",
        what: "300 C files and 12 Unity test programs: a sharded queue against make -j2 + xargs -P2",
        run: || Box::pin(real_project::real_project()),
    },
    Scenario {
        name: "sharding",
        what: "40 tasks on 4 slots, shards 4 vs 1: 1 s tasks and the QEMU example",
        run: || Box::pin(sharding::sharding()),
    },
    Scenario {
        name: "worker_flood_memory",
        what: "worker peak memory while a task prints 1 GB",
        run: || Box::pin(engine::worker_flood_memory()),
    },
    Scenario {
        name: "log_latency",
        what: "task line → NATS subscriber and SSE client",
        run: || Box::pin(live_logs::log_latency()),
    },
    Scenario {
        name: "artifact_round_trip",
        what: "a 64 MiB artifact up (worker put) and down (gateway stream)",
        run: || Box::pin(artifacts::artifact_round_trip()),
    },
    Scenario {
        name: "artifact_stream_memory",
        what: "gateway memory while streaming a 1 GiB artifact",
        run: || Box::pin(artifacts::artifact_stream_memory()),
    },
    Scenario {
        name: "log_search",
        what: "search a 1,000,000-line log and read 400 lines of it by number",
        run: || Box::pin(log_search::log_search()),
    },
    Scenario {
        name: "sse_fanout_memory",
        what: "gateway memory for 100 SSE clients of one busy queue",
        run: || Box::pin(live_logs::sse_fanout_memory()),
    },
];

fn main() -> ExitCode {
    // Cargo passes `--bench`; every other non-flag argument is a filter.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for scenario in SCENARIOS {
            println!("{:<20} {}", scenario.name, scenario.what);
        }
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches` runs this binary without `--bench`: it
        // compiled, which is all a test run should ask of minutes of load.
        println!("backbone: run with `cargo bench --bench backbone`; nothing to do in a test run");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let selected: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        eprintln!("no scenario matches {filters:?}; there are:");
        for scenario in SCENARIOS {
            eprintln!("  {}", scenario.name);
        }
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    let date = testarena_events::now_rfc3339();
    println!("TestArena backbone benchmark, {date}");
    println!("binary: {}", stack::BIN);
    let machine = procfs::machine();
    for (key, value) in &machine {
        println!("{key:>12}: {value}");
    }

    let mut reports = Vec::new();
    for scenario in selected {
        println!();
        println!("== {}: {} ==", scenario.name, scenario.what);
        let load_before = procfs::loadavg();
        let started = Instant::now();
        let outcome = runtime.block_on((scenario.run)());
        let (rows, error) = match outcome {
            Ok(rows) => (rows, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        let report = ScenarioReport {
            name: scenario.name,
            load_before,
            load_after: procfs::loadavg(),
            seconds: started.elapsed().as_secs_f64(),
            rows,
            error,
        };
        report::print_scenario(&report);
        reports.push(report);
    }
    report::print_summary(&reports);
    stack::remove_deferred();

    let markdown = report::markdown(&reports, &date, &machine);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("backbone-latest.md");
    match std::fs::write(&path, markdown) {
        Ok(()) => println!("\nMarkdown table written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
    ExitCode::SUCCESS
}
