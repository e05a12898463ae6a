//! What a test's page shows beside its runs: its failures grouped by the
//! first line of their message (pure, so one wording of a failure is one
//! row however often it happened), and its quarantine history as the
//! projector keeps it. Served by `GET /api/tests/history`; with the
//! `openapi` feature these are poem-openapi `Object`s.

use serde::{Deserialize, Serialize};

use crate::test_history::TestRun;

/// Failed runs whose messages begin with the same line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct FailureGroup {
    /// The messages' first line (trimmed); `null` for runs that gave none.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub first_line: Option<String>,
    /// Runs that failed so.
    pub count: u32,
    /// The newest of them: its queue and when it ended.
    pub last_queue_id: String,
    pub last_at: String,
}

/// The failed runs (`FAIL`, `TIMEOUT`, `ERROR`; a `FLAKY` run passed in the
/// end) of `runs`, newest first, grouped by their message's first line:
/// the most frequent first, ties by the newest.
pub fn failure_groups(runs: &[TestRun]) -> Vec<FailureGroup> {
    let mut groups: Vec<FailureGroup> = Vec::new();
    for run in runs.iter().filter(|r| r.outcome().is_failed()) {
        let first_line = run
            .message
            .as_deref()
            .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
            .map(str::to_owned);
        match groups.iter_mut().find(|g| g.first_line == first_line) {
            Some(group) => group.count += 1,
            None => groups.push(FailureGroup {
                first_line,
                count: 1,
                last_queue_id: run.queue_id.clone(),
                last_at: run.at.clone(),
            }),
        }
    }
    // Stable: among equal counts, the group seen first (the newest) stays first.
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    groups
}

/// A quarantine, or its end, as the test's history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct QuarantineRecord {
    /// `true`: quarantined; `false`: the quarantine ended.
    pub quarantined: bool,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Why (required to quarantine, optional to end it).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reason: Option<String>,
    /// `user` (the API) or `auto` (`--auto-quarantine`); `null` for an end.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub by: Option<String>,
    /// Who asked: the API token's name (`anonymous` without tokens); `null`
    /// for `auto` and for events recorded before it was.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub actor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_state::tests::series;

    #[test]
    fn failures_group_by_first_line_most_frequent_first_passes_left_out() {
        let mut runs = series(&[("F", 1), ("T", 2), ("P", 3), ("F", 4), ("R", 5), ("E", 6)]);
        // Newest first: E, R, F, P, T, F.
        let messages = [
            Some("could not boot\nmore"),
            Some("flaky"),
            Some("  \nexpected 64 bytes, got 60\nat uart.c:12"),
            None,
            None,
            Some("expected 64 bytes, got 60"),
        ];
        for (run, message) in runs.iter_mut().zip(messages) {
            run.message = message.map(str::to_owned);
        }
        let groups = failure_groups(&runs);
        let lines: Vec<(Option<&str>, u32)> = groups
            .iter()
            .map(|g| (g.first_line.as_deref(), g.count))
            .collect();
        assert_eq!(
            lines,
            vec![
                (Some("expected 64 bytes, got 60"), 2),
                (Some("could not boot"), 1),
                (None, 1),
            ]
        );
        assert_eq!(groups[0].last_queue_id, "q3", "the newest of the group");
        assert!(failure_groups(&series(&[("P", 1), ("R", 2)])).is_empty());
    }
}
