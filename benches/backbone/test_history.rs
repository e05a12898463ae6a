//! Test history at scale: 1,000 queues of two tasks with 500 JUnit cases
//! each go through the events stream and the projector (1,002 tests,
//! 1,002,000 recorded runs), then `GET /api/tests` (every test over its last
//! 30 runs) and one test's `GET /api/tests/history` are timed through the
//! gateway. The rebuild rate with history on is the `rebuild` scenario's
//! (its queues' tasks record runs too).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use testarena_events::{
    Event, EventBody, FinalStatus, GitRef, JunitCase, JunitSummary, QueueId, RepoUrl, ScenarioPath,
    Source, Stage, StageOutcome, TaskId, TaskResult, TaskSpec,
};

use crate::publishing::publish_runs;
use crate::report::Row;
use crate::stack::{Services, Stack};
use crate::stats::summarize;

const QUEUES: usize = 1_000;
const TASKS: [&str; 2] = ["suite_a", "suite_b"];
const CASES: usize = 500;
const LIST_REQUESTS: usize = 100;
const HISTORY_REQUESTS: usize = 500;
const REPO: &str = "https://git.example/fw.git";

pub async fn test_history() -> Result<Vec<Row>> {
    let stack = Stack::start(Services::all(0)).await?;
    let filling = Instant::now();
    let published = publish_runs(&stack, QUEUES, history).await?;
    let last = format!("th-{:04}", QUEUES - 1);
    stack
        .wait_terminal(&last, Duration::from_secs(1200))
        .await
        .context("waiting for the projector to apply every queue")?;
    let folded = filling.elapsed().as_secs_f64();
    let runs = count_runs(&stack)?;
    println!("  {published} events, {runs} runs recorded in {folded:.1} s");

    let list = stack
        .time_gets(LIST_REQUESTS, 5, |_| "/api/tests".to_owned())
        .await?;
    let history = stack
        .time_gets(HISTORY_REQUESTS, 5, |i| {
            let case = format!("board.case_{:03}", (i * 7) % CASES);
            let params = [
                ("repo", REPO),
                ("task", TASKS[i % TASKS.len()]),
                ("case", &case),
            ];
            let url = reqwest::Url::parse_with_params("http://gateway/api/tests/history", params)
                .expect("a valid URL");
            format!("{}?{}", url.path(), url.query().unwrap_or_default())
        })
        .await?;
    let (list, history) = (summarize(&list), summarize(&history));
    Ok(vec![
        Row::at_most("GET /api/tests, p99", list.p99, "ms", 50.0),
        Row::info("GET /api/tests, p50", list.p50, "ms"),
        Row::at_most(
            "GET /api/tests/history (one test), p99",
            history.p99,
            "ms",
            10.0,
        ),
        Row::info("GET /api/tests/history (one test), p50", history.p50, "ms"),
        Row::info("test runs recorded", runs as f64, ""),
        Row::info("tests", (TASKS.len() * (CASES + 1)) as f64, ""),
        Row::info("events published", published as f64, ""),
        Row::info("publish + projector fold, wall time", folded, "s"),
    ])
}

fn count_runs(stack: &Stack) -> Result<u64> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from test_runs').fetchone()[0])")
        .arg(stack.data_dir().join("views.sqlite"))
        .output()
        .context("python3 counts the runs")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}

/// One queue: two tasks of 500 cases on its own commit; a case fails now
/// and then, so tests flip and some tasks fail.
fn history(n: usize) -> Result<Vec<Event>> {
    let id = QueueId::parse(format!("th-{n:04}"))?;
    let event = |body| Event::new(id.clone(), body);
    let mut events = vec![
        event(EventBody::Submitted {
            source: Source {
                repo: RepoUrl::parse(REPO)?,
                git_ref: GitRef::parse("main")?,
            },
            profile: None,
            tasks: TASKS
                .iter()
                .map(|t| {
                    Ok(TaskSpec {
                        id: TaskId::parse(*t)?,
                        scenario: ScenarioPath::parse(format!("{t}.scn"))?,
                        timeout_s: None,
                        retries: None,
                    })
                })
                .collect::<Result<_>>()?,
            requires: Vec::new(),
            priority: Default::default(),
            owner: None,
            shards: 1,
            claim_order: Vec::new(),
            bisect: None,
            rerun_of: None,
        }),
        event(EventBody::Started {
            worker: "bench".into(),
            attempt: 1,
        }),
        event(EventBody::StageFinished {
            stage: Stage::Checkout,
            attempt: 1,
            outcome: StageOutcome::Ok,
            duration_ms: 10,
            commit: Some(format!("{n:040x}")),
            commit_context: None,
            message: None,
        }),
    ];
    for (t, task) in TASKS.iter().enumerate() {
        let junit = junit(n, t);
        let result = if junit.failures > 0 {
            TaskResult::Fail
        } else {
            TaskResult::Pass
        };
        events.push(event(EventBody::TaskFinished {
            task_id: TaskId::parse(*task)?,
            attempt: 1,
            result,
            exit_code: Some(i32::from(result != TaskResult::Pass)),
            duration_ms: 1000 + (n % 97) as u64,
            junit: Some(junit),
            message: None,
            tries: Vec::new(),
        }));
    }
    events.push(event(EventBody::Finished {
        status: FinalStatus::Finished,
        attempt: Some(1),
        reason: None,
    }));
    Ok(events)
}

fn junit(n: usize, task: usize) -> JunitSummary {
    let cases: Vec<JunitCase> = (0..CASES)
        .map(|i| JunitCase {
            name: format!("case_{i:03}"),
            classname: Some("board".into()),
            time_ms: 5 + ((n + i) % 40) as u64,
            result: if (n * 31 + i * 7 + task).is_multiple_of(53) {
                "failed"
            } else {
                "passed"
            }
            .into(),
            message: None,
        })
        .collect();
    let failed_cases: Vec<String> = cases
        .iter()
        .filter(|c| c.result == "failed")
        .map(|c| format!("board.{}", c.name))
        .collect();
    JunitSummary {
        tests: CASES as u32,
        failures: failed_cases.len() as u32,
        errors: 0,
        skipped: 0,
        failed_cases,
        cases,
    }
}
