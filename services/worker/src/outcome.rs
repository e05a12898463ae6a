//! Pure decisions of a run: what a command's exit means for a task, and
//! what a failed stage means for the queue.

use std::time::Duration;

use testarena_events::TaskResult;

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
}
