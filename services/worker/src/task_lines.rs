//! What a task's output line says besides its text: that something failed
//! (the profile's `failure_regex`) or how far the task got (its
//! `progress_regex`, else the built-in "case 12 of 25" and "[12/25]").
//! Compiled once with the profile; deciding is pure.

use std::sync::LazyLock;

use anyhow::bail;
use regex::Regex;
use testarena_events::LineProgress;

/// Progress every task gets without configuring anything.
static BUILT_IN_PROGRESS: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [
        Regex::new(r"(?i)\bcase\s+(?P<done>\d+)\s+of\s+(?P<total>\d+)\b").expect("valid"),
        Regex::new(r"\[(?P<done>\d+)/(?P<total>\d+)\]").expect("valid"),
    ]
});

#[derive(Debug, Clone, Default)]
pub struct TaskLines {
    failure: Option<Regex>,
    progress: Option<Regex>,
}

impl TaskLines {
    /// `progress` must have the named groups `done` and `total`.
    pub fn new(failure: Option<Regex>, progress: Option<Regex>) -> anyhow::Result<Self> {
        if let Some(re) = &progress {
            let names: Vec<&str> = re.capture_names().flatten().collect();
            for group in ["done", "total"] {
                if !names.contains(&group) {
                    bail!("has no named group `{group}` (write it as (?P<{group}>\\d+))");
                }
            }
        }
        Ok(Self { failure, progress })
    }

    pub fn is_failure(&self, text: &str) -> bool {
        self.failure.as_ref().is_some_and(|re| re.is_match(text))
    }

    /// The progress `text` reports: the profile's pattern first, then the
    /// built-in ones. A count that makes no sense (`total` 0, `done` past
    /// `total`, numbers too large) reports nothing.
    pub fn progress(&self, text: &str) -> Option<LineProgress> {
        self.progress
            .iter()
            .chain(BUILT_IN_PROGRESS.iter())
            .find_map(|re| progress_of(re, text))
    }
}

fn progress_of(re: &Regex, text: &str) -> Option<LineProgress> {
    let caps = re.captures(text)?;
    let done = caps.name("done")?.as_str().parse().ok()?;
    let total = caps.name("total")?.as_str().parse().ok()?;
    (total > 0 && done <= total).then_some(LineProgress { done, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u32, total: u32) -> Option<LineProgress> {
        Some(LineProgress { done, total })
    }

    #[test]
    fn built_in_patterns_read_case_n_of_m_and_bracketed_counts() {
        let lines = TaskLines::default();
        assert_eq!(
            lines.progress("running case 12 of 25: uart"),
            progress(12, 25)
        );
        assert_eq!(lines.progress("Case 3 of 10"), progress(3, 10));
        assert_eq!(lines.progress("[12/25] flash_crc ... ok"), progress(12, 25));
        assert_eq!(
            lines.progress("a suitcase 3 of 10"),
            None,
            "a word boundary"
        );
        assert_eq!(lines.progress("[3/0]"), None, "total 0");
        assert_eq!(lines.progress("case 26 of 25"), None, "past the total");
        assert_eq!(
            lines.progress("[99999999999/99999999999]"),
            None,
            "too large"
        );
        assert_eq!(lines.progress("all good"), None);
    }

    #[test]
    fn the_profile_pattern_comes_first_and_needs_both_groups() {
        let re = Regex::new(r"step (?P<done>\d+)/(?P<total>\d+)").unwrap();
        let lines = TaskLines::new(None, Some(re)).unwrap();
        assert_eq!(lines.progress("step 2/7 [1/9]"), progress(2, 7));
        assert_eq!(
            lines.progress("[1/9]"),
            progress(1, 9),
            "built-ins still apply"
        );
        let missing = Regex::new(r"step (?P<done>\d+)").unwrap();
        let err = TaskLines::new(None, Some(missing)).unwrap_err();
        assert!(err.to_string().contains("`total`"), "{err}");
    }

    #[test]
    fn only_a_configured_failure_regex_flags_a_line() {
        assert!(!TaskLines::default().is_failure("FAIL: uart"));
        let re = Regex::new(r"^(FAIL|ASSERT)\b").unwrap();
        let lines = TaskLines::new(Some(re), None).unwrap();
        assert!(lines.is_failure("FAIL uart_echo"));
        assert!(!lines.is_failure("no FAIL here"));
    }
}
