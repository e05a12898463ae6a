//! GoogleTest's default printer: `[ RUN      ] Suite.Name`, then
//! `[       OK ]`, `[  FAILED  ]` or `[  SKIPPED ]` with the same name (and
//! `(N ms)` unless `--gtest_print_time=0`). After `[==========] N tests
//! from M test suites ran.` comes the summary, whose `[  FAILED  ] Suite.Name`
//! list repeats cases already counted: there only the counts are read.
//! What a case printed after its `RUN` line is its message.

use std::sync::LazyLock;

use regex::Regex;

use super::{case, CaseOutput, CaseReader, Counts, Found, FAILED, PASSED, SKIPPED};

static RUNNING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[==========\] Running \d+ tests?").expect("valid"));
static RAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[==========\] (\d+) tests? from .* ran\.").expect("valid"));
static RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[ RUN      \] (\S+)").expect("valid"));
static END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\[(?P<tag>       OK |  FAILED  |  SKIPPED )\] (?P<name>[^\s,]+)",
        r"(?:, where (?:GetParam\(\)|TypeParam) = .*?)?(?: \((?P<ms>\d+) ms\))?\s*$",
    ))
    .expect("valid")
});
static LISTED_COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[  (FAILED |SKIPPED)\s?\] (\d+) tests?, listed below:").expect("valid")
});

#[derive(Debug, Default)]
pub(crate) struct GtestReader {
    /// Between `... ran.` and the next `Running`: the summary.
    in_summary: bool,
    open: Option<String>,
    output: CaseOutput,
}

impl CaseReader for GtestReader {
    fn line(&mut self, line: &str, found: &mut Vec<Found>) {
        if RUNNING.is_match(line) {
            self.in_summary = false;
        } else if let Some(ran) = RAN.captures(line) {
            self.interrupted(found);
            self.in_summary = true;
            found.push(reported(ran[1].parse().ok(), None, None));
        } else if self.in_summary {
            if let Some(listed) = LISTED_COUNT.captures(line) {
                let n = listed[2].parse().ok();
                let (failed, skipped) = if listed[1].starts_with("FAILED") {
                    (n, None)
                } else {
                    (None, n)
                };
                found.push(reported(None, failed, skipped));
            }
        } else if let Some(run) = RUN.captures(line) {
            self.interrupted(found);
            self.open = Some(run[1].to_owned());
        } else if let Some(end) = END.captures(line) {
            let output = self.output.take();
            self.open = None;
            let (result, message) = match &end["tag"] {
                "       OK " => (PASSED, None),
                "  SKIPPED " => (SKIPPED, output),
                _ => (FAILED, output),
            };
            let time_ms = end
                .name("ms")
                .map_or(0, |ms| ms.as_str().parse().unwrap_or(0));
            found.push(Found::Case(split_case(
                &end["name"],
                result,
                time_ms,
                message,
            )));
        } else if self.open.is_some() {
            self.output.push(line);
        }
    }

    fn end(&mut self, found: &mut Vec<Found>) {
        self.interrupted(found);
    }
}

impl GtestReader {
    /// A case that ran and never ended (a crash, a timeout) is a failure.
    fn interrupted(&mut self, found: &mut Vec<Found>) {
        if let Some(name) = self.open.take() {
            let mut message = "no result: the output stopped during this case".to_owned();
            if let Some(output) = self.output.take() {
                message = format!("{message}\n{output}");
            }
            found.push(Found::Case(split_case(&name, FAILED, 0, Some(message))));
        }
    }
}

fn reported(total: Option<u32>, failed: Option<u32>, skipped: Option<u32>) -> Found {
    Found::Reported(Counts {
        total,
        failed,
        skipped,
    })
}

/// `Suite.Name` → class `Suite`, name `Name`, as gtest's XML has them
/// (`Inst/Suite.Name/0` → `Inst/Suite`, `Name/0`).
fn split_case(
    full: &str,
    result: &str,
    time_ms: u64,
    message: Option<String>,
) -> testarena_events::JunitCase {
    let (class, name) = full
        .split_once('.')
        .map_or((None, full), |(c, n)| (Some(c), n));
    case(class.map(str::to_owned), name, result, time_ms, message)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outcomes, parse};
    use super::super::CaseFormat;

    /// GoogleTest's default output: a pass, a failure with its assertion,
    /// a skip, a value-parameterized failure, then the summary that lists
    /// the failed and skipped cases again.
    const RUN: &str = "\
Running main() from gmock_main.cc
[==========] Running 4 tests from 2 test suites.
[----------] Global test environment set-up.
[----------] 3 tests from Crc
[ RUN      ] Crc.EmptyIsZero
[       OK ] Crc.EmptyIsZero (0 ms)
[ RUN      ] Crc.KnownVector
crc_test.cc:31: Failure
Expected equality of these values:
  crc32(\"123456789\")
    Which is: 3421780262
  0xCBF43926u
    Which is: 3421780263
[  FAILED  ] Crc.KnownVector (1 ms)
[ RUN      ] Crc.Hardware
crc_test.cc:40: Skipped
no CRC unit on the host

[  SKIPPED ] Crc.Hardware (0 ms)
[----------] 3 tests from Crc (1 ms total)

[----------] 1 test from Sizes/Ring
[ RUN      ] Sizes/Ring.Wraps/0
ring_test.cc:12: Failure
Value of: r.full()
  Actual: false
Expected: true
[  FAILED  ] Sizes/Ring.Wraps/0, where GetParam() = 4 (0 ms)
[----------] 1 test from Sizes/Ring (0 ms total)

[----------] Global test environment tear-down
[==========] 4 tests from 2 test suites ran. (2 ms total)
[  PASSED  ] 1 test.
[  SKIPPED ] 1 test, listed below:
[  SKIPPED ] Crc.Hardware
[  FAILED  ] 2 tests, listed below:
[  FAILED  ] Crc.KnownVector
[  FAILED  ] Sizes/Ring.Wraps/0, where GetParam() = 4

 2 FAILED TESTS
";

    #[test]
    fn each_case_once_with_its_failure_output() {
        let parsed = parse(&CaseFormat::Gtest, RUN);
        assert_eq!(
            outcomes(&parsed),
            [
                ("Crc.EmptyIsZero", "passed"),
                ("Crc.KnownVector", "failed"),
                ("Crc.Hardware", "skipped"),
                ("Sizes/Ring.Wraps/0", "failed"),
            ]
            .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        assert_eq!(cases[1].time_ms, 1);
        let message = cases[1].message.as_deref().unwrap();
        assert!(message.starts_with("crc_test.cc:31: Failure"), "{message}");
        assert!(message.contains("Which is: 3421780263"), "{message}");
        assert!(cases[2].message.as_deref().unwrap().contains("no CRC unit"));
        assert_eq!(parsed.mismatch, None, "4 ran, 2 failed, 1 skipped");
    }

    #[test]
    fn without_times_and_with_a_crash_the_counts_still_say_what_happened() {
        let no_time = "[==========] Running 1 test from 1 test suite.\n[ RUN      ] A.B\n[       OK ] A.B\n[==========] 1 test from 1 test suite ran.\n[  PASSED  ] 1 test.\n";
        let parsed = parse(&CaseFormat::Gtest, no_time);
        assert_eq!(outcomes(&parsed), [("A.B".to_owned(), "passed".to_owned())]);
        assert_eq!(parsed.mismatch, None);

        let crashed = "[==========] Running 2 tests from 1 test suite.\n[ RUN      ] A.B\nSegmentation fault (core dumped)\n";
        let parsed = parse(&CaseFormat::Gtest, crashed);
        assert_eq!(outcomes(&parsed), [("A.B".to_owned(), "failed".to_owned())]);
        let message = parsed.summary.as_ref().unwrap().cases[0]
            .message
            .clone()
            .unwrap();
        assert!(message.contains("Segmentation fault"), "{message}");
        assert!(parsed.mismatch.unwrap().contains("no summary"));
    }
}
