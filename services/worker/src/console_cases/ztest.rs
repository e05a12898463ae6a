//! Zephyr's ztest over a console: `Running TESTSUITE s`, `START - t`,
//! ` PASS - t in 0.001 seconds` (`FAIL`, `SKIP`), and the summary's
//! `SUITE PASS - 100.00% [s]: pass = 3, fail = 0, skip = 0, total = 3 ...`
//! per suite. Like twister, records are found anywhere in a line (a log
//! prefix, or two records glued by a lost newline). A case is `suite.name`;
//! what it printed after its `START` is a failure's message. Without
//! per-case lines (`CONFIG_ZTEST_VERBOSE_OUTPUT=n`) the summary's
//! ` - PASS - [s.t] duration = ...` lines give the cases instead.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::{case, seconds_to_ms, CaseOutput, CaseReader, Counts, Found, FAILED, PASSED, SKIPPED};

/// One alternative per record kind; a line may hold several.
static RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"Running TESTSUITE (?P<suite>[^\s=]+)",
        r"|START - (?P<start>[^\s=]+)",
        r"|(?P<result>PASS|FAIL|SKIP) - (?P<name>[^\s=]+) in (?P<secs>\d+(?:[.,]\d+)?) seconds",
        r"|SUITE (?:PASS|FAIL|SKIP) - [^\[]*\[(?P<summed>[^\]]+)\]: pass = (?P<pass>\d+), fail = (?P<fail>\d+), skip = (?P<skip>\d+), total = (?P<total>\d+)",
        r"| - (?P<listed>PASS|FAIL|SKIP|FLAKY) - \[(?P<full>[^\]]+)\]",
    ))
    .expect("valid")
});

#[derive(Debug, Default)]
pub(crate) struct ZtestReader {
    suite: Option<String>,
    /// The case started and not yet ended, and what it printed since.
    open: Option<String>,
    output: CaseOutput,
    /// `suite.name` of each case ended, so the summary's list adds only
    /// the cases a quiet build did not print.
    seen: HashSet<String>,
}

impl CaseReader for ZtestReader {
    fn line(&mut self, line: &str, found: &mut Vec<Found>) {
        let mut any = false;
        for record in RECORD.captures_iter(line) {
            any = true;
            if let Some(suite) = record.name("suite") {
                self.interrupted(found);
                self.suite = Some(suite.as_str().to_owned());
            } else if let Some(start) = record.name("start") {
                self.interrupted(found);
                self.open = Some(start.as_str().to_owned());
            } else if let (Some(result), Some(name)) = (record.name("result"), record.name("name"))
            {
                let secs = record.name("secs").map_or("0", |s| s.as_str());
                self.ended(name.as_str(), result.as_str(), seconds_to_ms(secs), found);
            } else if record.name("summed").is_some() {
                self.interrupted(found);
                let number = |key: &str| record.name(key).and_then(|n| n.as_str().parse().ok());
                found.push(Found::Reported(Counts {
                    total: number("total"),
                    failed: number("fail"),
                    skipped: number("skip"),
                }));
            } else if let (Some(listed), Some(full)) = (record.name("listed"), record.name("full"))
            {
                self.listed(listed.as_str(), full.as_str(), found);
            }
        }
        if !any && self.open.is_some() {
            self.output.push(line);
        }
    }

    fn end(&mut self, found: &mut Vec<Found>) {
        self.interrupted(found);
    }
}

impl ZtestReader {
    fn ended(&mut self, name: &str, result: &str, time_ms: u64, found: &mut Vec<Found>) {
        let output = self.output.take();
        self.open = None;
        let (result, message) = match result {
            "PASS" => (PASSED, None),
            "SKIP" => (SKIPPED, None),
            _ => (FAILED, output),
        };
        self.seen.insert(self.full_name(name));
        found.push(Found::Case(case(
            self.suite.clone(),
            name,
            result,
            time_ms,
            message,
        )));
    }

    /// A case of the summary's list (`suite.name`) not already ended.
    fn listed(&mut self, result: &str, full: &str, found: &mut Vec<Found>) {
        if !self.seen.insert(full.to_owned()) {
            return;
        }
        let (suite, name) = full
            .split_once('.')
            .map_or((None, full), |(s, n)| (Some(s), n));
        let (result, message) = match result {
            "PASS" => (PASSED, None),
            "SKIP" => (SKIPPED, None),
            "FLAKY" => (FAILED, Some("flaky: failed some of its repeats".to_owned())),
            _ => (FAILED, None),
        };
        found.push(Found::Case(case(
            suite.map(str::to_owned),
            name,
            result,
            0,
            message,
        )));
    }

    /// A case that started and never ended (a crash, a reboot, a timeout)
    /// is a failure, not silence.
    fn interrupted(&mut self, found: &mut Vec<Found>) {
        if let Some(name) = self.open.take() {
            let output = self.output.take();
            let message = match output {
                Some(text) => format!("no result: the output stopped during this case\n{text}"),
                None => "no result: the output stopped during this case".to_owned(),
            };
            self.seen.insert(self.full_name(&name));
            found.push(Found::Case(case(
                self.suite.clone(),
                &name,
                FAILED,
                0,
                Some(message),
            )));
        }
    }

    fn full_name(&self, name: &str) -> String {
        match &self.suite {
            Some(suite) => format!("{suite}.{name}"),
            None => name.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outcomes, parse};
    use super::super::CaseFormat;

    /// A ztest image on a UART as twister reads it: boot banner, one suite
    /// with a pass, a failure with its assertion, a skip; the suite's end,
    /// the summary with its per-case list, and the project's verdict.
    const UART: &str = "\
*** Booting Zephyr OS build v3.7.0 ***
Running TESTSUITE ring_buffer
===================================================================
START - test_put_get
 PASS - test_put_get in 0.001 seconds
===================================================================
START - test_wrap
    Assertion failed at WEST_TOPDIR/app/tests/ring/src/main.c:41: ring_buffer_test_wrap: (got == 4) is false
 at test function
 FAIL - test_wrap in 0.012 seconds
===================================================================
START - test_dma
 SKIP - test_dma in 0.000 seconds
===================================================================
TESTSUITE ring_buffer failed.

------ TESTSUITE SUMMARY START ------

SUITE FAIL -  50.00% [ring_buffer]: pass = 1, fail = 1, skip = 1, total = 3 duration = 0.013 seconds
 - PASS - [ring_buffer.test_put_get] duration = 0.001 seconds
 - FAIL - [ring_buffer.test_wrap] duration = 0.012 seconds
 - SKIP - [ring_buffer.test_dma] duration = 0.000 seconds

------ TESTSUITE SUMMARY END ------

===================================================================
PROJECT EXECUTION FAILED
";

    #[test]
    fn a_suite_over_a_uart_gives_each_case_once() {
        let parsed = parse(&CaseFormat::Ztest, UART);
        assert_eq!(
            outcomes(&parsed),
            [
                ("ring_buffer.test_put_get", "passed"),
                ("ring_buffer.test_wrap", "failed"),
                ("ring_buffer.test_dma", "skipped"),
            ]
            .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        assert_eq!(cases[1].time_ms, 12);
        let message = cases[1].message.as_deref().unwrap();
        assert!(message.contains("(got == 4) is false"), "{message}");
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn glued_records_and_log_prefixes_are_read() {
        let glued = "\
[00:00:00.010,000] <inf> app: Running TESTSUITE s
START - test_a PASS - test_a in 0.001 secondsSTART - test_b
 PASS - test_b in 0.002 seconds
SUITE PASS - 100.00% [s]: pass = 2, fail = 0, skip = 0, total = 2 duration = 0.003 seconds
";
        let parsed = parse(&CaseFormat::Ztest, glued);
        assert_eq!(
            outcomes(&parsed),
            [("s.test_a", "passed"), ("s.test_b", "passed")]
                .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn a_quiet_build_reads_the_summary_list_and_a_crash_fails_the_open_case() {
        let quiet = "\
SUITE PASS - 100.00% [s]: pass = 2, fail = 0, skip = 0, total = 2 duration = 0.003 seconds
 - PASS - [s.test_a] duration = 0.001 seconds
 - FLAKY - [s.test_b] - (Failed 1 of 3 attempts) - duration = 0.002 seconds
";
        let parsed = parse(&CaseFormat::Ztest, quiet);
        assert_eq!(
            outcomes(&parsed),
            [("s.test_a", "passed"), ("s.test_b", "failed")]
                .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );

        let crashed = "Running TESTSUITE s\nSTART - test_a\nE: ***** HARD FAULT *****\n";
        let parsed = parse(&CaseFormat::Ztest, crashed);
        assert_eq!(
            outcomes(&parsed),
            [("s.test_a".to_owned(), "failed".to_owned())]
        );
        let case = &parsed.summary.as_ref().unwrap().cases[0];
        assert!(case.message.as_deref().unwrap().contains("HARD FAULT"));
        assert!(parsed.mismatch.unwrap().contains("no summary"));
    }

    #[test]
    fn a_lost_record_is_a_mismatch_with_the_summary() {
        let lost = "\
Running TESTSUITE s
START - test_a
 PASS - test_a in 0.001 seconds
START - test_b
 PAS
SUITE PASS - 100.00% [s]: pass = 2, fail = 0, skip = 0, total = 2 duration = 0.003 seconds
";
        let parsed = parse(&CaseFormat::Ztest, lost);
        // test_b started and never ended: it is reported failed, and the
        // framework's count of failures disagrees.
        assert_eq!(
            parsed.mismatch.as_deref(),
            Some("parsed 1 failed case, the framework reports 0")
        );
    }
}
