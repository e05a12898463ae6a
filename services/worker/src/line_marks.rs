//! The marks a command's output line carries besides its text, decided per
//! line and shared by the command's stdout and stderr readers:
//! - `teardown`: read after the worker stopped the command on purpose
//!   (teardown, cancel, timeout), so a reader can mute shutdown noise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use testarena_events::LogLine;

#[derive(Debug, Default)]
pub(crate) struct LineMarks {
    stopping: AtomicBool,
}

impl LineMarks {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The worker is about to stop the command while it still runs: every
    /// line read from now on is teardown output.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Sets the marks of a line just read.
    pub(crate) fn mark(&self, line: &mut LogLine) {
        line.teardown = self.stopping.load(Ordering::Relaxed);
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
        let marks = LineMarks::new();
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
}
