//! Test cases read from a task's console output, for profiles with a
//! `[profiles.NAME.cases]` table: a regex of the profile's own, or a preset
//! for one framework's output (TAP, Unity, ztest, GoogleTest, pytest `-rA`,
//! CTest). Each reader is a pure line-in, findings-out state machine, fed
//! every line of the task once, in order; `Tally` keeps the cases (bounded
//! like JUnit's) and checks them against the framework's own summary.

mod ctest;
mod gtest;
mod merge;
mod pattern;
mod pytest;
mod tally;
mod tap;
mod unity;
mod verdict;
mod ztest;

use std::sync::LazyLock;

use regex::Regex;
use testarena_events::{JunitCase, JunitSummary, MAX_JUNIT_MESSAGE};

pub(crate) use merge::junit_wins;
pub use pattern::CasePattern;
pub(crate) use verdict::with_cases;

use crate::junit::bounded;

/// How a profile reads cases from a task's output; compiled once with the
/// profile.
#[derive(Debug, Clone)]
pub enum CaseFormat {
    /// The profile's own `regex`, with its outcome words.
    Pattern(CasePattern),
    Tap,
    Unity,
    Ztest,
    Gtest,
    Pytest,
    Ctest,
}

impl CaseFormat {
    /// A preset by its `format` name; `None` for a name that is none.
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "tap" => Self::Tap,
            "unity" => Self::Unity,
            "ztest" => Self::Ztest,
            "gtest" => Self::Gtest,
            "pytest" => Self::Pytest,
            "ctest" => Self::Ctest,
            _ => return None,
        })
    }

    /// The names `preset` knows, for error messages and docs.
    pub const PRESETS: [&'static str; 6] = ["tap", "unity", "ztest", "gtest", "pytest", "ctest"];

    /// A fresh reader for one try of one task.
    pub(crate) fn parser(&self) -> CaseParser {
        let reader: Box<dyn CaseReader> = match self {
            Self::Pattern(pattern) => Box::new(pattern.clone()),
            Self::Tap => Box::<tap::TapReader>::default(),
            Self::Unity => Box::<unity::UnityReader>::default(),
            Self::Ztest => Box::<ztest::ZtestReader>::default(),
            Self::Gtest => Box::<gtest::GtestReader>::default(),
            Self::Pytest => Box::<pytest::PytestReader>::default(),
            Self::Ctest => Box::<ctest::CtestReader>::default(),
        };
        CaseParser {
            reader,
            found: Vec::new(),
            tally: tally::Tally::default(),
            // A profile's own regex has no summary line to check against.
            expects_summary: !matches!(self, Self::Pattern(_)),
        }
    }
}

/// What a reader finds in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    Case(JunitCase),
    /// One line standing for `count` cases of one outcome (pytest's folded
    /// skips, `SKIPPED [3] tests/x.py:12: reason`).
    Folded(JunitCase, u32),
    /// The framework's own count of what it ran; a field it does not print
    /// is `None`. Several (one per suite or per program) add up.
    Reported(Counts),
}

/// A framework's summary: cases run, of them failed (or in error), skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub total: Option<u32>,
    pub failed: Option<u32>,
    pub skipped: Option<u32>,
}

/// One framework's output, read line by line.
pub(crate) trait CaseReader: Send {
    /// One line of the task's output, colour codes removed.
    fn line(&mut self, line: &str, found: &mut Vec<Found>);
    /// The output ended: what is still open is reported, never dropped.
    fn end(&mut self, _found: &mut Vec<Found>) {}
}

/// One try's cases so far, and the reader that finds them.
pub(crate) struct CaseParser {
    reader: Box<dyn CaseReader>,
    /// Reused between lines, so a line costs no allocation.
    found: Vec<Found>,
    tally: tally::Tally,
    expects_summary: bool,
}

/// What a try's output said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedCases {
    /// `None` when no case was found.
    pub summary: Option<JunitSummary>,
    /// The log line to mark when the cases do not add up to the framework's
    /// own summary ("parsed 127 cases, the framework reports 128").
    pub mismatch: Option<String>,
}

impl CaseParser {
    pub(crate) fn line(&mut self, text: &str) {
        let clean = without_colours(text);
        self.reader.line(&clean, &mut self.found);
        self.tally.add_all(self.found.drain(..));
    }

    pub(crate) fn finish(mut self) -> ParsedCases {
        self.reader.end(&mut self.found);
        self.tally.add_all(self.found.drain(..));
        self.tally.finish(self.expects_summary)
    }
}

pub(crate) const PASSED: &str = "passed";
pub(crate) const FAILED: &str = "failed";
pub(crate) const ERROR: &str = "error";
pub(crate) const SKIPPED: &str = "skipped";

/// A case as the readers make them: its message bounded like JUnit's.
pub(crate) fn case(
    classname: Option<String>,
    name: &str,
    result: &str,
    time_ms: u64,
    message: Option<String>,
) -> JunitCase {
    JunitCase {
        name: name.to_owned(),
        classname: classname.filter(|c| !c.is_empty()),
        time_ms,
        result: result.to_owned(),
        message: message
            .map(|m| bounded(m.trim().to_owned(), MAX_JUNIT_MESSAGE))
            .filter(|m| !m.is_empty()),
    }
}

/// Milliseconds from a count of seconds as printed ("0.012", "1,5").
pub(crate) fn seconds_to_ms(text: &str) -> u64 {
    let secs: f64 = text.replace(',', ".").parse().unwrap_or(0.0);
    (secs.max(0.0) * 1000.0).round() as u64
}

/// What a case printed between its start and its result, kept as its
/// message when it fails: bounded, whatever it prints.
#[derive(Debug, Default)]
pub(crate) struct CaseOutput {
    text: String,
}

impl CaseOutput {
    pub(crate) fn push(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() || self.text.len() >= MAX_JUNIT_MESSAGE {
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(line);
    }

    pub(crate) fn take(&mut self) -> Option<String> {
        Some(std::mem::take(&mut self.text)).filter(|t| !t.is_empty())
    }
}

/// ANSI colour and cursor sequences (Unity's `UNITY_OUTPUT_COLOR`, gtest's
/// and pytest's colours on a terminal) would split a record's words.
static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("valid"));

fn without_colours(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\x1b') {
        ANSI.replace_all(text, "")
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every line of `output` through a fresh parser of `format`.
    pub(crate) fn parse(format: &CaseFormat, output: &str) -> ParsedCases {
        let mut parser = format.parser();
        for line in output.lines() {
            parser.line(line);
        }
        parser.finish()
    }

    /// `(classname.name, result)` of each case kept.
    pub(crate) fn outcomes(parsed: &ParsedCases) -> Vec<(String, String)> {
        let cases = parsed.summary.as_ref().map_or(&[][..], |s| &s.cases[..]);
        cases
            .iter()
            .map(|c| (crate::junit::full_name(c), c.result.clone()))
            .collect()
    }

    #[test]
    fn colour_codes_do_not_split_a_record() {
        let parsed = parse(
            &CaseFormat::Unity,
            "test/test_led.c:12:test_on:\x1b[42mPASS\x1b[0m\n1 Tests 0 Failures 0 Ignored",
        );
        assert_eq!(
            outcomes(&parsed),
            [("test_led.test_on".to_owned(), PASSED.to_owned())]
        );
        assert_eq!(parsed.mismatch, None);
    }

    #[test]
    fn a_case_output_is_bounded() {
        let mut output = CaseOutput::default();
        for _ in 0..10_000 {
            output.push("assertion failed somewhere");
        }
        let text = output.take().unwrap();
        assert!(text.len() < MAX_JUNIT_MESSAGE + 100, "{}", text.len());
        assert_eq!(output.take(), None, "taken once");
        let long = case(None, "x", FAILED, 0, Some("é".repeat(MAX_JUNIT_MESSAGE)));
        assert!(long.message.unwrap().len() <= MAX_JUNIT_MESSAGE);
    }

    #[test]
    fn seconds_read_with_a_dot_or_a_comma() {
        assert_eq!(seconds_to_ms("0.012"), 12);
        assert_eq!(seconds_to_ms("1,5"), 1500);
        assert_eq!(seconds_to_ms("x"), 0);
    }
}
