//! Sharding: the wall time of a 40-task queue on 4 slots with `shards: 4`
//! against the same queue with `shards: 1`, for tasks of 1 s each and for
//! the QEMU example's four scenarios repeated ten times (its build from the
//! build cache once a shard filled it; the example's profile reboots the
//! target after a failed task, as its fault scenario halts the firmware).
//! Wall time is submit → the view's terminal state, polled every 20 ms;
//! both runs must end with the same results.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::fixtures::{queue_body, GitRepo};
use crate::fleet::wait_for_workers;
use crate::report::Row;
use crate::stack::{Services, Stack};

const SLOTS: &str = "4";
const TASKS: usize = 40;
const WAIT: Duration = Duration::from_secs(900);

const SLEEP_PROFILE: &str = r#"
default_profile = "sh"
[profiles.sh]
task = "sh {scenario}"
task_timeout_s = 60
"#;

pub async fn sharding() -> Result<Vec<Row>> {
    let mut rows = one_second_tasks().await?;
    rows.extend(qemu_example().await?);
    Ok(rows)
}

async fn one_second_tasks() -> Result<Vec<Row>> {
    let mut stack = Stack::start(Services::all(0)).await?;
    stack.spawn_worker_with(0, SLEEP_PROFILE, &worker_args())?;
    wait_for_workers(&stack, 1).await?;
    let repo = GitRepo::new(&[("second.sh", "sleep 1\n")])?;
    let ids: Vec<String> = (0..TASKS).map(|i| format!("t{i:02}")).collect();
    let tasks: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "second.sh")).collect();
    let body = |id: &str| queue_body(id, &repo.url(), "sh", &tasks);
    // Warm-up: the mirror and the recorded durations.
    let warm = queue_body("sh-warm", &repo.url(), "sh", &tasks[..1]);
    wall_time(&stack, warm).await?;
    let one = wall_time(&stack, body("sh-1")).await?;
    let four = wall_time(&stack, sharded(body("sh-4"), 4)).await?;
    let (one, four) = same_results(one, four)?;
    Ok(ratio_rows("40 × 1 s tasks", one, four, 30.0))
}

async fn qemu_example() -> Result<Vec<Row>> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qemu-arm");
    let config = std::fs::read_to_string(example.join("worker.toml"))
        .context("reading the example's worker.toml")?
        .replace("# build_outputs =", "build_outputs =");
    let mut stack = Stack::start(Services::all(0)).await?;
    stack.spawn_worker_with(0, &config, &worker_args())?;
    wait_for_workers(&stack, 1).await?;
    let repo = example_repo(&example)?;
    let example_queue: Value =
        serde_json::from_str(&std::fs::read_to_string(example.join("queue.json"))?)?;
    let mut tasks = Vec::new();
    for round in 0..10 {
        for task in example_queue["tasks"]
            .as_array()
            .context("the example's tasks")?
        {
            let mut task = task.clone();
            task["id"] = json!(format!("{}-{round}", task["id"].as_str().unwrap_or("t")));
            tasks.push(task);
        }
    }
    let body = |id: &str, tasks: &[Value]| {
        let mut body = example_queue.clone();
        body["id"] = json!(id);
        body["source"]["repo"] = json!(repo.url());
        body["tasks"] = json!(tasks);
        body
    };
    // Warm-up: the mirror, the build cache and the recorded durations.
    wall_time(&stack, body("qemu-warm", &tasks[..4])).await?;
    let one = wall_time(&stack, body("qemu-1", &tasks)).await?;
    let four = wall_time(&stack, sharded(body("qemu-4", &tasks), 4)).await?;
    let (one, four) = same_results(one, four)?;
    Ok(ratio_rows(
        "QEMU example, 4 scenarios × 10",
        one,
        four,
        35.0,
    ))
}

fn worker_args() -> Vec<String> {
    ["--concurrency", SLOTS, "--heartbeat-ms", "500"]
        .map(String::from)
        .to_vec()
}

fn sharded(mut body: Value, shards: u8) -> Value {
    body["shards"] = json!(shards);
    body
}

/// Submit → the queue's end, in seconds; every task must have a result.
/// Also the results' counts: the two runs compared must agree on them.
async fn wall_time(stack: &Stack, body: Value) -> Result<(f64, Value)> {
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    stack.create(&body).await?;
    let view = stack.wait_terminal(&id, WAIT).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let counts = &view["counts"];
    anyhow::ensure!(
        view["status"] == "Finished" && counts["waiting"] == 0 && counts["cancelled"] == 0,
        "queue {id} did not run every task: {view}"
    );
    Ok((elapsed, counts.clone()))
}

/// The two runs' wall times, once they are shown to have the same results.
fn same_results(one: (f64, Value), four: (f64, Value)) -> Result<(f64, f64)> {
    anyhow::ensure!(
        one.1 == four.1,
        "shards 1 and 4 disagree on the results: {} vs {}",
        one.1,
        four.1
    );
    Ok((one.0, four.0))
}

fn ratio_rows(what: &str, one: f64, four: f64, limit: f64) -> Vec<Row> {
    vec![
        Row::info(format!("{what}, shards 1: wall time"), one, "s"),
        Row::info(format!("{what}, shards 4: wall time"), four, "s"),
        Row::at_most(
            format!("{what}: shards 4 / shards 1 on 4 slots"),
            four / one * 100.0,
            "%",
            limit,
        ),
    ]
}

/// The example copied into a fresh repository, committed.
fn example_repo(example: &Path) -> Result<GitRepo> {
    let repo = GitRepo::new(&[])?;
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", example.display()))
        .arg(repo.dir.path())
        .status()?;
    anyhow::ensure!(status.success(), "copying the example");
    repo.commit(&[], "firmware example")?;
    Ok(repo)
}
