//! A task's JUnit and console cases as one summary: JUnit wins per case
//! name, since a report file says more than a console line (and a test
//! framework that writes both must not count each case twice).

use testarena_events::{JunitCase, JunitSummary, MAX_JUNIT_CASES};

use super::{ERROR, FAILED, SKIPPED};
use crate::junit::{full_name, MAX_FAILED_NAMES};

/// JUnit's summary with the console's cases it does not name.
pub(crate) fn junit_wins(
    junit: Option<JunitSummary>,
    console: Option<JunitSummary>,
) -> Option<JunitSummary> {
    let (mut merged, console) = match (junit, console) {
        (junit, None) => return junit,
        (None, console) => return console,
        (Some(junit), Some(console)) => (junit, console),
    };
    // Cases past the console's bound were counted but not kept; they are
    // added by count, unchecked against JUnit's names.
    let mut unkept = Counted::of(&console);
    for case in console.cases {
        unkept.remove(&case);
        if merged.cases.iter().any(|j| same_case(j, &case)) {
            continue;
        }
        add(&mut merged, case);
    }
    merged.tests += unkept.tests;
    merged.failures += unkept.failures;
    merged.errors += unkept.errors;
    merged.skipped += unkept.skipped;
    Some(merged)
}

/// The same name, and the same class when both have one (a console line
/// often has no class where the report file does).
fn same_case(junit: &JunitCase, console: &JunitCase) -> bool {
    junit.name == console.name
        && match (&junit.classname, &console.classname) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

fn add(summary: &mut JunitSummary, case: JunitCase) {
    let mut one = Counted::default();
    one.count(&case, 1);
    summary.tests += one.tests;
    summary.failures += one.failures;
    summary.errors += one.errors;
    summary.skipped += one.skipped;
    if matches!(case.result.as_str(), FAILED | ERROR)
        && summary.failed_cases.len() < MAX_FAILED_NAMES
    {
        summary.failed_cases.push(full_name(&case));
    }
    if summary.cases.len() < MAX_JUNIT_CASES {
        summary.cases.push(case);
    }
}

#[derive(Debug, Default)]
struct Counted {
    tests: u32,
    failures: u32,
    errors: u32,
    skipped: u32,
}

impl Counted {
    fn of(summary: &JunitSummary) -> Self {
        Self {
            tests: summary.tests,
            failures: summary.failures,
            errors: summary.errors,
            skipped: summary.skipped,
        }
    }

    fn count(&mut self, case: &JunitCase, n: u32) {
        self.tests += n;
        match case.result.as_str() {
            FAILED => self.failures += n,
            ERROR => self.errors += n,
            SKIPPED => self.skipped += n,
            _ => {}
        }
    }

    fn remove(&mut self, case: &JunitCase) {
        let mut one = Counted::default();
        one.count(case, 1);
        self.tests = self.tests.saturating_sub(one.tests);
        self.failures = self.failures.saturating_sub(one.failures);
        self.errors = self.errors.saturating_sub(one.errors);
        self.skipped = self.skipped.saturating_sub(one.skipped);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{case, PASSED};
    use super::*;

    fn summary(cases: Vec<JunitCase>) -> JunitSummary {
        let mut s = JunitSummary::default();
        for c in cases {
            add(&mut s, c);
        }
        s
    }

    #[test]
    fn junit_wins_per_case_name_and_the_rest_is_added() {
        let junit = summary(vec![
            case(Some("uart".into()), "echo", PASSED, 5, None),
            case(None, "flash", FAILED, 9, Some("from the XML".into())),
        ]);
        let console = summary(vec![
            case(None, "echo", FAILED, 1, Some("console says no".into())),
            case(Some("nvm".into()), "flash", PASSED, 1, None),
            case(None, "crc", FAILED, 2, None),
        ]);
        let merged = junit_wins(Some(junit), Some(console)).unwrap();
        let got: Vec<(String, &str)> = merged
            .cases
            .iter()
            .map(|c| (full_name(c), c.result.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("uart.echo".to_owned(), PASSED),
                ("flash".to_owned(), FAILED),
                ("crc".to_owned(), FAILED),
            ]
        );
        assert_eq!((merged.tests, merged.failures), (3, 2));
        assert_eq!(merged.failed_cases, ["flash", "crc"]);
    }

    #[test]
    fn one_side_alone_is_itself_and_unkept_console_cases_still_count() {
        let only = summary(vec![case(None, "a", PASSED, 0, None)]);
        assert_eq!(junit_wins(None, Some(only.clone())), Some(only.clone()));
        assert_eq!(junit_wins(Some(only.clone()), None), Some(only.clone()));
        assert_eq!(junit_wins(None, None), None);

        let mut console = summary(vec![case(None, "b", PASSED, 0, None)]);
        // 10 more failures counted past the bound, not kept.
        console.tests += 10;
        console.failures += 10;
        let merged = junit_wins(Some(only), Some(console)).unwrap();
        assert_eq!(
            (merged.tests, merged.failures, merged.cases.len()),
            (12, 10, 2)
        );
    }
}
