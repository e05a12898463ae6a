//! What a test's figures say: how each run's result counts
//! ([`RunOutcome`]), the test's state over its window
//! ([`WindowFigures::state`]) and the note a failed task of it shows
//! ([`WindowFigures::failure_note`]). Pure, and the one place these are
//! decided: the gateway serves them, the dashboard and the CLI only show
//! them. `docs/results.md` has the table of cases; each is a test below.

use serde::{Deserialize, Serialize};

use crate::test_history::WindowFigures;
use crate::TaskResult;

/// Consecutive runs that did not pass, newest first, that make a test
/// `failing`; a test with fewer runs than this is `new`.
pub const FAILING_STREAK: usize = 3;

/// How one run's result counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// `PASS`.
    Pass,
    /// `FLAKY`: failed, then passed on a retry. A pass for the streak and
    /// the flip rate, and a sign of flakiness by itself.
    Flaky,
    /// `FAIL` or `TIMEOUT`: the test ran and did not pass.
    Failure,
    /// `ERROR` (or a result this build does not know): the test could not
    /// run. Never a pass; part of a failing streak (a test that cannot run
    /// three times in a row is broken); no evidence of flakiness, so left
    /// out of the flip rate and of "passed and failed on one commit".
    Error,
}

impl RunOutcome {
    pub fn of(result: &str) -> Self {
        match TaskResult::parse(result) {
            Some(TaskResult::Pass) => Self::Pass,
            Some(TaskResult::Flaky) => Self::Flaky,
            Some(TaskResult::Fail | TaskResult::Timeout) => Self::Failure,
            Some(TaskResult::Error) | None => Self::Error,
        }
    }

    /// Did not pass: part of a failing streak.
    pub fn is_failed(self) -> bool {
        matches!(self, Self::Failure | Self::Error)
    }

    /// Whether the run passed, for flips; `None` for a run that could not run.
    pub fn passed(self) -> Option<bool> {
        match self {
            Self::Pass | Self::Flaky => Some(true),
            Self::Failure => Some(false),
            Self::Error => None,
        }
    }
}

/// What a window of runs says about a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum TestState {
    /// Ended `FLAKY`, passed and failed on one commit, or flips often.
    Flaky,
    /// Its last 3 runs did not pass: broken, not flaky.
    Failing,
    /// Fewer than 3 runs and no sign of flakiness: too soon to say.
    New,
    /// 3 runs or more, one of its last 3 passed, and no sign of flakiness.
    Passing,
}

impl TestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flaky => "flaky",
            Self::Failing => "failing",
            Self::New => "new",
            Self::Passing => "passing",
        }
    }
}

/// What a failed task says about its test's past, on the queue page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct FailureNote {
    pub kind: FailureNoteKind,
    /// "new failure", "failing since 1a2b3c4d5e", "flaky: failed 3 of last
    /// 30" or "failed 2 of last 30".
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum FailureNoteKind {
    /// The newest run failed and no other run in the window did.
    NewFailure,
    /// Its last 2 runs or more did not pass.
    Failing,
    /// The test is `flaky`.
    Flaky,
    /// The newest run failed, an earlier one did too, and the test is
    /// neither flaky nor failing.
    FailedBefore,
}

impl WindowFigures {
    /// In order: `failing` (its last 3 runs did not pass: broken now,
    /// whatever it did before, and so never quarantined automatically);
    /// `flaky` (a `FLAKY` run, a pass and a failure on one commit, or — from
    /// 3 runs on — a flip rate at or above `flaky_flip_rate` with at least 2
    /// changes: one change is a regression or a fix, not a flake); `new` (fewer
    /// than 3 runs); else `passing`. A test with no pass in its window is
    /// `new` or `failing`, never `passing`.
    pub fn state(&self, flaky_flip_rate: f64) -> TestState {
        let judged = self.runs as usize >= FAILING_STREAK;
        if self.failing_streak as usize >= FAILING_STREAK {
            TestState::Failing
        } else if self.flaky_runs > 0
            || self.pass_and_fail_on_one_commit
            || (judged && self.flips >= 2 && self.flip_rate >= flaky_flip_rate)
        {
            TestState::Flaky
        } else if !judged {
            TestState::New
        } else {
            TestState::Passing
        }
    }

    /// The note for a failed task of this test, given its `state`: `flaky`
    /// says how often it failed (a `FLAKY` run failed first, so it counts);
    /// otherwise a streak of 2 or more says where it started, a first
    /// failure says so. `None` when the newest run passed and it is not flaky.
    pub fn failure_note(&self, state: TestState) -> Option<FailureNote> {
        let note = |kind, text: String| Some(FailureNote { kind, text });
        let failed = self.runs - self.passes;
        if state == TestState::Flaky {
            let text = format!("flaky: failed {failed} of last {}", self.runs);
            return note(FailureNoteKind::Flaky, text);
        }
        match self.failing_streak {
            0 => None,
            1 if failed == 1 => note(FailureNoteKind::NewFailure, "new failure".into()),
            1 => note(
                FailureNoteKind::FailedBefore,
                format!("failed {failed} of last {}", self.runs),
            ),
            _ => {
                let since = self.failing_since.as_deref().unwrap_or("?");
                let short: String = since.chars().take(10).collect();
                note(FailureNoteKind::Failing, format!("failing since {short}"))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_history::{window_figures, TestRun};

    /// Runs from a script, oldest first, each on commit `c<n>`: `P` PASS,
    /// `R` FLAKY (try 2), `F` FAIL, `T` TIMEOUT, `E` ERROR.
    pub(crate) fn series(script: &[(&str, u32)]) -> Vec<TestRun> {
        let mut runs: Vec<TestRun> = script
            .iter()
            .enumerate()
            .map(|(i, (code, commit))| TestRun {
                queue_id: format!("q{i}"),
                commit: Some(format!("c{commit}")),
                attempt: 1,
                try_number: if *code == "R" { 2 } else { 1 },
                result: match *code {
                    "P" => "PASS",
                    "R" => "FLAKY",
                    "F" => "FAIL",
                    "T" => "TIMEOUT",
                    _ => "ERROR",
                }
                .into(),
                duration_ms: 100 * (i as u64 + 1),
                at: format!("t{i}"),
                bisect: None,
                tries: Vec::new(),
                message: None,
            })
            .collect();
        runs.reverse();
        runs
    }

    fn state_of(script: &[(&str, u32)]) -> TestState {
        window_figures(&series(script)).state(0.2)
    }

    fn each_on_its_commit(codes: &str) -> Vec<(&str, u32)> {
        codes
            .split(' ')
            .enumerate()
            .map(|(i, code)| (code, i as u32))
            .collect()
    }

    #[test]
    fn a_steady_pass_is_passing() {
        assert_eq!(
            state_of(&each_on_its_commit("P P P P P")),
            TestState::Passing
        );
    }

    #[test]
    fn a_test_whose_only_run_ended_error_is_new_not_passing() {
        let figures = window_figures(&series(&[("E", 1)]));
        assert_eq!(figures.state(0.2), TestState::New);
        assert_eq!((figures.passes, figures.errors), (0, 1));
    }

    #[test]
    fn fewer_than_three_runs_without_a_sign_of_flakiness_is_new() {
        for script in ["P", "F", "P P", "F F", "P F", "F T"] {
            assert_eq!(
                state_of(&each_on_its_commit(script)),
                TestState::New,
                "{script}"
            );
        }
    }

    #[test]
    fn three_runs_without_a_pass_are_failing_whatever_their_kind() {
        for script in ["E E E", "F T E", "T T T", "P P F F E"] {
            assert_eq!(
                state_of(&each_on_its_commit(script)),
                TestState::Failing,
                "{script}"
            );
        }
    }

    #[test]
    fn failing_wins_over_a_flip_rate_that_says_flaky() {
        let runs = series(&each_on_its_commit("P F P F F F"));
        assert!(crate::flip_rate(&runs) >= 0.2);
        assert_eq!(window_figures(&runs).state(0.2), TestState::Failing);
    }

    #[test]
    fn one_change_of_result_is_a_regression_not_a_flake() {
        // 1 change in 5 runs is a flip rate of 0.25, yet no flake.
        let figures = window_figures(&series(&each_on_its_commit("P P P P F")));
        assert_eq!((figures.flips, figures.flip_rate), (1, 0.25));
        assert_eq!(figures.state(0.2), TestState::Passing);
    }

    #[test]
    fn a_flaky_run_is_flaky_from_the_first_run() {
        assert_eq!(state_of(&[("R", 1)]), TestState::Flaky);
        let mut script: Vec<(&str, u32)> = (0..20).map(|i| ("P", i)).collect();
        script.push(("R", 30));
        assert_eq!(state_of(&script), TestState::Flaky);
    }

    #[test]
    fn a_test_whose_queues_mostly_end_flaky_is_flaky_not_failing() {
        let figures = window_figures(&series(&each_on_its_commit("R R F R R R R R")));
        assert_eq!(figures.failing_streak, 0, "FLAKY passed in the end");
        assert_eq!(figures.state(0.2), TestState::Flaky);
    }

    #[test]
    fn a_pass_and_a_fail_on_one_commit_is_flaky() {
        let mut script: Vec<(&str, u32)> = (0..20).map(|i| ("P", i)).collect();
        script.push(("F", 7));
        let runs = series(&script);
        assert!(crate::flip_rate(&runs) < 0.2);
        assert_eq!(window_figures(&runs).state(0.2), TestState::Flaky);
    }

    #[test]
    fn an_error_beside_a_pass_on_one_commit_is_not_flaky() {
        let script = [("P", 1), ("P", 2), ("E", 2), ("P", 3)];
        assert_eq!(state_of(&script), TestState::Passing);
    }

    #[test]
    fn the_flip_rate_threshold_is_inclusive_and_configurable() {
        // 10 runs, 2 changes: 2/9 ≈ 0.22; every commit distinct.
        let figures = window_figures(&series(&each_on_its_commit("P P P F P P P P P P")));
        assert_eq!(figures.state(0.2), TestState::Flaky);
        assert_eq!(figures.state(2.0 / 9.0), TestState::Flaky);
        assert_eq!(figures.state(0.5), TestState::Passing);
    }

    #[test]
    fn bisect_runs_are_left_out_of_the_state_and_the_flip_rate() {
        // A regression bisected over 8 commits: its step runs pass before
        // the culprit and fail after it, and the test passes on main.
        let mut runs = series(&each_on_its_commit("P P P P P P P F F F F"));
        for run in &mut runs[..4] {
            run.bisect = Some("b1".into());
        }
        for run in &mut runs[4..7] {
            run.bisect = Some("b1".into());
        }
        let figures = window_figures(&runs);
        assert_eq!((figures.runs, figures.flip_rate), (4, 0.0));
        assert_eq!(figures.state(0.2), TestState::Passing);
    }

    #[test]
    fn a_failure_note_says_new_failure_failing_since_or_flaky() {
        let note = |script: &str| {
            let figures = window_figures(&series(&each_on_its_commit(script)));
            figures.failure_note(figures.state(0.2)).map(|n| n.text)
        };
        assert_eq!(note("P P P P F").as_deref(), Some("new failure"));
        assert_eq!(note("F").as_deref(), Some("new failure"));
        assert_eq!(note("P P F F").as_deref(), Some("failing since c2"));
        assert_eq!(note("P F F F").as_deref(), Some("failing since c1"));
        assert_eq!(
            note("P R P P").as_deref(),
            Some("flaky: failed 1 of last 4")
        );
        assert_eq!(
            note("P P P P P P F P P P P P P P P P P P P P P F").as_deref(),
            Some("failed 2 of last 22")
        );
        assert_eq!(note("P P P P"), None);
    }
}
