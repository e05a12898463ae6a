//! A project shaped like a real C library's own unit tests: 300 generated
//! C files in a static library and 12 test programs that print a Unity
//! line per case and Unity's summary. Run by hand (`make -j2`, then the
//! programs with `xargs -P2`) and as a queue (`shards` = the worker's 2
//! slots, cases read by the `unity` preset), side by side on the same
//! cores: the cold queue against the hand-run build and tests, the requeue
//! of the same commit (its build restored) against the hand-run tests.
//! Every case line must come back as a case, each once.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::build_cache::c_file;
use crate::fixtures::{queue_body, GitRepo};
use crate::fleet::wait_for_workers;
use crate::report::Row;
use crate::stack::{Services, Stack};

const FILES: usize = 300;
const PROGRAMS: usize = 12;
const SLOTS: &str = "2";
/// Calls of a generated function per case: a case takes about 10 ms.
const CALLS_PER_CASE: u32 = 40_000;
const WAIT: Duration = Duration::from_secs(1800);

const PROFILE: &str = r#"
default_profile = "suite"
[profiles.suite]
build = "make -s -j2"
build_timeout_s = 1800
build_outputs = ["build/t*"]
scenario_kind = "name"
task = "./build/{scenario}"
task_timeout_s = 600
[profiles.suite.cases]
format = "unity"
"#;

const MAKEFILE: &str = "SRCS := $(wildcard src/*.c)\nOBJS := $(SRCS:src/%.c=build/%.o)\n\
TESTS := $(patsubst tests/%.c,build/%,$(wildcard tests/*.c))\n\
all: $(TESTS)\n\
build/libproj.a: $(OBJS)\n\tar rcs $@ $(OBJS)\n\
build/t%: tests/t%.c build/libproj.a\n\tcc -O1 -o $@ $< build/libproj.a\n\
build/%.o: src/%.c\n\t@mkdir -p build\n\tcc -O2 -c $< -o $@\n";

/// Cases of program `p`: 30 to 74, 624 in all.
fn cases_of(p: usize) -> usize {
    30 + 4 * p
}

/// Test program `p`: each case runs a generated function of the library
/// many times and prints Unity's `file:line:name:PASS`; then the summary.
fn test_program(p: usize) -> String {
    let used: Vec<(usize, usize)> = (0..8).map(|k| ((p * 23 + k * 37) % FILES, k)).collect();
    let mut out = String::from("#include <stdio.h>\n#include <stdint.h>\n");
    for (file, function) in &used {
        let _ = writeln!(out, "uint32_t f{file}_{function}(uint32_t);");
    }
    let table: Vec<String> = used.iter().map(|(f, j)| format!("f{f}_{j}")).collect();
    let _ = write!(
        out,
        "static uint32_t (*const table[8])(uint32_t) = {{{table}}};\n\
         int main(void) {{\n  int n = {cases};\n  for (int c = 0; c < n; c++) {{\n    \
         volatile uint32_t acc = (uint32_t)c;\n    \
         for (uint32_t r = 0; r < {CALLS_PER_CASE}u; r++) acc = table[c % 8](acc);\n    \
         printf(\"tests/t{p:02}.c:%d:test_case_%d:PASS\\n\", 100 + c, c);\n  }}\n  \
         printf(\"\\n-----------------------\\n%d Tests 0 Failures 0 Ignored \\nOK\\n\", n);\n  \
         return 0;\n}}\n",
        table = table.join(", "),
        cases = cases_of(p),
    );
    out
}

fn project() -> Result<GitRepo> {
    let mut sources: Vec<(String, String)> = (0..FILES)
        .map(|i| (format!("src/f{i:03}.c"), c_file(i, 0)))
        .collect();
    sources.extend((0..PROGRAMS).map(|p| (format!("tests/t{p:02}.c"), test_program(p))));
    let mut files: Vec<(&str, &str)> = sources
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    files.push(("Makefile", MAKEFILE));
    GitRepo::new(&files)
}

/// The hand-run: a clone of its own, built with `make -j2`, then the 12
/// programs run by `xargs -P2`, each printing into `build/tNN.out`.
struct ByHand {
    _dir: tempfile::TempDir,
    clone: std::path::PathBuf,
}

impl ByHand {
    fn clone_of(repo: &GitRepo) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let clone = dir.path().join("clone");
        run(Command::new("git")
            .args(["clone", "-q", &repo.url()])
            .arg(&clone))?;
        Ok(Self { _dir: dir, clone })
    }

    /// Seconds of `make -s -j2`.
    fn build(&self) -> Result<f64> {
        let started = Instant::now();
        run(Command::new("make")
            .args(["-s", "-j2"])
            .current_dir(&self.clone))?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Seconds of the 12 programs by `xargs -P2`, and the case lines they printed.
    fn tests(&self) -> Result<(f64, usize)> {
        let started = Instant::now();
        run(Command::new("sh")
            .args([
                "-c",
                "ls build/t?? | xargs -P2 -n1 sh -c '\"$0\" > \"$0.out\"'",
            ])
            .current_dir(&self.clone))?;
        let seconds = started.elapsed().as_secs_f64();
        Ok((seconds, case_lines(&self.clone.join("build"))?))
    }
}

fn case_lines(build: &Path) -> Result<usize> {
    let mut lines = 0;
    for p in 0..PROGRAMS {
        let out = std::fs::read_to_string(build.join(format!("t{p:02}.out")))?;
        lines += out.lines().filter(|l| l.ends_with(":PASS")).count();
    }
    Ok(lines)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("{command:?}"))?;
    anyhow::ensure!(status.success(), "{command:?}: {status}");
    Ok(())
}

/// Submit → the queue passed, in seconds, with its view.
async fn queue_run(stack: &Stack, repo: &GitRepo, id: &str) -> Result<(f64, Value)> {
    let tasks: Vec<(String, String)> = (0..PROGRAMS)
        .map(|p| (format!("t{p:02}"), format!("t{p:02}")))
        .collect();
    let tasks: Vec<(&str, &str)> = tasks
        .iter()
        .map(|(t, s)| (t.as_str(), s.as_str()))
        .collect();
    let mut body = queue_body(id, &repo.url(), "suite", &tasks);
    body["shards"] = json!(2);
    let started = Instant::now();
    stack.create(&body).await?;
    let view = stack.wait_passed(id, WAIT).await?;
    Ok((started.elapsed().as_secs_f64(), view))
}

/// Where a queue's time went: the longest checkout and build stage of a
/// shard, and the tasks' own durations spread over the slots.
fn time_spent(view: &Value) -> (f64, f64, f64) {
    let stage_max = |name: &str| {
        view["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["stage"] == name)
            .filter_map(|s| s["duration_ms"].as_f64())
            .fold(0.0, f64::max)
            / 1000.0
    };
    let tasks: f64 = view["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["duration_ms"].as_f64())
        .sum();
    (stage_max("checkout"), stage_max("build"), tasks / 2000.0)
}

/// Seconds from `from` to `to`, two RFC 3339 stamps of a view.
fn between(from: &Value, to: &Value) -> f64 {
    let at = |v: &Value| {
        let text = v.as_str().unwrap_or_default();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
            .unwrap_or(f64::NAN)
    };
    at(to) - at(from)
}

/// Submit → the first stage began, and the last task's end → the queue's end.
fn edges(view: &Value) -> (f64, f64) {
    let stages = view["stages"].as_array().cloned().unwrap_or_default();
    let first_stage = stages
        .iter()
        .map(|s| between(&view["submitted_at"], &s["started_at"]))
        .fold(f64::INFINITY, f64::min);
    let tasks = view["tasks"].as_array().cloned().unwrap_or_default();
    let last_task = tasks
        .iter()
        .map(|t| between(&t["finished_at"], &view["finished_at"]))
        .fold(f64::INFINITY, f64::min);
    (first_stage, last_task)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Cases the view holds over every task, and the build stages' statuses.
fn cases_and_builds(view: &Value) -> (u64, Vec<String>) {
    let tasks = view["tasks"].as_array().cloned().unwrap_or_default();
    let cases = tasks
        .iter()
        .map(|t| t["junit"]["tests"].as_u64().unwrap_or(0))
        .sum();
    let mut builds: Vec<String> = view["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["stage"] == "build")
        .map(|s| s["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    builds.sort();
    (cases, builds)
}

/// Rounds of (hand-run tests, requeue), interleaved so a change of the
/// machine's load touches both alike; the medians are compared.
const ROUNDS: usize = 3;

pub async fn real_project() -> Result<Vec<Row>> {
    let repo = project()?;
    let hand = ByHand::clone_of(&repo)?;
    let hand_build = hand.build()?;
    let expected: usize = (0..PROGRAMS).map(cases_of).sum();
    let mut stack = Stack::start(Services::all(0)).await?;
    stack.spawn_worker_with(0, PROFILE, &["--concurrency".into(), SLOTS.into()])?;
    wait_for_workers(&stack, 1).await?;
    let (cold, cold_view) = queue_run(&stack, &repo, "cold").await?;
    let (mut hand_runs, mut requeues) = (Vec::new(), Vec::new());
    let mut requeue_view = Value::Null;
    for round in 0..ROUNDS {
        let (seconds, printed) = hand.tests()?;
        anyhow::ensure!(
            printed == expected,
            "the programs printed {printed} cases, not {expected}"
        );
        hand_runs.push(seconds);
        let (seconds, view) = queue_run(&stack, &repo, &format!("requeue-{round}")).await?;
        requeues.push(seconds);
        requeue_view = view;
    }
    drop(stack);
    let (hand_tests, requeue) = (median(&mut hand_runs), median(&mut requeues));
    let (cold_cases, cold_builds) = cases_and_builds(&cold_view);
    let (requeue_cases, requeue_builds) = cases_and_builds(&requeue_view);
    anyhow::ensure!(
        cold_builds == ["ok", "shared"],
        "cold build stages: {cold_builds:?}"
    );
    anyhow::ensure!(
        requeue_builds.iter().all(|b| b == "cached"),
        "requeue build stages: {requeue_builds:?}"
    );
    let by_hand = hand_build + hand_tests;
    let (checkout, build, tasks) = time_spent(&requeue_view);
    let (to_first_stage, after_last_task) = edges(&requeue_view);
    Ok(vec![
        Row::info("requeue: submit → first stage", to_first_stage, "s"),
        Row::info("requeue: last task → queue finished", after_last_task, "s"),
        Row::info("requeue: longest checkout stage", checkout, "s"),
        Row::info("requeue: longest build stage (restore)", build, "s"),
        Row::info("requeue: task durations / 2 slots", tasks, "s"),
        Row::info("by hand: make -j2", hand_build, "s"),
        Row::info(
            "by hand: 12 programs, xargs -P2 (median of 3)",
            hand_tests,
            "s",
        ),
        Row::info("cold queue, shards 2 (one build)", cold, "s"),
        Row::info(
            "requeue, shards 2 (build restored; median of 3)",
            requeue,
            "s",
        ),
        Row::at_most(
            "cold queue / by hand (build + tests)",
            cold / by_hand,
            "×",
            1.15,
        ),
        Row::at_most(
            "requeue / by hand (tests alone)",
            requeue / hand_tests,
            "×",
            1.10,
        ),
        Row::at_most(
            "cases parsed − case lines printed, cold (each once)",
            (cold_cases as f64 - expected as f64).abs(),
            "",
            0.0,
        ),
        Row::at_most(
            "cases parsed − case lines printed, requeue",
            (requeue_cases as f64 - expected as f64).abs(),
            "",
            0.0,
        ),
    ])
}
