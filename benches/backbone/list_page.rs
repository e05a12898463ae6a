//! The queue list at scale: 1,000,000 finished queues (set with
//! `TESTARENA_BENCH_LIST_QUEUES` for a smaller try) go straight into the
//! events stream, each as a worker's run would leave it — `submitted`,
//! `started`, the checkout with its commit, one task's end, `finished` — and
//! the projector folds them. Then `GET /api/queues` is timed through the
//! gateway: the first page, a page half-way down by `cursor`, filtered
//! pages (a status, a ref, a text), and for comparison a deep `page`
//! number (an offset the index walks).

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use testarena_events::{
    Event, EventBody, FinalStatus, GitRef, QueueId, RepoUrl, ScenarioPath, Source, Stage,
    StageOutcome, TaskId, TaskResult, TaskSpec,
};

use crate::publishing::publish_runs;
use crate::report::Row;
use crate::stack::{Services, Stack};
use crate::stats::summarize;

const QUEUES: usize = 1_000_000;
const REQUESTS: usize = 200;
/// A page of the list, as the dashboard asks for it.
const PER_PAGE: usize = 50;
/// Every 10th queue ends in `Error`; refs take turns; one in four has a
/// profile: the filters select 10 %, a third and a quarter.
const REFS: [&str; 3] = ["main", "dev", "release/2"];
const REPOS: usize = 8;

pub async fn list_page() -> Result<Vec<Row>> {
    let queues = queue_count()?;
    let stack = Stack::start(Services::all(0)).await?;
    let filling = Instant::now();
    let published = publish_runs(&stack, queues, run_of).await?;
    let last = queue_id(queues - 1);
    stack
        .wait_terminal(&last, Duration::from_secs(7200))
        .await
        .context("waiting for the projector to apply every queue")?;
    let folded = filling.elapsed().as_secs_f64();
    println!("  {published} events for {queues} queues, folded in {folded:.1} s");

    let deep = deep_cursor(&stack, queues / 2).await?;
    let first = time(&stack, |_| format!("/api/queues?per_page={PER_PAGE}")).await?;
    let cursor = time(&stack, |_| {
        format!("/api/queues?per_page={PER_PAGE}&cursor={deep}")
    })
    .await?;
    let status = time(&stack, |_| {
        format!("/api/queues?per_page={PER_PAGE}&status=Error")
    })
    .await?;
    let git_ref = time(&stack, |i| {
        format!(
            "/api/queues?per_page={PER_PAGE}&ref={}",
            REFS[i % REFS.len()]
        )
    })
    .await?;
    // A queue id's digits: a text that matches a few queues.
    let text = time(&stack, |i| {
        format!(
            "/api/queues?per_page={PER_PAGE}&q=lp-{:07}",
            (i * 7919) % queues
        )
    })
    .await?;
    let page_number = (queues / 2 / PER_PAGE).max(1);
    let offset = time(&stack, |_| {
        format!("/api/queues?per_page={PER_PAGE}&page={page_number}")
    })
    .await?;

    let mut rows = Vec::new();
    for (what, samples, target) in [
        ("first page", &first, Some(50.0)),
        ("a page half-way down, by cursor", &cursor, Some(50.0)),
        ("status=Error (10 %)", &status, Some(50.0)),
        ("ref= (a third each)", &git_ref, Some(50.0)),
        ("q=<an id> (text index)", &text, None),
        ("page=<half-way> (offset, older clients)", &offset, None),
    ] {
        let s = summarize(samples);
        let p99 = format!("GET /api/queues {what}, p99");
        rows.push(match target {
            Some(limit) => Row::at_most(p99, s.p99, "ms", limit),
            None => Row::info(p99, s.p99, "ms"),
        });
        rows.push(Row::info(
            format!("GET /api/queues {what}, p50"),
            s.p50,
            "ms",
        ));
    }
    rows.push(Row::info("finished queues", queues as f64, ""));
    rows.push(Row::info("events published", published as f64, ""));
    rows.push(Row::info(
        "publish + projector fold, wall time",
        folded,
        "s",
    ));
    Ok(rows)
}

fn queue_count() -> Result<usize> {
    match std::env::var("TESTARENA_BENCH_LIST_QUEUES") {
        Ok(text) => match text.parse::<usize>() {
            Ok(n) if n >= 2 * PER_PAGE => Ok(n),
            _ => bail!(
                "TESTARENA_BENCH_LIST_QUEUES={text:?}: a number of queues, at least {}",
                2 * PER_PAGE
            ),
        },
        Err(_) => Ok(QUEUES),
    }
}

async fn time(stack: &Stack, path: impl Fn(usize) -> String) -> Result<Vec<f64>> {
    stack.time_gets(REQUESTS, 5, path).await
}

/// The cursor of the page that ends `position` queues from the top, asked
/// once by page number (a walk of the index, not timed).
async fn deep_cursor(stack: &Stack, position: usize) -> Result<String> {
    let per_page = 200;
    let page = (position / per_page).max(1);
    let (status, body) = stack
        .get(&format!("/api/queues?per_page={per_page}&page={page}"))
        .await?;
    match body["next_cursor"].as_str() {
        Some(cursor) if status == 200 => Ok(cursor.to_owned()),
        _ => bail!("no next_cursor at page {page} ({status}): {body}"),
    }
}

fn queue_id(n: usize) -> String {
    format!("lp-{n:07}")
}

/// One finished queue of one task, as a worker's run leaves it.
fn run_of(n: usize) -> Result<Vec<Event>> {
    let id = QueueId::parse(queue_id(n))?;
    let event = |body| Event::new(id.clone(), body);
    let failed = n.is_multiple_of(10);
    Ok(vec![
        event(EventBody::Submitted {
            source: Source {
                repo: RepoUrl::parse(format!("https://git.example/fw-{}.git", n % REPOS))?,
                git_ref: GitRef::parse(REFS[n % REFS.len()])?,
            },
            profile: n
                .is_multiple_of(4)
                .then(|| testarena_events::ProfileName::parse("esp-idf"))
                .transpose()?,
            tasks: vec![TaskSpec {
                id: TaskId::parse("smoke")?,
                scenario: ScenarioPath::parse("smoke.scn")?,
                timeout_s: None,
                retries: None,
            }],
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
            commit: Some(format!("{:040x}", n * 2_654_435_761)),
            commit_context: None,
            message: None,
        }),
        event(EventBody::TaskFinished {
            task_id: TaskId::parse("smoke")?,
            attempt: 1,
            result: if failed {
                TaskResult::Error
            } else {
                TaskResult::Pass
            },
            exit_code: Some(i32::from(failed)),
            duration_ms: 1000,
            junit: None,
            message: None,
            tries: Vec::new(),
        }),
        event(EventBody::Finished {
            status: if failed {
                FinalStatus::Error
            } else {
                FinalStatus::Finished
            },
            attempt: Some(1),
            reason: failed.then(|| "the task's board did not answer".to_owned()),
        }),
    ])
}
