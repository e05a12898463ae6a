//! CTest's progress lines, one per test program:
//! ` 1/21 Test  #1: name ......   Passed    0.04 sec`, `***Failed`,
//! `***Timeout`, `***Exception: SegFault`, `***Skipped`, `***Not Run
//! (Disabled)`; and the summary `67% tests passed, 1 tests failed out of 3`.
//! Skipped and disabled tests are cases that did not fail, as CTest counts
//! them in "out of N". Records are found anywhere in a line (`-j` output
//! that ran together).

use std::sync::LazyLock;

use regex::Regex;

use super::{case, seconds_to_ms, CaseReader, Counts, Found, FAILED, PASSED, SKIPPED};

static RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\d+/\d+ +Test +#\d+: (?P<name>.+?) \.*\s*",
        r"(?P<status>Passed|\*\*\*.+?|Not Run.*?)\s+(?P<secs>\d+\.\d+) sec",
    ))
    .expect("valid")
});
static SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d+% tests passed, (\d+) tests? failed out of (\d+)").expect("valid")
});

#[derive(Debug, Default)]
pub(crate) struct CtestReader;

impl CaseReader for CtestReader {
    fn line(&mut self, line: &str, found: &mut Vec<Found>) {
        for record in RECORD.captures_iter(line) {
            let status = record["status"].trim_start_matches('*').trim();
            let (result, message) = if status == "Passed" {
                (PASSED, None)
            } else if status == "Skipped" || status.starts_with("Not Run (Disabled)") {
                (SKIPPED, Some(status.to_owned()))
            } else {
                (FAILED, Some(status.to_owned()))
            };
            let time_ms = seconds_to_ms(&record["secs"]);
            found.push(Found::Case(case(
                None,
                record["name"].trim(),
                result,
                time_ms,
                message,
            )));
        }
        if let Some(summary) = SUMMARY.captures(line) {
            found.push(Found::Reported(Counts {
                total: summary[2].parse().ok(),
                failed: summary[1].parse().ok(),
                skipped: None,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outcomes, parse};
    use super::super::CaseFormat;

    /// `ctest --output-on-failure` over a library's test programs: passes,
    /// a failure with its output, a timeout, a crash, a skip, a disabled
    /// test, then the summary and the list of failures.
    const CTEST: &str = "\
Test project /home/ci/lib/build
      Start  1: test_aes
 1/6 Test  #1: test_aes .........................   Passed    0.04 sec
      Start  2: test_sha
 2/6 Test  #2: test_sha .........................***Failed    0.02 sec
test_suite_sha: vector 3 ... FAILED
      Start  3: test_rsa
 3/6 Test  #3: test_rsa .........................***Timeout  10.01 sec
      Start  4: test_x509
 4/6 Test  #4: test_x509 ........................***Exception: SegFault  0.11 sec
      Start  5: test_hw
 5/6 Test  #5: test_hw ..........................***Skipped   0.00 sec
      Start  6: test_old
 6/6 Test  #6: test_old .........................***Not Run (Disabled)   0.00 sec

50% tests passed, 3 tests failed out of 6

Total Test time (real) =  10.20 sec

The following tests did not run:
\t  5 - test_hw (Skipped)
\t  6 - test_old (Disabled)

The following tests FAILED:
\t  2 - test_sha (Failed)
\t  3 - test_rsa (Timeout)
\t  4 - test_x509 (SEGFAULT)
";

    #[test]
    fn each_program_is_a_case_and_the_summary_agrees() {
        let parsed = parse(&CaseFormat::Ctest, CTEST);
        assert_eq!(
            outcomes(&parsed),
            [
                ("test_aes", "passed"),
                ("test_sha", "failed"),
                ("test_rsa", "failed"),
                ("test_x509", "failed"),
                ("test_hw", "skipped"),
                ("test_old", "skipped"),
            ]
            .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        assert_eq!(cases[2].message.as_deref(), Some("Timeout"));
        assert_eq!(cases[2].time_ms, 10_010);
        assert_eq!(cases[3].message.as_deref(), Some("Exception: SegFault"));
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn records_run_together_by_parallel_output_are_each_read() {
        let glued = "1/2 Test #1: a ....   Passed    0.01 sec2/2 Test #2: b ....***Failed    0.01 sec\n50% tests passed, 1 tests failed out of 2";
        let parsed = parse(&CaseFormat::Ctest, glued);
        assert_eq!(
            outcomes(&parsed),
            [("a", "passed"), ("b", "failed")].map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        assert_eq!(parsed.mismatch, None);
    }
}
