//! Pure: what a task's cases change in its result, for a profile that reads
//! cases. A failed case fails the task even when the command exits 0; a
//! command that fails after every case passed still fails, and says so.
//! A timeout or a task that could not run stays what it is.

use testarena_events::{JunitSummary, TaskResult};

use crate::outcome::TaskDone;
use crate::process_group::Exit;

pub(crate) fn with_cases(done: TaskDone, exit: Exit, cases: Option<&JunitSummary>) -> TaskDone {
    let Some(cases) = cases else {
        return done;
    };
    let failed = cases.failures.saturating_add(cases.errors);
    let passed = cases
        .tests
        .saturating_sub(failed)
        .saturating_sub(cases.skipped);
    match done.result {
        TaskResult::Pass if failed > 0 => TaskDone {
            result: TaskResult::Fail,
            message: Some(format!(
                "exit 0 but {failed} of {} {} failed",
                cases.tests,
                if cases.tests == 1 { "case" } else { "cases" }
            )),
            ..done
        },
        TaskResult::Fail if failed == 0 && passed > 0 => {
            let how = match exit {
                Exit::Signal(signal) => format!("killed by signal {signal}"),
                _ => format!("exit {}", done.exit_code.unwrap_or(1)),
            };
            TaskDone {
                message: Some(format!("{how} after all cases passed")),
                ..done
            }
        }
        _ => done,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{case, FAILED, PASSED, SKIPPED};
    use super::*;
    use crate::outcome::task_done;

    fn cases(results: &[&str]) -> JunitSummary {
        let mut s = JunitSummary::default();
        for (n, result) in results.iter().enumerate() {
            s.tests += 1;
            match *result {
                FAILED => s.failures += 1,
                SKIPPED => s.skipped += 1,
                _ => {}
            }
            s.cases.push(case(None, &n.to_string(), result, 0, None));
        }
        s
    }

    fn done(exit: Exit) -> TaskDone {
        task_done(exit, Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn a_failed_case_fails_a_task_that_exits_0() {
        let two = cases(&[PASSED, FAILED]);
        let out = with_cases(done(Exit::Code(0)), Exit::Code(0), Some(&two));
        assert_eq!(out.result, TaskResult::Fail);
        assert_eq!(out.exit_code, Some(0));
        assert_eq!(
            out.message.as_deref(),
            Some("exit 0 but 1 of 2 cases failed")
        );
        let passing = cases(&[PASSED, SKIPPED]);
        let out = with_cases(done(Exit::Code(0)), Exit::Code(0), Some(&passing));
        assert_eq!((out.result, out.message), (TaskResult::Pass, None));
    }

    #[test]
    fn a_command_failing_after_every_case_passed_says_so() {
        let all = cases(&[PASSED, PASSED, SKIPPED]);
        let out = with_cases(done(Exit::Code(3)), Exit::Code(3), Some(&all));
        assert_eq!(out.result, TaskResult::Fail);
        assert_eq!(
            out.message.as_deref(),
            Some("exit 3 after all cases passed")
        );
        let out = with_cases(done(Exit::Signal(11)), Exit::Signal(11), Some(&all));
        assert_eq!(
            out.message.as_deref(),
            Some("killed by signal 11 after all cases passed")
        );
        // A failure with failed cases is just a failure; only skips say nothing.
        let failing = cases(&[FAILED]);
        let out = with_cases(done(Exit::Code(1)), Exit::Code(1), Some(&failing));
        assert_eq!((out.result, out.message), (TaskResult::Fail, None));
        let skipped = cases(&[SKIPPED]);
        let out = with_cases(done(Exit::Code(1)), Exit::Code(1), Some(&skipped));
        assert_eq!(out.message, None);
    }

    #[test]
    fn a_timeout_an_error_and_no_cases_are_left_alone() {
        let failing = cases(&[FAILED]);
        let timed_out = with_cases(done(Exit::TimedOut), Exit::TimedOut, Some(&failing));
        assert_eq!(timed_out.result, TaskResult::Timeout);
        assert_eq!(timed_out.message.as_deref(), Some("timed out after 60s"));
        let error = TaskDone::error("could not start".into());
        assert_eq!(
            with_cases(error.clone(), Exit::Code(0), Some(&failing)),
            error
        );
        let plain = done(Exit::Code(2));
        assert_eq!(with_cases(plain.clone(), Exit::Code(2), None), plain);
    }
}
