//! A profile's own case regex (`cases.regex`): named groups `name` and
//! `result`, optional `message`, `duration_ms` or `duration_s` and
//! `classname`; the `result` word is looked up in the `pass`, `fail` and
//! `skip` lists. Every match in a line is a case, so two records glued on
//! one line are two cases when the regex is not anchored.

use regex::Regex;

use super::{case, seconds_to_ms, CaseReader, Found, FAILED, PASSED, SKIPPED};

/// Outcome words when the profile gives none.
const DEFAULT_PASS: [&str; 3] = ["PASS", "PASSED", "OK"];
const DEFAULT_FAIL: [&str; 3] = ["FAIL", "FAILED", "ERROR"];
const DEFAULT_SKIP: [&str; 4] = ["SKIP", "SKIPPED", "IGNORE", "IGNORED"];

#[derive(Debug, Clone)]
pub struct CasePattern {
    regex: Regex,
    pass: Vec<String>,
    fail: Vec<String>,
    skip: Vec<String>,
}

/// Why a profile's case regex is refused at start.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error(transparent)]
    Regex(#[from] regex::Error),
    #[error("has no named group `{0}` (write it as (?P<{0}>...))")]
    MissingGroup(&'static str),
    #[error("has both `duration_ms` and `duration_s`; keep one")]
    TwoDurations,
    #[error("the word {0:?} is in more than one of pass, fail and skip")]
    WordInTwoLists(String),
}

impl CasePattern {
    /// Empty word lists take the defaults (`PASS`/`PASSED`/`OK`,
    /// `FAIL`/`FAILED`/`ERROR`, `SKIP`/`SKIPPED`/`IGNORE`/`IGNORED`).
    pub fn new(
        regex: &str,
        pass: Vec<String>,
        fail: Vec<String>,
        skip: Vec<String>,
    ) -> Result<Self, PatternError> {
        let regex = Regex::new(regex)?;
        let groups: Vec<&str> = regex.capture_names().flatten().collect();
        for group in ["name", "result"] {
            if !groups.contains(&group) {
                return Err(PatternError::MissingGroup(group));
            }
        }
        if groups.contains(&"duration_ms") && groups.contains(&"duration_s") {
            return Err(PatternError::TwoDurations);
        }
        let or_default = |words: Vec<String>, default: &[&str]| {
            if words.is_empty() {
                default.iter().map(|w| (*w).to_owned()).collect()
            } else {
                words
            }
        };
        let pattern = Self {
            regex,
            pass: or_default(pass, &DEFAULT_PASS),
            fail: or_default(fail, &DEFAULT_FAIL),
            skip: or_default(skip, &DEFAULT_SKIP),
        };
        pattern.check_words()?;
        Ok(pattern)
    }

    fn check_words(&self) -> Result<(), PatternError> {
        let lists = [&self.pass, &self.fail, &self.skip];
        for (i, list) in lists.iter().enumerate() {
            for word in list.iter() {
                if lists[i + 1..].iter().any(|other| other.contains(word)) {
                    return Err(PatternError::WordInTwoLists(word.clone()));
                }
            }
        }
        Ok(())
    }

    /// A result word's outcome; `None` for a word in no list.
    fn outcome(&self, word: &str) -> Option<&'static str> {
        let word = word.trim();
        let has = |list: &[String]| list.iter().any(|w| w == word);
        if has(&self.pass) {
            Some(PASSED)
        } else if has(&self.fail) {
            Some(FAILED)
        } else if has(&self.skip) {
            Some(SKIPPED)
        } else {
            None
        }
    }
}

impl CaseReader for CasePattern {
    fn line(&mut self, line: &str, found: &mut Vec<Found>) {
        for caps in self.regex.captures_iter(line) {
            let group = |name: &str| caps.name(name).map(|m| m.as_str().trim());
            let (Some(name), Some(word)) = (group("name"), group("result")) else {
                continue;
            };
            // A word in no list is not a case: the regex matched something
            // else than a result line.
            let Some(result) = self.outcome(word).filter(|_| !name.is_empty()) else {
                continue;
            };
            let time_ms = match (group("duration_ms"), group("duration_s")) {
                (Some(ms), _) => ms.parse::<f64>().map_or(0, |ms| ms.max(0.0).round() as u64),
                (None, Some(s)) => seconds_to_ms(s),
                (None, None) => 0,
            };
            let classname = group("classname").map(str::to_owned);
            let message = group("message").map(str::to_owned);
            found.push(Found::Case(case(classname, name, result, time_ms, message)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outcomes, parse};
    use super::super::CaseFormat;
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    /// The shape of a C library's own test programs (one line per case,
    /// dots, a verdict word), as the issue that asked for this saw them.
    const LIBRARY_SUITE: &str = "\
AES-128-ECB Encrypt NIST KAT #1 ................................... PASS
AES-128-ECB Encrypt NIST KAT #2 ................................... FAILED
  aes_crypt_ecb( &ctx, MODE_ENCRYPT, src, output ) == 0
  at line 42, suites/test_suite_aes.function
AES-256-XTS Decrypt vector #3 ..................................... ----
   Test Suite not enabled

----------------------------------------------------------------------------

FAILED (2 / 3 tests (1 skipped))
";

    fn library_pattern() -> CaseFormat {
        CaseFormat::Pattern(
            CasePattern::new(
                r"^(?P<name>\S.*?) \.+ (?P<result>PASS|FAILED|----)\s*$",
                words(&["PASS"]),
                words(&["FAILED"]),
                words(&["----"]),
            )
            .unwrap(),
        )
    }

    #[test]
    fn a_library_suite_reads_with_its_own_words() {
        let parsed = parse(&library_pattern(), LIBRARY_SUITE);
        assert_eq!(
            outcomes(&parsed),
            [
                (
                    "AES-128-ECB Encrypt NIST KAT #1".to_owned(),
                    "passed".to_owned()
                ),
                (
                    "AES-128-ECB Encrypt NIST KAT #2".to_owned(),
                    "failed".to_owned()
                ),
                (
                    "AES-256-XTS Decrypt vector #3".to_owned(),
                    "skipped".to_owned()
                ),
            ]
        );
        assert_eq!(parsed.mismatch, None, "a profile's regex has no summary");
    }

    #[test]
    fn optional_groups_give_class_time_and_message_and_glued_records_are_two() {
        let pattern = CasePattern::new(
            r"\[(?P<classname>\w+)\] (?P<name>\w+): (?P<result>ok|bad) \((?P<duration_s>[\d.]+)s\)(?: (?P<message>[^\[]*))?",
            words(&["ok"]),
            words(&["bad"]),
            vec![],
        )
        .unwrap();
        let parsed = parse(
            &CaseFormat::Pattern(pattern),
            "[uart] echo: ok (0.25s)[uart] flood: bad (1.5s) lost 3 bytes\n[uart] other: maybe (1s)",
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        assert_eq!(cases.len(), 2, "the word `maybe` is in no list: {cases:?}");
        assert_eq!(cases[0].classname.as_deref(), Some("uart"));
        assert_eq!(cases[0].time_ms, 250);
        assert_eq!(cases[1].result, "failed");
        assert_eq!(cases[1].message.as_deref(), Some("lost 3 bytes"));
        assert_eq!(cases[1].time_ms, 1500);
    }

    #[test]
    fn duration_ms_reads_milliseconds_and_default_words_apply() {
        let pattern = CasePattern::new(
            r"^(?P<name>\w+) (?P<result>\w+) (?P<duration_ms>\d+)ms$",
            vec![],
            vec![],
            vec![],
        )
        .unwrap();
        let parsed = parse(
            &CaseFormat::Pattern(pattern),
            "crc PASSED 12ms\nflash IGNORED 0ms\nboot ERROR 7ms",
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        let got: Vec<(&str, u64)> = cases
            .iter()
            .map(|c| (c.result.as_str(), c.time_ms))
            .collect();
        assert_eq!(got, [("passed", 12), ("skipped", 0), ("failed", 7)]);
    }

    #[test]
    fn a_bad_pattern_is_refused_with_the_reason() {
        let err = |re: &str, pass: &[&str], fail: &[&str]| {
            CasePattern::new(re, words(pass), words(fail), vec![])
                .unwrap_err()
                .to_string()
        };
        assert!(err("(", &[], &[]).contains("unclosed group"));
        assert!(err(r"(?P<name>\w+)", &[], &[]).contains("`result`"));
        assert!(err(r"(?P<result>\w+)", &[], &[]).contains("`name`"));
        assert!(err(
            r"(?P<name>a)(?P<result>b)(?P<duration_ms>c)(?P<duration_s>d)",
            &[],
            &[]
        )
        .contains("keep one"));
        assert!(err(r"(?P<name>a)(?P<result>b)", &["OK"], &["OK"]).contains("\"OK\""));
    }
}
