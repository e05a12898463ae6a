//! pytest with `-rA`: the "short test summary info" section's lines
//! `PASSED tests/test_x.py::test_y`, `FAILED ... - message`, `ERROR`,
//! `XFAIL`, `XPASS`, and `SKIPPED` either per case (`--no-fold-skipped`)
//! or folded (`SKIPPED [3] tests/test_x.py:12: reason`, one line for three
//! cases); then the closing `=== 1 failed, 2 passed in 0.12s ===`, which
//! is the summary checked. Only that section is read, so `-v` progress
//! lines are not counted twice. Names are split as pytest's JUnit XML
//! splits them (`tests.test_x.TestCls`, `test_y[1]`).

use std::sync::LazyLock;

use regex::Regex;

use super::{case, CaseReader, Counts, Found, ERROR, FAILED, PASSED, SKIPPED};

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^=+ short test summary info =+$").expect("valid"));
static CLOSING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^=*\s*((?:\d+ \w+)(?:, \d+ \w+)*) in [\d.]+s\b").expect("valid"));
static RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (.+)$").expect("valid")
});
static FOLDED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(\d+)\] (.+?): (.*)$").expect("valid"));

#[derive(Debug, Default)]
pub(crate) struct PytestReader {
    in_section: bool,
}

impl CaseReader for PytestReader {
    fn line(&mut self, line: &str, found: &mut Vec<Found>) {
        if SECTION.is_match(line) {
            self.in_section = true;
        } else if let Some(closing) = CLOSING.captures(line) {
            self.in_section = false;
            found.push(Found::Reported(counts(&closing[1])));
        } else if self.in_section {
            if let Some(record) = RECORD.captures(line) {
                found.push(record_case(&record[1], &record[2]));
            }
        }
    }
}

fn record_case(word: &str, rest: &str) -> Found {
    if word == "SKIPPED" {
        if let Some(folded) = FOLDED.captures(rest) {
            let count = folded[1].parse().unwrap_or(1);
            let reason = Some(folded[3].to_owned());
            return Found::Folded(case(None, &folded[2], SKIPPED, 0, reason), count);
        }
    }
    let result = match word {
        "PASSED" | "XPASS" => PASSED,
        "FAILED" => FAILED,
        "ERROR" => ERROR,
        _ => SKIPPED,
    };
    // `ERROR at setup of tests/x.py::t` and `XFAIL at teardown of ...`.
    let rest = ["at setup of ", "at teardown of ", "at call of "]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .unwrap_or(rest);
    let (node, message) = split_message(rest);
    let (class, name) = junit_names(node);
    Found::Case(case(class, name, result, 0, message.map(str::to_owned)))
}

/// A node id and the message after its first ` - ` outside brackets (a
/// parameter id may hold ` - ` itself).
fn split_message(rest: &str) -> (&str, Option<&str>) {
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' if depth <= 0 && rest[i..].starts_with(" - ") => {
                return (&rest[..i], Some(&rest[i + 3..]));
            }
            _ => {}
        }
    }
    (rest, None)
}

/// `tests/test_x.py::TestCls::test_y[1]` → (`tests.test_x.TestCls`,
/// `test_y[1]`), as pytest's JUnit XML names the case.
fn junit_names(node: &str) -> (Option<String>, &str) {
    let mut parts: Vec<&str> = node.split("::").collect();
    let name = parts.pop().unwrap_or(node);
    if parts.is_empty() {
        return (None, name);
    }
    let file = parts[0]
        .strip_suffix(".py")
        .unwrap_or(parts[0])
        .replace('/', ".");
    let class = std::iter::once(file.as_str())
        .chain(parts[1..].iter().copied())
        .collect::<Vec<_>>()
        .join(".");
    (Some(class), name)
}

/// `1 failed, 2 passed, 1 skipped, 3 warnings` → counts; warnings and
/// deselected tests are no cases.
fn counts(text: &str) -> Counts {
    let (mut total, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    for part in text.split(", ") {
        let Some((n, word)) = part.split_once(' ') else {
            continue;
        };
        let n: u32 = n.parse().unwrap_or(0);
        match word {
            "passed" | "xpassed" => total += n,
            "failed" | "error" | "errors" => {
                total += n;
                failed += n;
            }
            "skipped" | "xfailed" => {
                total += n;
                skipped += n;
            }
            _ => {}
        }
    }
    Counts {
        total: Some(total),
        failed: Some(failed),
        skipped: Some(skipped),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outcomes, parse};
    use super::super::CaseFormat;

    /// `pytest -rA` as its docs show it: progress, the failure's traceback
    /// section, the short summary with every outcome, the closing line.
    const RA: &str = "\
============================= test session starts ==============================
collected 7 items

tests/test_uart.py .F.sxX                                                 [ 85%]
tests/test_boot.py E                                                      [100%]

==================================== ERRORS ====================================
_______________________ ERROR at setup of test_boot_fast _______________________
E       fixture 'board' not found
=================================== FAILURES ===================================
_________________________________ test_flood __________________________________
E       assert 3 == 0
==================================== PASSES ====================================
=========================== short test summary info ============================
PASSED tests/test_uart.py::test_echo
PASSED tests/test_uart.py::TestBaud::test_rate[115200 - 8N1]
SKIPPED [1] tests/test_uart.py:40: no loopback cable
XFAIL tests/test_uart.py::test_break - known bug #12
XPASS tests/test_uart.py::test_parity
ERROR tests/test_boot.py::test_boot_fast - fixture 'board' not found
FAILED tests/test_uart.py::test_flood - assert 3 == 0
=== 1 failed, 2 passed, 1 skipped, 1 xfailed, 1 xpassed, 1 error in 0.31s ====
";

    #[test]
    fn the_short_summary_gives_each_case_named_like_pytests_junit() {
        let parsed = parse(&CaseFormat::Pytest, RA);
        assert_eq!(
            outcomes(&parsed),
            [
                ("tests.test_uart.test_echo", "passed"),
                ("tests.test_uart.TestBaud.test_rate[115200 - 8N1]", "passed"),
                ("tests/test_uart.py:40", "skipped"),
                ("tests.test_uart.test_break", "skipped"),
                ("tests.test_uart.test_parity", "passed"),
                ("tests.test_boot.test_boot_fast", "error"),
                ("tests.test_uart.test_flood", "failed"),
            ]
            .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        assert_eq!(cases[6].message.as_deref(), Some("assert 3 == 0"));
        assert_eq!(cases[2].message.as_deref(), Some("no loopback cable"));
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn folded_skips_count_for_each_and_quiet_closing_lines_are_read() {
        let folded = "\
==== short test summary info ====
SKIPPED [3] tests/test_x.py:12: needs a board
PASSED tests/test_x.py::test_a
1 passed, 3 skipped in 0.05s
";
        let parsed = parse(&CaseFormat::Pytest, folded);
        let summary = parsed.summary.as_ref().unwrap();
        assert_eq!((summary.tests, summary.skipped), (4, 3));
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn a_run_without_ra_says_what_it_missed() {
        let plain = "tests/test_x.py ..                  [100%]\n==== 2 passed in 0.01s ====\n";
        let parsed = parse(&CaseFormat::Pytest, plain);
        assert_eq!(parsed.summary, None);
        assert_eq!(
            parsed.mismatch.as_deref(),
            Some("parsed 0 cases, the framework reports 2")
        );
    }
}
