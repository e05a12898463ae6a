//! One try's console cases: counted all, kept up to JUnit's bounds, and
//! checked against what the framework says it ran. A mismatch is said, never
//! hidden: real output has lines where one record runs into the next.

use testarena_events::{JunitSummary, MAX_JUNIT_CASES};

use super::{Counts, Found, ParsedCases, ERROR, FAILED, SKIPPED};
use crate::junit::{full_name, MAX_FAILED_NAMES};

#[derive(Debug, Default)]
pub(super) struct Tally {
    summary: JunitSummary,
    /// The framework's counts, summed over its summaries; `None` until one.
    reported: Option<Counts>,
}

impl Tally {
    pub(super) fn add_all(&mut self, found: impl Iterator<Item = Found>) {
        for item in found {
            match item {
                Found::Case(case) => self.add_case(case, 1),
                Found::Folded(case, count) => self.add_case(case, count),
                Found::Reported(counts) => {
                    let sum = self.reported.get_or_insert_with(Counts::default);
                    sum.total = add(sum.total, counts.total);
                    sum.failed = add(sum.failed, counts.failed);
                    sum.skipped = add(sum.skipped, counts.skipped);
                }
            }
        }
    }

    fn add_case(&mut self, case: testarena_events::JunitCase, count: u32) {
        let s = &mut self.summary;
        s.tests = s.tests.saturating_add(count);
        match case.result.as_str() {
            FAILED => s.failures = s.failures.saturating_add(count),
            ERROR => s.errors = s.errors.saturating_add(count),
            SKIPPED => s.skipped = s.skipped.saturating_add(count),
            _ => {}
        }
        if matches!(case.result.as_str(), FAILED | ERROR) && s.failed_cases.len() < MAX_FAILED_NAMES
        {
            s.failed_cases.push(full_name(&case));
        }
        if s.cases.len() < MAX_JUNIT_CASES {
            s.cases.push(case);
        }
    }

    /// The cases found, and what does not add up. A preset that found
    /// cases but no summary says so too: the program may have stopped early.
    pub(super) fn finish(self, expects_summary: bool) -> ParsedCases {
        let mismatch = match self.reported {
            Some(reported) => mismatch(&self.summary, reported),
            None if expects_summary && self.summary.tests > 0 => Some(format!(
                "parsed {}, the framework printed no summary (did it stop early?)",
                cases(self.summary.tests, "")
            )),
            None => None,
        };
        ParsedCases {
            summary: (self.summary.tests > 0).then_some(self.summary),
            mismatch,
        }
    }
}

/// The first count that differs, in words.
fn mismatch(parsed: &JunitSummary, reported: Counts) -> Option<String> {
    let failed = parsed.failures.saturating_add(parsed.errors);
    [
        (parsed.tests, reported.total, ""),
        (failed, reported.failed, "failed "),
        (parsed.skipped, reported.skipped, "skipped "),
    ]
    .into_iter()
    .find_map(|(ours, theirs, kind)| {
        let theirs = theirs?;
        (ours != theirs).then(|| {
            format!(
                "parsed {}, the framework reports {theirs}",
                cases(ours, kind)
            )
        })
    })
}

fn cases(n: u32, kind: &str) -> String {
    let noun = if n == 1 { "case" } else { "cases" };
    format!("{n} {kind}{noun}")
}

fn add(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{case, PASSED};
    use super::*;

    fn counts(total: u32, failed: Option<u32>, skipped: Option<u32>) -> Found {
        Found::Reported(Counts {
            total: Some(total),
            failed,
            skipped,
        })
    }

    #[test]
    fn cases_that_add_up_say_nothing_and_a_missing_one_is_said() {
        let mut tally = Tally::default();
        tally.add_all(
            [
                Found::Case(case(None, "a", PASSED, 1, None)),
                Found::Case(case(None, "b", FAILED, 1, Some("no".into()))),
                counts(2, Some(1), None),
            ]
            .into_iter(),
        );
        let parsed = tally.finish(true);
        let summary = parsed.summary.unwrap();
        assert_eq!((summary.tests, summary.failures), (2, 1));
        assert_eq!(summary.failed_cases, ["b"]);
        assert_eq!(parsed.mismatch, None);

        let mut tally = Tally::default();
        let many = (0..127).map(|n| Found::Case(case(None, &n.to_string(), PASSED, 0, None)));
        tally.add_all(many.chain([counts(100, None, None), counts(28, None, None)]));
        assert_eq!(
            tally.finish(true).mismatch.as_deref(),
            Some("parsed 127 cases, the framework reports 128")
        );
    }

    #[test]
    fn failed_and_skipped_counts_are_checked_when_the_framework_gives_them() {
        let mut tally = Tally::default();
        tally.add_all(
            [
                Found::Case(case(None, "a", PASSED, 0, None)),
                Found::Case(case(None, "b", PASSED, 0, None)),
                counts(2, Some(1), Some(0)),
            ]
            .into_iter(),
        );
        assert_eq!(
            tally.finish(true).mismatch.as_deref(),
            Some("parsed 0 failed cases, the framework reports 1")
        );
    }

    #[test]
    fn no_summary_is_said_only_by_a_preset_that_found_cases() {
        let one = || Found::Case(case(None, "a", PASSED, 0, None));
        let mut preset = Tally::default();
        preset.add_all([one()].into_iter());
        assert_eq!(
            preset.finish(true).mismatch.as_deref(),
            Some("parsed 1 case, the framework printed no summary (did it stop early?)")
        );
        let mut own_regex = Tally::default();
        own_regex.add_all([one()].into_iter());
        assert_eq!(own_regex.finish(false).mismatch, None);
        let nothing = Tally::default().finish(true);
        assert_eq!((nothing.summary, nothing.mismatch), (None, None));
    }

    #[test]
    fn folded_cases_count_for_each_and_cases_are_bounded() {
        let mut tally = Tally::default();
        let skipped = case(None, "tests/x.py:3", SKIPPED, 0, None);
        tally.add_all([Found::Folded(skipped, 3)].into_iter());
        let many = (0..MAX_JUNIT_CASES + 5)
            .map(|n| Found::Case(case(None, &n.to_string(), FAILED, 0, None)));
        tally.add_all(many);
        let summary = tally.finish(false).summary.unwrap();
        assert_eq!(summary.tests as usize, MAX_JUNIT_CASES + 8);
        assert_eq!(summary.skipped, 3);
        assert_eq!(summary.cases.len(), MAX_JUNIT_CASES);
        assert_eq!(summary.failed_cases.len(), MAX_FAILED_NAMES);
    }
}
