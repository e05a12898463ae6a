//! ThrowTheSwitch Unity's runner output: `file:line:name:PASS`,
//! `file:line:name:FAIL: message`, `file:line:name:IGNORE[: reason]`, each
//! maybe followed by ` (N ms)` (`UNITY_INCLUDE_EXEC_TIME`), and the summary
//! `N Tests M Failures K Ignored`. A case's class is its test file's name,
//! as Unity's own JUnit converter has it. Records are found anywhere in a
//! line, so a case glued after another (a lost newline on a UART) counts.

use std::sync::LazyLock;

use regex::Regex;

use super::{case, CaseReader, Counts, Found, FAILED, PASSED, SKIPPED};

static RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<file>[^\s:]+):(?P<line>\d+):(?P<name>[^\s:]+):(?P<result>PASS|FAIL|IGNORE)")
        .expect("valid")
});
static SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d+) Tests (\d+) Failures (\d+) Ignored").expect("valid"));
static EXEC_TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\((\d+) ms\)\s*$").expect("valid"));

#[derive(Debug, Default)]
pub(crate) struct UnityReader;

impl CaseReader for UnityReader {
    fn line(&mut self, line: &str, found: &mut Vec<Found>) {
        let records: Vec<_> = RECORD.captures_iter(line).collect();
        for (i, record) in records.iter().enumerate() {
            let end = record.get(0).map_or(line.len(), |m| m.end());
            let next = records
                .get(i + 1)
                .and_then(|r| r.get(0))
                .map_or(line.len(), |m| m.start());
            let (time_ms, message) = tail(&line[end..next]);
            let result = match &record["result"] {
                "PASS" => PASSED,
                "FAIL" => FAILED,
                _ => SKIPPED,
            };
            let class = file_stem(&record["file"]);
            found.push(Found::Case(case(
                Some(class),
                &record["name"],
                result,
                time_ms,
                message,
            )));
        }
        if let Some(summary) = SUMMARY.captures(line) {
            let number = |i: usize| summary[i].parse().ok();
            found.push(Found::Reported(Counts {
                total: number(1),
                failed: number(2),
                skipped: number(3),
            }));
        }
    }
}

/// What follows a record up to the next one: its message after `:`, its
/// execution time.
fn tail(text: &str) -> (u64, Option<String>) {
    let (text, time_ms) = match EXEC_TIME.captures(text) {
        Some(time) => (
            &text[..time.get(0).map_or(text.len(), |m| m.start())],
            time[1].parse().unwrap_or(0),
        ),
        None => (text, 0),
    };
    let message = text.strip_prefix(':').unwrap_or(text).trim();
    (time_ms, Some(message.to_owned()).filter(|m| !m.is_empty()))
}

/// `test/test_led.c` → `test_led`.
fn file_stem(path: &str) -> String {
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    base.split_once('.')
        .map_or(base, |(stem, _)| stem)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outcomes, parse};
    use super::super::CaseFormat;

    /// A Unity runner as its docs show one: a pass, a failure with its
    /// message, an ignore with and without a reason, the exec time of
    /// `UNITY_INCLUDE_EXEC_TIME`, an INFO line that is no case, the summary.
    const RUNNER: &str = "\
test/test_ring.c:14:test_ring_starts_empty:PASS (0 ms)
test/test_ring.c:27:test_ring_wraps:FAIL: Expected 3 Was 4 (1 ms)
test/test_ring.c:40:test_ring_info:INFO: filling the ring
test/test_ring.c:41:test_ring_info:PASS (2 ms)
test/test_ring.c:55:test_ring_dma:IGNORE: no DMA on the host (0 ms)
test/test_ring.c:60:test_ring_later:IGNORE

-----------------------
5 Tests 1 Failures 2 Ignored
FAIL
";

    #[test]
    fn a_runner_gives_each_case_with_message_and_time() {
        let parsed = parse(&CaseFormat::Unity, RUNNER);
        assert_eq!(
            outcomes(&parsed),
            [
                ("test_ring.test_ring_starts_empty", "passed"),
                ("test_ring.test_ring_wraps", "failed"),
                ("test_ring.test_ring_info", "passed"),
                ("test_ring.test_ring_dma", "skipped"),
                ("test_ring.test_ring_later", "skipped"),
            ]
            .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        assert_eq!(cases[1].message.as_deref(), Some("Expected 3 Was 4"));
        assert_eq!(cases[1].time_ms, 1);
        assert_eq!(cases[2].time_ms, 2);
        assert_eq!(cases[3].message.as_deref(), Some("no DMA on the host"));
        assert_eq!(cases[4].message, None);
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn two_records_glued_on_one_line_are_two_cases() {
        let glued = "src/t.c:3:test_a:PASSsrc/t.c:9:test_b:FAIL: Expected 1 Was 0\n2 Tests 1 Failures 0 Ignored";
        let parsed = parse(&CaseFormat::Unity, glued);
        assert_eq!(
            outcomes(&parsed),
            [("t.test_a", "passed"), ("t.test_b", "failed")]
                .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn a_record_cut_in_the_middle_is_a_mismatch() {
        // The UART dropped the start of the second record.
        let cut = "src/t.c:3:test_a:PASS\nt_b:PASS\n2 Tests 0 Failures 0 Ignored";
        let parsed = parse(&CaseFormat::Unity, cut);
        assert_eq!(
            parsed.mismatch.as_deref(),
            Some("parsed 1 case, the framework reports 2")
        );
    }
}
