//! A test's history and what it says: the run records the projector keeps,
//! the summary over a window of runs, and the pure decision of a test's
//! state (`flaky`, `failing`, `passing`) and flip rate. The gateway serves
//! these types, the CLI and the dashboard read them; with the `openapi`
//! feature they are poem-openapi `Object`s, like the queue view.

use serde::{Deserialize, Serialize};

/// The flip rate at or above which a test is `flaky` (the gateway's
/// `--flaky-flip-rate`).
pub const DEFAULT_FLAKY_FLIP_RATE: f64 = 0.2;
/// Runs a summary looks at when the request does not say.
pub const DEFAULT_WINDOW: u32 = 30;
/// Consecutive failed runs, newest first, that make a test `failing`.
pub const FAILING_STREAK: usize = 3;

/// One run of a test: one try of a task, or one JUnit case of a task's
/// last try. What `GET /api/tests/history` lists, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TestRun {
    pub queue_id: String,
    /// The commit the queue's checkout resolved to.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub commit: Option<String>,
    /// The queue's delivery attempt.
    pub attempt: u32,
    /// The task's try, from 1 (2+ are retries).
    #[serde(rename = "try")]
    #[cfg_attr(feature = "openapi", oai(rename = "try"))]
    pub try_number: u32,
    /// `PASS`, `FAIL`, `TIMEOUT` or `ERROR`.
    pub result: String,
    pub duration_ms: u64,
    /// When the run ended (RFC 3339, UTC).
    pub at: String,
}

impl TestRun {
    pub fn passed(&self) -> bool {
        self.result == "PASS"
    }
}

/// What a window of runs says about a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum TestState {
    /// Passed and failed on one commit, passed on a retry, or flips often.
    Flaky,
    /// Its last 3 runs failed: broken, not flaky.
    Failing,
    Passing,
}

impl TestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flaky => "flaky",
            Self::Failing => "failing",
            Self::Passing => "passing",
        }
    }
}

/// The figures of one test over its window: everything about it that does
/// not depend on the flip-rate threshold, so the projector can keep them
/// for the default window (`tests.summary_json`) and a gateway decide the
/// state with its own `--flaky-flip-rate` ([`WindowFigures::state`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    pub runs: u32,
    pub passes: u32,
    pub failures: u32,
    /// Runs that passed on a retry (try 2 or later).
    pub flaky_runs: u32,
    /// Result changes ÷ (runs − 1), oldest to newest; 0 below 2 runs.
    pub flip_rate: f64,
    pub last_result: Option<String>,
    pub last_failure_at: Option<String>,
    pub duration_ms_p50: Option<u64>,
    pub duration_ms_p95: Option<u64>,
    /// Failed runs in a row, newest first.
    pub failing_streak: u32,
    /// A commit with a passed and a failed run in the window.
    pub pass_and_fail_on_one_commit: bool,
    /// The window's runs, newest first, as the dashboard draws them.
    pub recent: Vec<RecentRun>,
}

/// The figures of `runs`, newest first (the caller has cut them to the window).
pub fn window_figures(runs: &[TestRun]) -> WindowFigures {
    let passes = runs.iter().filter(|r| r.passed()).count() as u32;
    let mut durations: Vec<u64> = runs.iter().map(|r| r.duration_ms).collect();
    durations.sort_unstable();
    WindowFigures {
        runs: runs.len() as u32,
        passes,
        failures: runs.len() as u32 - passes,
        flaky_runs: runs.iter().filter(|r| passed_on_retry(r)).count() as u32,
        flip_rate: flip_rate(runs),
        last_result: runs.first().map(|r| r.result.clone()),
        last_failure_at: runs.iter().find(|r| !r.passed()).map(|r| r.at.clone()),
        duration_ms_p50: percentile(&durations, 50),
        duration_ms_p95: percentile(&durations, 95),
        failing_streak: runs.iter().take_while(|r| !r.passed()).count() as u32,
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

impl WindowFigures {
    /// `failing` first: a test whose last 3 runs failed is broken now,
    /// whatever it did before (and so never quarantined automatically);
    /// then `flaky`: passed and failed on one commit, passed on a retry, or
    /// flips at least `flaky_flip_rate`; else `passing`.
    pub fn state(&self, flaky_flip_rate: f64) -> TestState {
        if self.failing_streak as usize >= FAILING_STREAK {
            TestState::Failing
        } else if self.flaky_runs > 0
            || self.pass_and_fail_on_one_commit
            || self.flip_rate >= flaky_flip_rate
        {
            TestState::Flaky
        } else {
            TestState::Passing
        }
    }
}

fn passed_on_retry(run: &TestRun) -> bool {
    run.passed() && run.try_number > 1
}

fn passed_and_failed_on_one_commit(runs: &[TestRun]) -> bool {
    let mut seen: std::collections::HashMap<&str, (bool, bool)> = Default::default();
    for run in runs {
        let Some(commit) = run.commit.as_deref() else {
            continue;
        };
        let slot = seen.entry(commit).or_default();
        if run.passed() {
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

/// Result changes between consecutive runs ÷ (runs − 1).
pub fn flip_rate(runs: &[TestRun]) -> f64 {
    if runs.len() < 2 {
        return 0.0;
    }
    let flips = runs
        .windows(2)
        .filter(|w| w[0].passed() != w[1].passed())
        .count();
    flips as f64 / (runs.len() - 1) as f64
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
    pub runs: u32,
    pub passes: u32,
    pub failures: u32,
    /// Runs that passed on a retry.
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
        Self {
            repo: key.repo().to_owned(),
            profile: some(key.profile()),
            task: key.task().to_owned(),
            case: some(key.case()),
            state: figures.state(flaky_flip_rate),
            runs: figures.runs,
            passes: figures.passes,
            failures: figures.failures,
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

    /// Runs from a script, oldest first: `P`/`F` on commit `c<n>`, `R` a
    /// pass on a retry (try 2).
    fn series(script: &[(&str, u32)]) -> Vec<TestRun> {
        let mut runs: Vec<TestRun> = script
            .iter()
            .enumerate()
            .map(|(i, (result, commit))| TestRun {
                queue_id: format!("q{i}"),
                commit: Some(format!("c{commit}")),
                attempt: 1,
                try_number: if *result == "R" { 2 } else { 1 },
                result: if *result == "F" { "FAIL" } else { "PASS" }.into(),
                duration_ms: 100 * (i as u64 + 1),
                at: format!("t{i}"),
            })
            .collect();
        runs.reverse();
        runs
    }

    #[test]
    fn flip_rate_is_changes_over_runs_minus_one() {
        let runs = series(&[("P", 1), ("F", 2), ("P", 3), ("P", 4), ("P", 5)]);
        assert_eq!(flip_rate(&runs), 2.0 / 4.0);
        assert_eq!(flip_rate(&series(&[("F", 1)])), 0.0);
        assert_eq!(flip_rate(&[]), 0.0);
    }

    #[test]
    fn a_steady_pass_is_passing_and_three_fails_are_failing() {
        let green: Vec<(&str, u32)> = (0..10).map(|i| ("P", i)).collect();
        assert_eq!(
            window_figures(&series(&green)).state(0.2),
            TestState::Passing
        );
        let mut broken = green.clone();
        broken.extend([("F", 20), ("F", 21), ("F", 22)]);
        let figures = window_figures(&series(&broken));
        assert_eq!(figures.state(0.2), TestState::Failing);
        assert_eq!(figures.last_result.as_deref(), Some("FAIL"));
        assert_eq!(figures.last_failure_at.as_deref(), Some("t12"));
        assert_eq!((figures.passes, figures.failures), (10, 3));
    }

    #[test]
    fn failing_wins_over_a_flip_rate_that_says_flaky() {
        let runs = series(&[("P", 1), ("F", 2), ("P", 3), ("F", 4), ("F", 5), ("F", 6)]);
        assert!(flip_rate(&runs) >= 0.2);
        assert_eq!(window_figures(&runs).state(0.2), TestState::Failing);
    }

    #[test]
    fn a_pass_on_a_retry_is_flaky_even_with_a_low_flip_rate() {
        let mut script: Vec<(&str, u32)> = (0..20).map(|i| ("P", i)).collect();
        script.push(("R", 30));
        let figures = window_figures(&series(&script));
        assert_eq!(figures.state(0.2), TestState::Flaky);
        assert_eq!(figures.flaky_runs, 1);
    }

    #[test]
    fn a_pass_and_a_fail_on_one_commit_is_flaky() {
        let mut script: Vec<(&str, u32)> = (0..20).map(|i| ("P", i)).collect();
        script.extend([("F", 7)]);
        let runs = series(&script);
        assert!(flip_rate(&runs) < 0.2);
        assert_eq!(window_figures(&runs).state(0.2), TestState::Flaky);
    }

    #[test]
    fn the_flip_rate_threshold_is_inclusive_and_configurable() {
        // 10 runs, 2 changes: 2/9 ≈ 0.22; every commit distinct.
        let runs = series(&[
            ("P", 1),
            ("P", 2),
            ("P", 3),
            ("F", 4),
            ("P", 5),
            ("P", 6),
            ("P", 7),
            ("P", 8),
            ("P", 9),
            ("P", 10),
        ]);
        let figures = window_figures(&runs);
        assert_eq!(figures.state(0.2), TestState::Flaky);
        assert_eq!(figures.state(2.0 / 9.0), TestState::Flaky);
        assert_eq!(figures.state(0.5), TestState::Passing);
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
