//! The marks a command's output line carries besides its text, decided per
//! line and shared by the command's stdout and stderr readers:
//! - `teardown`: read after the worker stopped the command on purpose
//!   (teardown, cancel, timeout), so a reader can mute shutdown noise;
//! - `failure` and `progress` on a task's line (`task_lines.rs`), never on
//!   teardown output: shutdown noise is not a test failing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use testarena_events::LogLine;

use crate::task_lines::TaskLines;

#[derive(Debug, Default)]
pub(crate) struct LineMarks {
    stopping: AtomicBool,
    /// A task's patterns; `None` for build and boot commands.
    task_lines: Option<Arc<TaskLines>>,
}

impl LineMarks {
    pub(crate) fn new(task_lines: Option<Arc<TaskLines>>) -> Arc<Self> {
        Arc::new(Self {
            stopping: AtomicBool::new(false),
            task_lines,
        })
    }

    /// The worker is about to stop the command while it still runs: every
    /// line read from now on is teardown output.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Sets the marks of a line just read.
    pub(crate) fn mark(&self, line: &mut LogLine) {
        line.teardown = self.stopping.load(Ordering::Relaxed);
        if let Some(task_lines) = self.task_lines.as_deref().filter(|_| !line.teardown) {
            line.failure = task_lines.is_failure(&line.text);
            line.progress = task_lines.progress(&line.text);
        }
    }
}

#[cfg(test)]
mod tests {
    use testarena_events::LogStream;

    use super::*;

    fn line(text: &str) -> LogLine {
        LogLine::new(1, "boot".into(), LogStream::Stderr, text.into())
    }

    #[test]
    fn only_lines_read_after_a_stop_on_purpose_are_teardown() {
        let marks = LineMarks::new(None);
        let mut before = line("running");
        marks.mark(&mut before);
        assert!(!before.teardown);
        marks.stopping();
        let mut after = line("caught SIGTERM");
        marks.mark(&mut after);
        assert!(after.teardown);
        let json = serde_json::to_value(&before).unwrap();
        assert!(json.get("teardown").is_none(), "absent when false: {json}");
        assert_eq!(serde_json::to_value(&after).unwrap()["teardown"], true);
    }

    #[test]
    fn a_task_line_carries_failure_and_progress_but_a_teardown_line_does_not() {
        let failure = regex::Regex::new("FAIL").unwrap();
        let task_lines = Arc::new(TaskLines::new(Some(failure), None).unwrap());
        let marks = LineMarks::new(Some(task_lines));
        let mut failed = line("FAIL uart");
        marks.mark(&mut failed);
        assert!(failed.failure);
        let mut counted = line("case 3 of 10");
        marks.mark(&mut counted);
        assert_eq!(
            counted.progress,
            Some(testarena_events::LineProgress { done: 3, total: 10 })
        );
        let json = serde_json::to_value(&counted).unwrap();
        assert!(json.get("failure").is_none(), "absent when false: {json}");
        assert_eq!(
            json["progress"],
            serde_json::json!({"done": 3, "total": 10})
        );
        marks.stopping();
        let mut noise = line("FAIL: killed, case 4 of 10");
        marks.mark(&mut noise);
        assert!(noise.teardown && !noise.failure && noise.progress.is_none());
        let mut build = line("FAIL case 1 of 2");
        LineMarks::new(None).mark(&mut build);
        assert!(
            !build.failure && build.progress.is_none(),
            "only tasks are scanned"
        );
    }
}
