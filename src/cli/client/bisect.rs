//! `testarena bisect --repo URL --bad SHA [--good SHA] --task ID …`: starts
//! a bisect of one task and, with `--wait`, follows it, printing each step
//! as it is decided. The task's scenario is `--scenario`, else the one the
//! newest queue of that repository ran under that task id (said so).
//!
//! Exit codes (every `bisect` command): 0 started, or with `--wait` Found;
//! 1 Inconclusive or Cancelled; 2 Error, a refused request or a server that
//! cannot be reached.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use testarena_events::{BisectView, QueueView};

use super::api_client::{ApiClient, ClientError, ListFrom};
use super::bisect_show::{self, exit_code};

const POLL: Duration = Duration::from_secs(1);
/// Queues read per page, and how many pages the scenario lookup reads.
const LOOKUP_PAGE: u32 = 200;
const LOOKUP_PAGES: u32 = 10;

/// What `testarena bisect` was asked to start.
pub struct StartOptions {
    pub repo: String,
    pub bad: String,
    pub good: Option<String>,
    pub task: String,
    pub scenario: Option<String>,
    pub profile: Option<String>,
    pub runs_per_step: Option<u8>,
    /// Decide each step by this case of the task's cases, not the task.
    pub case: Option<String>,
    pub wait: bool,
}

pub async fn start(client: &ApiClient, options: StartOptions) -> Result<ExitCode, ClientError> {
    let (scenario, timeout_s) = match options.scenario.clone() {
        Some(scenario) => (scenario, None),
        None => {
            let found = newest_scenario(client, &options.repo, &options.task).await?;
            println!("{}", found.said(&options.repo, &options.task));
            (found.scenario, found.timeout_s)
        }
    };
    let started = client
        .start_bisect(&request_body(&options, &scenario, timeout_s))
        .await?;
    println!(
        "bisect {} started: {}",
        started.id,
        client.bisect_dashboard_url(&started.id)
    );
    if !options.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let ended = follow(client, &started.id).await?;
    print!("{}", bisect_show::ending(&ended));
    Ok(exit_code(&ended.status))
}

/// Polls the bisect until it ends, printing each step once it is decided.
async fn follow(client: &ApiClient, id: &str) -> Result<BisectView, ClientError> {
    let mut seen = Seen::default();
    loop {
        let view = client.bisect(id).await?;
        for line in seen.news(&view) {
            println!("{line}");
        }
        if view.is_ended() {
            return Ok(view);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The body of `POST /api/bisect`; optional fields only when given.
pub fn request_body(options: &StartOptions, scenario: &str, timeout_s: Option<u32>) -> Value {
    let mut body = json!({
        "source": {"repo": options.repo},
        "bad": options.bad,
        "tasks": [{"id": options.task, "scenario": scenario}],
    });
    if let Some(timeout) = timeout_s {
        body["tasks"][0]["timeout_s"] = json!(timeout);
    }
    if let Some(good) = &options.good {
        body["good"] = json!(good);
    }
    if let Some(profile) = &options.profile {
        body["profile"] = json!(profile);
    }
    if let Some(runs) = options.runs_per_step {
        body["runs_per_step"] = json!(runs);
    }
    if let Some(case) = &options.case {
        body["case"] = json!(case);
    }
    body
}

/// A task as a queue ran it: its scenario and timeout.
#[derive(Debug, PartialEq, Eq)]
pub struct FoundScenario {
    pub queue_id: String,
    pub scenario: String,
    /// The queue's override of the profile's timeout: a TIMEOUT is only
    /// reproduced with the timeout it ran under.
    pub timeout_s: Option<u32>,
}

impl FoundScenario {
    /// What the CLI says it took, and from where.
    pub fn said(&self, repo: &str, task: &str) -> String {
        let timeout = self
            .timeout_s
            .map(|t| format!(" (timeout {t} s)"))
            .unwrap_or_default();
        format!(
            "scenario {}{timeout}: taken from queue {}, the newest of {repo} with task {task}",
            self.scenario, self.queue_id
        )
    }
}

async fn newest_scenario(
    client: &ApiClient,
    repo: &str,
    task: &str,
) -> Result<FoundScenario, ClientError> {
    let mut cursor: Option<String> = None;
    for _ in 0..LOOKUP_PAGES {
        let from = cursor.as_deref().map_or(ListFrom::First, ListFrom::Cursor);
        let queues = client.list(&[("repo", repo)], from, LOOKUP_PAGE).await?;
        if let Some(found) = scenario_in(&queues.queues, repo, task) {
            return Ok(found);
        }
        match queues.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Err(ClientError::Usage(format!(
        "no queue of {repo} (among its newest {}) has a task {task:?}: give its scenario with --scenario PATH",
        LOOKUP_PAGE * LOOKUP_PAGES
    )))
}

/// The scenario of `task` in the first (newest) of `queues` whose source is
/// exactly `repo` (the API's `repo` filter matches any part of the URL).
pub fn scenario_in(queues: &[QueueView], repo: &str, task: &str) -> Option<FoundScenario> {
    queues
        .iter()
        .filter(|q| q.source.repo == repo)
        .find_map(|q| {
            q.tasks
                .iter()
                .find(|t| t.id == task)
                .map(|t| FoundScenario {
                    queue_id: q.id.clone(),
                    scenario: t.scenario.clone(),
                    timeout_s: t.timeout_s,
                })
        })
}

/// What `--wait` has printed so far: the decided steps (by position) and
/// whether `good` was known.
#[derive(Default)]
pub struct Seen {
    decided: usize,
    good: bool,
}

impl Seen {
    /// The lines for what `view` says that was not printed yet: each newly
    /// decided step in order, then `good` once it is known (a walk-back
    /// finds it with the step that passed).
    pub fn news(&mut self, view: &BisectView) -> Vec<String> {
        let mut lines = Vec::new();
        // Steps are listed in the order they were queued; print up to the
        // first undecided one, so the output keeps that order.
        let decided = view
            .steps
            .iter()
            .take_while(|s| s.verdict.is_some())
            .count();
        for (n, step) in view
            .steps
            .iter()
            .enumerate()
            .take(decided)
            .skip(self.decided)
        {
            lines.push(bisect_show::step_line(n + 1, step, view));
        }
        self.decided = self.decided.max(decided);
        if let (false, Some(good)) = (self.good, &view.good) {
            self.good = true;
            lines.push(format!("good: {good}"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::client::bisect_show::view_for_test;

    fn options() -> StartOptions {
        StartOptions {
            repo: "https://git.example/fw.git".into(),
            bad: "c9".into(),
            good: None,
            task: "uart".into(),
            scenario: None,
            profile: None,
            runs_per_step: None,
            case: None,
            wait: false,
        }
    }

    #[test]
    fn the_request_has_only_what_was_given() {
        assert_eq!(
            request_body(&options(), "tests/uart.sh", None),
            json!({"source": {"repo": "https://git.example/fw.git"}, "bad": "c9",
                   "tasks": [{"id": "uart", "scenario": "tests/uart.sh"}]})
        );
        let all = StartOptions {
            good: Some("c1".into()),
            profile: Some("qemu-arm".into()),
            runs_per_step: Some(3),
            case: Some("aes.ecb_encrypt".into()),
            ..options()
        };
        let body = request_body(&all, "s.sh", Some(30));
        assert_eq!(body["tasks"][0]["timeout_s"], 30);
        assert_eq!(body["good"], "c1");
        assert_eq!(body["profile"], "qemu-arm");
        assert_eq!(body["runs_per_step"], 3);
        assert_eq!(body["case"], "aes.ecb_encrypt");
    }

    fn queue(id: &str, repo: &str, tasks: &[(&str, &str)]) -> QueueView {
        let tasks: Vec<Value> = tasks
            .iter()
            .map(|(id, scenario)| {
                json!({"id": id, "scenario": scenario, "timeout_s": 30, "status": "Waiting",
                       "result": null, "exit_code": null, "started_at": null, "finished_at": null,
                       "duration_ms": null, "message": null, "junit": null})
            })
            .collect();
        serde_json::from_value(json!({
            "id": id, "status": "Finished", "source": {"repo": repo, "ref": "main"},
            "commit": null, "profile": null, "attempt": 1, "worker": null,
            "submitted_at": "2026-11-25T12:00:00Z", "started_at": null, "finished_at": null,
            "reason": null, "verdict": null, "cancel_requested": false,
            "counts": {"total": 0, "waiting": 0, "running": 0, "pass": 0, "fail": 0,
                       "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": tasks
        }))
        .unwrap()
    }

    #[test]
    fn the_scenario_comes_from_the_newest_queue_of_exactly_that_repo_with_the_task() {
        let repo = "https://git.example/fw.git";
        let queues = [
            queue(
                "q4",
                "https://git.example/fw.git-mirror",
                &[("uart", "other.sh")],
            ),
            queue("q3", repo, &[("boot", "boot.sh")]),
            queue(
                "q2",
                repo,
                &[("boot", "boot.sh"), ("uart", "tests/uart2.sh")],
            ),
            queue("q1", repo, &[("uart", "tests/uart.sh")]),
        ];
        assert_eq!(
            scenario_in(&queues, repo, "uart"),
            Some(FoundScenario {
                queue_id: "q2".into(),
                scenario: "tests/uart2.sh".into(),
                timeout_s: Some(30),
            })
        );
        assert_eq!(
            scenario_in(&queues, repo, "uart").unwrap().said(repo, "uart"),
            "scenario tests/uart2.sh (timeout 30 s): taken from queue q2, the newest of https://git.example/fw.git with task uart"
        );
        assert_eq!(scenario_in(&queues, repo, "spi"), None);
    }

    fn view(good: Option<&str>, steps: &[(&str, Option<&str>)]) -> BisectView {
        let steps: Vec<Value> = steps
            .iter()
            .map(|(commit, verdict)| {
                json!({"commit": commit, "phase": "test", "queues": [format!("q-{commit}")],
                       "verdict": verdict, "majority": null})
            })
            .collect();
        view_for_test(json!({"good": good, "steps": steps}))
    }

    #[test]
    fn wait_prints_each_step_once_when_it_is_decided_in_order() {
        let mut seen = Seen::default();
        assert!(seen.news(&view(None, &[("c9", None)])).is_empty());
        let lines = seen.news(&view(None, &[("c9", Some("fail")), ("c8", None)]));
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("c9") && lines[0].contains("fail"),
            "{lines:?}"
        );
        let lines = seen.news(&view(
            Some("c6"),
            &[
                ("c9", Some("fail")),
                ("c8", Some("fail")),
                ("c6", Some("pass")),
            ],
        ));
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("step 2") && lines[1].starts_with("step 3"));
        assert_eq!(lines[2], "good: c6");
        assert!(seen
            .news(&view(Some("c6"), &[("c9", Some("fail"))]))
            .is_empty());
    }
}
