//! A test's history and its figures: the run records the projector keeps
//! and the summary over a window of runs (pure). What the figures say — the
//! test's state and the note a failed task shows — is decided in
//! `test_state.rs`. The gateway serves these types, the CLI and the
//! dashboard read them; with the `openapi` feature they are poem-openapi
//! `Object`s, like the queue view.

use serde::{Deserialize, Serialize};

use crate::test_state::{FailureNote, RunOutcome, TestState};
use crate::TryView;

/// The flip rate at or above which a test is `flaky` (the gateway's
/// `--flaky-flip-rate`).
pub const DEFAULT_FLAKY_FLIP_RATE: f64 = 0.2;
/// Runs a summary looks at when the request does not say.
pub const DEFAULT_WINDOW: u32 = 30;

/// One run of a test: one task of a queue (all its tries), or one JUnit
/// case of a task's last try. What `GET /api/tests/history` lists, newest
/// first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TestRun {
    pub queue_id: String,
    /// The commit the queue's checkout resolved to.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub commit: Option<String>,
    /// The queue's delivery attempt.
    pub attempt: u32,
    /// The try the run ended on, from 1 (2+: it was retried).
    #[serde(rename = "try")]
    #[cfg_attr(feature = "openapi", oai(rename = "try"))]
    pub try_number: u32,
    /// `PASS`, `FLAKY` (failed, then passed on a retry), `FAIL`, `TIMEOUT`
    /// or `ERROR`.
    pub result: String,
    pub duration_ms: u64,
    /// When the run ended (RFC 3339, UTC).
    pub at: String,
    /// The bisect whose step queue ran it: such a run is kept apart and
    /// left out of the test's state and flip rate. `null` for an ordinary run.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub bisect: Option<String>,
    /// Each try of a retried task, in order; empty for a task tried once
    /// and for a JUnit case.
    #[serde(default)]
    pub tries: Vec<TryView>,
    /// What a run that did not pass said: the task's message, or the JUnit
    /// case's failure message. `null` for a pass and where none was given.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub message: Option<String>,
}

impl TestRun {
    pub fn outcome(&self) -> RunOutcome {
        RunOutcome::of(&self.result)
    }
}

/// The figures of one test over its window: everything about it that does
/// not depend on the flip-rate threshold, so the projector can keep them
/// for the default window (`tests.summary_json`) and a gateway decide the
/// state with its own `--flaky-flip-rate` ([`WindowFigures::state`]).
/// `runs` = `passes` + `flaky_runs` + `failures` + `errors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    pub runs: u32,
    /// Runs that ended `PASS`.
    pub passes: u32,
    /// Runs that ended `FAIL` or `TIMEOUT`.
    pub failures: u32,
    /// Runs that ended `ERROR`: the test could not run.
    #[serde(default)]
    pub errors: u32,
    /// Runs that ended `FLAKY`: failed, then passed on a retry.
    pub flaky_runs: u32,
    /// Pass ↔ fail changes ÷ (runs − 1), oldest to newest, over the runs
    /// that did run (`ERROR` left out); 0 below 2 of them.
    pub flip_rate: f64,
    /// Those changes, counted.
    #[serde(default)]
    pub flips: u32,
    pub last_result: Option<String>,
    pub last_failure_at: Option<String>,
    pub duration_ms_p50: Option<u64>,
    pub duration_ms_p95: Option<u64>,
    /// Runs in a row, newest first, that did not pass (`FAIL`, `TIMEOUT`
    /// or `ERROR`).
    pub failing_streak: u32,
    /// The commit (or, without one, the queue) of the oldest run of that
    /// streak: where the test started failing. `None` without a streak.
    #[serde(default)]
    pub failing_since: Option<String>,
    /// A commit with a passed and a failed run in the window.
    pub pass_and_fail_on_one_commit: bool,
    /// The window's runs, newest first, as the dashboard draws them.
    pub recent: Vec<RecentRun>,
}

/// The figures of `runs`, newest first (the caller has cut them to the
/// window). Runs of bisect step queues are left out: a bisect runs a test
/// on purpose on both sides of a regression, which says nothing of the test.
pub fn window_figures(runs: &[TestRun]) -> WindowFigures {
    if runs.iter().any(|r| r.bisect.is_some()) {
        let ordinary: Vec<TestRun> = runs
            .iter()
            .filter(|r| r.bisect.is_none())
            .cloned()
            .collect();
        return window_figures(&ordinary);
    }
    let count = |outcome: RunOutcome| runs.iter().filter(|r| r.outcome() == outcome).count() as u32;
    let mut durations: Vec<u64> = runs.iter().map(|r| r.duration_ms).collect();
    durations.sort_unstable();
    let streak = runs.iter().take_while(|r| r.outcome().is_failed()).count();
    WindowFigures {
        runs: runs.len() as u32,
        passes: count(RunOutcome::Pass),
        failures: count(RunOutcome::Failure),
        errors: count(RunOutcome::Error),
        flaky_runs: count(RunOutcome::Flaky),
        flip_rate: flip_rate(runs),
        flips: flips(runs) as u32,
        last_result: runs.first().map(|r| r.result.clone()),
        last_failure_at: runs
            .iter()
            .find(|r| r.outcome().is_failed())
            .map(|r| r.at.clone()),
        duration_ms_p50: percentile(&durations, 50),
        duration_ms_p95: percentile(&durations, 95),
        failing_streak: streak as u32,
        failing_since: streak
            .checked_sub(1)
            .map(|oldest| &runs[oldest])
            .map(|r| r.commit.clone().unwrap_or_else(|| r.queue_id.clone())),
        pass_and_fail_on_one_commit: passed_and_failed_on_one_commit(runs),
        recent: runs
            .iter()
            .map(|r| RecentRun {
                queue_id: r.queue_id.clone(),
                result: r.result.clone(),
                duration_ms: r.duration_ms,
                try_number: r.try_number,
            })
            .collect(),
    }
}

/// Whether some commit has a run that passed and one that failed; runs
/// that could not run (`ERROR`) say nothing either way.
fn passed_and_failed_on_one_commit(runs: &[TestRun]) -> bool {
    let mut seen: std::collections::HashMap<&str, (bool, bool)> = Default::default();
    for run in runs {
        let Some(commit) = run.commit.as_deref() else {
            continue;
        };
        let Some(passed) = run.outcome().passed() else {
            continue;
        };
        let slot = seen.entry(commit).or_default();
        if passed {
            slot.0 = true;
        } else {
            slot.1 = true;
        }
        if *slot == (true, true) {
            return true;
        }
    }
    false
}

/// Pass ↔ fail changes between consecutive runs that did run ÷ (those
/// runs − 1): an `ERROR` run is skipped, not a change.
pub fn flip_rate(runs: &[TestRun]) -> f64 {
    let ran = runs
        .iter()
        .filter(|r| r.outcome().passed().is_some())
        .count();
    if ran < 2 {
        return 0.0;
    }
    flips(runs) as f64 / (ran - 1) as f64
}

/// Pass ↔ fail changes between consecutive runs that did run.
fn flips(runs: &[TestRun]) -> usize {
    let ran: Vec<bool> = runs.iter().filter_map(|r| r.outcome().passed()).collect();
    ran.windows(2).filter(|w| w[0] != w[1]).count()
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// One test in `GET /api/tests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TestSummary {
    pub repo: String,
    /// `null`: the worker's default profile.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub profile: Option<String>,
    pub task: String,
    /// The JUnit case; `null` for the task itself.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub case: Option<String>,
    /// Runs in the window (bisect runs left out): `passes` + `flaky_runs`
    /// + `failures` + `errors`.
    pub runs: u32,
    /// Runs that ended `PASS`.
    pub passes: u32,
    /// Runs that ended `FAIL` or `TIMEOUT`.
    pub failures: u32,
    /// Runs that ended `ERROR` (the test could not run).
    #[serde(default)]
    pub errors: u32,
    /// Runs that ended `FLAKY` (failed, then passed on a retry).
    pub flaky_runs: u32,
    pub flip_rate: f64,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub last_result: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub last_failure_at: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub duration_ms_p50: Option<u64>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub duration_ms_p95: Option<u64>,
    pub state: TestState,
    /// What a failed task of this test says about its past ("new failure",
    /// "failing since <commit>", "flaky: failed k of last n"); `null` when
    /// its newest run passed and it is not flaky.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub failure_note: Option<FailureNote>,
    pub quarantined: bool,
    /// Why, when quarantined.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub quarantine_reason: Option<String>,
    /// The window's runs, newest first: results only, for the dashboard's
    /// strip of dots and duration trend.
    #[serde(default)]
    pub recent: Vec<RecentRun>,
}

impl TestSummary {
    /// A test's summary from its window's figures.
    pub fn of(
        key: &crate::TestKey,
        quarantine_reason: Option<String>,
        figures: WindowFigures,
        flaky_flip_rate: f64,
    ) -> Self {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let state = figures.state(flaky_flip_rate);
        Self {
            repo: key.repo().to_owned(),
            profile: some(key.profile()),
            task: key.task().to_owned(),
            case: some(key.case()),
            failure_note: figures.failure_note(state),
            state,
            runs: figures.runs,
            passes: figures.passes,
            failures: figures.failures,
            errors: figures.errors,
            flaky_runs: figures.flaky_runs,
            flip_rate: figures.flip_rate,
            last_result: figures.last_result,
            last_failure_at: figures.last_failure_at,
            duration_ms_p50: figures.duration_ms_p50,
            duration_ms_p95: figures.duration_ms_p95,
            quarantined: quarantine_reason.is_some(),
            quarantine_reason,
            recent: figures.recent,
        }
    }
}

/// A run as the dashboard's strip shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct RecentRun {
    pub queue_id: String,
    pub result: String,
    pub duration_ms: u64,
    #[serde(rename = "try")]
    #[cfg_attr(feature = "openapi", oai(rename = "try"))]
    pub try_number: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_state::tests::series;

    #[test]
    fn flip_rate_is_changes_over_runs_minus_one_and_skips_errors() {
        let runs = series(&[("P", 1), ("F", 2), ("P", 3), ("P", 4), ("P", 5)]);
        assert_eq!(flip_rate(&runs), 2.0 / 4.0);
        let with_errors = series(&[("P", 1), ("E", 2), ("P", 3), ("E", 4), ("P", 5)]);
        assert_eq!(flip_rate(&with_errors), 0.0, "an ERROR is no change");
        assert_eq!(flip_rate(&series(&[("F", 1)])), 0.0);
        assert_eq!(flip_rate(&[]), 0.0);
    }

    #[test]
    fn the_counts_add_up_to_the_runs() {
        let runs = series(&[("P", 1), ("R", 2), ("F", 3), ("T", 4), ("E", 5), ("P", 6)]);
        let f = window_figures(&runs);
        assert_eq!(
            (f.runs, f.passes, f.flaky_runs, f.failures, f.errors),
            (6, 2, 1, 2, 1)
        );
        assert_eq!(f.passes + f.flaky_runs + f.failures + f.errors, f.runs);
    }

    #[test]
    fn the_failing_streak_starts_at_its_oldest_run() {
        let f = window_figures(&series(&[("P", 1), ("F", 2), ("E", 3), ("T", 4)]));
        assert_eq!(f.failing_streak, 3);
        assert_eq!(f.failing_since.as_deref(), Some("c2"));
        assert_eq!(f.last_failure_at.as_deref(), Some("t3"));
        assert_eq!(
            window_figures(&series(&[("F", 1), ("P", 2)])).failing_since,
            None
        );
    }

    #[test]
    fn durations_are_nearest_rank_percentiles() {
        let script: Vec<(&str, u32)> = (0..20).map(|i| ("P", i)).collect();
        let figures = window_figures(&series(&script));
        assert_eq!(figures.duration_ms_p50, Some(1000));
        assert_eq!(figures.duration_ms_p95, Some(1900));
        assert_eq!(window_figures(&[]).duration_ms_p50, None);
    }
}
