//! Pure decisions of a run: what a command's exit means for a task (its
//! result, code and message, and its timeout), and what a failed stage
//! means for the queue.

use std::time::Duration;

use testarena_events::{JunitSummary, TaskResult};

use crate::process_group::Exit;

/// A task's result and exit code. `None` for a cancelled task: it gets no
/// result, the queue's `finished` marks it `Cancelled`.
pub(crate) fn task_result(exit: Exit) -> Option<(TaskResult, Option<i32>)> {
    match exit {
        Exit::Code(0) => Some((TaskResult::Pass, Some(0))),
        Exit::Code(code) => Some((TaskResult::Fail, Some(code))),
        Exit::Signal(signal) => Some((TaskResult::Fail, Some(128 + signal))),
        Exit::TimedOut => Some((TaskResult::Timeout, None)),
        Exit::Cancelled => None,
    }
}

/// How a task's command ended, as its `task_finished` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskDone {
    pub result: TaskResult,
    pub exit_code: Option<i32>,
    /// Said in the log and the event: a timeout, why it could not run, or
    /// what its cases changed (console_cases/verdict.rs).
    pub message: Option<String>,
    /// For a profile that reads cases from the console: the try's cases,
    /// JUnit's merged in (task_cases.rs). `None` otherwise.
    pub cases: Option<JunitSummary>,
}

impl TaskDone {
    /// A task that could not run at all.
    pub(crate) fn error(message: String) -> Self {
        Self {
            result: TaskResult::Error,
            exit_code: None,
            message: Some(message),
            cases: None,
        }
    }
}

/// A task's end from its command's exit; `None` when it was cancelled.
pub(crate) fn task_done(exit: Exit, timeout: Duration) -> Option<TaskDone> {
    let (result, exit_code) = task_result(exit)?;
    let message =
        (exit == Exit::TimedOut).then(|| format!("timed out after {}s", timeout.as_secs()));
    Some(TaskDone {
        result,
        exit_code,
        message,
        cases: None,
    })
}

/// What follows a try of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterTry {
    /// Run it again (a `FAIL` or `TIMEOUT` with retries left).
    Retry,
    Done,
}

/// Whether the target is booted again before the next task: with
/// `reboot_after_failure` (and a boot), after a task that did not pass.
pub(crate) fn reboot_before_next(last: Option<TaskResult>, reboot_after_failure: bool) -> bool {
    reboot_after_failure && last.is_some_and(|r| !matches!(r, TaskResult::Pass | TaskResult::Flaky))
}

/// Whether a task that has had `tries` tries, the last ending `result`,
/// runs again, with `retries` reruns allowed.
pub(crate) fn after_try(result: TaskResult, tries: usize, retries: u8) -> AfterTry {
    if result.is_retryable() && tries <= usize::from(retries) {
        AfterTry::Retry
    } else {
        AfterTry::Done
    }
}

/// A task's result over its tries, in order: the last one's, except that
/// a pass after a failed try is `FLAKY`.
pub(crate) fn over_tries(tries: &[TaskResult]) -> Option<TaskResult> {
    let last = *tries.last()?;
    let failed_before = tries[..tries.len() - 1].iter().any(|r| !r.is_pass());
    Some(match last {
        TaskResult::Pass if failed_before => TaskResult::Flaky,
        other => other,
    })
}

/// The retries a task gets: its own, else its profile's.
pub(crate) fn task_retries(own: Option<u8>, profile_default: u8) -> u8 {
    own.unwrap_or(profile_default)
}

/// A task's own timeout, else its profile's.
pub(crate) fn task_timeout(timeout_s: Option<u32>, profile_default: Duration) -> Duration {
    timeout_s
        .map(|s| Duration::from_secs(u64::from(s)))
        .unwrap_or(profile_default)
}

/// Why a build failed, for the queue's reason; `None` when it succeeded or
/// was cancelled.
pub(crate) fn command_failure(stage: &str, exit: Exit, timeout: Duration) -> Option<String> {
    match exit {
        Exit::Code(0) | Exit::Cancelled => None,
        Exit::Code(code) => Some(format!("{stage} failed with exit code {code}")),
        Exit::Signal(signal) => Some(format!("{stage} was killed by signal {signal}")),
        Exit::TimedOut => Some(format!("{stage} timed out after {}s", timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_task_that_did_not_pass_reboots_the_target_and_only_when_asked() {
        for (last, expected) in [
            (None, false),
            (Some(TaskResult::Pass), false),
            (Some(TaskResult::Flaky), false),
            (Some(TaskResult::Fail), true),
            (Some(TaskResult::Timeout), true),
            (Some(TaskResult::Error), true),
        ] {
            assert_eq!(reboot_before_next(last, true), expected, "{last:?}");
            assert!(!reboot_before_next(last, false));
        }
    }

    #[test]
    fn exits_map_to_results() {
        assert_eq!(
            task_result(Exit::Code(0)),
            Some((TaskResult::Pass, Some(0)))
        );
        assert_eq!(
            task_result(Exit::Code(3)),
            Some((TaskResult::Fail, Some(3)))
        );
        assert_eq!(
            task_result(Exit::TimedOut),
            Some((TaskResult::Timeout, None))
        );
        assert_eq!(task_result(Exit::Cancelled), None);
        assert_eq!(
            command_failure("build", Exit::Code(2), Duration::from_secs(1)).unwrap(),
            "build failed with exit code 2"
        );
        assert!(command_failure("build", Exit::Code(0), Duration::from_secs(1)).is_none());
    }

    #[test]
    fn a_task_done_says_when_it_timed_out() {
        let minute = Duration::from_secs(60);
        assert_eq!(
            task_done(Exit::TimedOut, minute),
            Some(TaskDone {
                result: TaskResult::Timeout,
                exit_code: None,
                message: Some("timed out after 60s".into()),
                cases: None,
            })
        );
        assert_eq!(
            task_done(Exit::Signal(9), minute),
            Some(TaskDone {
                result: TaskResult::Fail,
                exit_code: Some(137),
                message: None,
                cases: None,
            })
        );
        assert_eq!(task_done(Exit::Cancelled, minute), None);
        assert_eq!(TaskDone::error("no dir".into()).result, TaskResult::Error);
    }

    #[test]
    fn a_fail_or_timeout_is_retried_while_retries_are_left() {
        use TaskResult::*;
        assert_eq!(after_try(Fail, 1, 2), AfterTry::Retry);
        assert_eq!(after_try(Timeout, 2, 2), AfterTry::Retry);
        assert_eq!(after_try(Fail, 3, 2), AfterTry::Done, "2 retries = 3 tries");
        assert_eq!(after_try(Fail, 1, 0), AfterTry::Done);
        assert_eq!(after_try(Pass, 1, 5), AfterTry::Done);
        assert_eq!(
            after_try(Error, 1, 5),
            AfterTry::Done,
            "an error is not retried"
        );
        assert_eq!(task_retries(Some(0), 3), 0);
        assert_eq!(task_retries(None, 3), 3);
    }

    #[test]
    fn a_pass_after_a_failed_try_is_flaky() {
        use TaskResult::*;
        assert_eq!(over_tries(&[Pass]), Some(Pass));
        assert_eq!(over_tries(&[Fail, Pass]), Some(Flaky));
        assert_eq!(over_tries(&[Timeout, Fail, Pass]), Some(Flaky));
        assert_eq!(over_tries(&[Fail, Fail]), Some(Fail));
        assert_eq!(over_tries(&[Fail, Timeout]), Some(Timeout));
        assert_eq!(over_tries(&[]), None);
    }

    #[test]
    fn a_task_timeout_overrides_the_profiles() {
        let profile = Duration::from_secs(600);
        assert_eq!(task_timeout(Some(5), profile), Duration::from_secs(5));
        assert_eq!(task_timeout(None, profile), profile);
    }
}
