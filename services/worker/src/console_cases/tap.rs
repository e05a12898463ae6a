//! TAP 13 and 14 (testanything.org): `ok N - description`, `not ok`,
//! `# SKIP` and `# TODO` directives, a YAML block under a test point (its
//! `message` and `duration_ms`), and the plan `1..N`, which is the summary
//! the count is checked against. Only top-level test points are cases: a
//! TAP 14 subtest is indented, and its parent's line reports it.

use std::sync::LazyLock;

use regex::Regex;
use testarena_events::MAX_JUNIT_MESSAGE;

use super::{case, CaseReader, Counts, Found, FAILED, PASSED, SKIPPED};
use crate::junit::bounded;

static TEST_POINT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(not )?ok\b *(\d+)? *(?:- *)?(.*)$").expect("valid"));
static PLAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^1\.\.(\d+)\b").expect("valid"));

#[derive(Debug, Default)]
pub(crate) struct TapReader {
    /// The last test point, held while a YAML block may follow it.
    pending: Option<Pending>,
    /// Test points seen, for a name when one has no description.
    points: u32,
}

#[derive(Debug)]
struct Pending {
    case: testarena_events::JunitCase,
    yaml: Yaml,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Yaml {
    #[default]
    NotYet,
    Open(Vec<String>),
    Closed,
}

impl CaseReader for TapReader {
    fn line(&mut self, line: &str, found: &mut Vec<Found>) {
        if line.starts_with([' ', '\t']) {
            self.indented(line);
            return;
        }
        self.flush(found);
        if let Some(point) = TEST_POINT.captures(line) {
            self.points += 1;
            let failed = point.get(1).is_some();
            let number = point.get(2).map(|n| n.as_str());
            let case = test_point(failed, number, self.points, &point[3]);
            self.pending = Some(Pending {
                case,
                yaml: Yaml::NotYet,
            });
        } else if let Some(plan) = PLAN.captures(line) {
            found.push(Found::Reported(Counts {
                total: plan[1].parse().ok(),
                ..Counts::default()
            }));
        }
    }

    fn end(&mut self, found: &mut Vec<Found>) {
        self.flush(found);
    }
}

impl TapReader {
    /// A YAML block line of the pending test point, or a subtest's line.
    fn indented(&mut self, line: &str) {
        let Some(pending) = self.pending.as_mut() else {
            return;
        };
        let text = line.trim();
        match &mut pending.yaml {
            Yaml::NotYet if text == "---" => pending.yaml = Yaml::Open(Vec::new()),
            Yaml::Open(lines) if text == "..." => {
                let lines = std::mem::take(lines);
                pending.yaml = Yaml::Closed;
                from_yaml(&mut pending.case, &lines);
            }
            Yaml::Open(lines) if lines.len() < 200 => lines.push(text.to_owned()),
            _ => {}
        }
    }

    fn flush(&mut self, found: &mut Vec<Found>) {
        if let Some(mut pending) = self.pending.take() {
            if let Yaml::Open(lines) = &pending.yaml {
                from_yaml(&mut pending.case, lines);
            }
            found.push(Found::Case(pending.case));
        }
    }
}

/// A test point's case: `# SKIP` skips it; a `not ok # TODO` is a known
/// failure, which TAP does not count as failing (skipped here, with its
/// reason); an unescaped `#` starts the directive.
fn test_point(
    failed: bool,
    number: Option<&str>,
    nth: u32,
    rest: &str,
) -> testarena_events::JunitCase {
    let (description, directive) = split_directive(rest);
    let name = match (description.is_empty(), number) {
        (false, _) => description,
        (true, Some(n)) => format!("test {n}"),
        (true, None) => format!("test {nth}"),
    };
    let directive = directive.unwrap_or_default();
    let lower = directive.to_ascii_lowercase();
    let reason = directive
        .split_once(char::is_whitespace)
        .map(|(_, r)| r.trim().to_owned());
    let (result, message) = if lower.starts_with("skip") {
        (SKIPPED, reason)
    } else if lower.starts_with("todo") && failed {
        (
            SKIPPED,
            Some(format!("TODO {}", reason.unwrap_or_default())),
        )
    } else if failed {
        (FAILED, None)
    } else {
        (PASSED, None)
    };
    case(None, &name, result, 0, message)
}

/// The description (with `\#` unescaped) and the directive after the first
/// unescaped `#`.
fn split_directive(rest: &str) -> (String, Option<String>) {
    let mut description = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|(_, next)| *next == '#') => {
                description.push('#');
                chars.next();
            }
            '#' => {
                let directive = rest[i + 1..].trim().to_owned();
                return (description.trim().to_owned(), Some(directive));
            }
            _ => description.push(c),
        }
    }
    (description.trim().to_owned(), None)
}

/// A YAML block's `message` (else, for a failure, the whole block) and
/// `duration_ms`, read as flat `key: value` lines.
fn from_yaml(case: &mut testarena_events::JunitCase, lines: &[String]) {
    let value = |key: &str| {
        lines.iter().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            Some(rest.trim().trim_matches(['\'', '"']).to_owned())
        })
    };
    if let Some(ms) = value("duration_ms").and_then(|v| v.parse::<f64>().ok()) {
        case.time_ms = ms.max(0.0).round() as u64;
    }
    if case.result == FAILED && case.message.is_none() {
        let message = value("message").unwrap_or_else(|| lines.join("\n"));
        let message = bounded(message.trim().to_owned(), MAX_JUNIT_MESSAGE);
        case.message = Some(message).filter(|m| !m.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outcomes, parse};
    use super::super::CaseFormat;

    /// TAP 14 as the specification shows it: a version, a plan first, a
    /// YAML block under a failure, directives, an escaped `#`, a subtest.
    const TAP14: &str = r#"TAP version 14
1..6
ok 1 - uart echoes a byte
not ok 2 - flash erase leaves 0xFF
  ---
  message: 'byte 12 was 0x00'
  severity: fail
  duration_ms: 12.4
  ...
ok 3 - rtc survives reset # SKIP no battery on this board
not ok 4 - dma chaining # TODO not written yet
ok 5 - a description with \# in it
# Subtest: crc
    1..2
    ok 1 - crc8
    ok 2 - crc32
ok 6 - crc
"#;

    #[test]
    fn tap14_points_directives_yaml_and_subtests() {
        let parsed = parse(&CaseFormat::Tap, TAP14);
        let names: Vec<(String, String)> = outcomes(&parsed);
        assert_eq!(
            names,
            [
                ("uart echoes a byte", "passed"),
                ("flash erase leaves 0xFF", "failed"),
                ("rtc survives reset", "skipped"),
                ("dma chaining", "skipped"),
                ("a description with # in it", "passed"),
                ("crc", "passed"),
            ]
            .map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        let cases = &parsed.summary.as_ref().unwrap().cases;
        assert_eq!(cases[1].message.as_deref(), Some("byte 12 was 0x00"));
        assert_eq!(cases[1].time_ms, 12);
        assert_eq!(
            cases[2].message.as_deref(),
            Some("no battery on this board")
        );
        assert_eq!(cases[3].message.as_deref(), Some("TODO not written yet"));
        assert_eq!(parsed.mismatch, None, "6 planned, 6 top-level points");
    }

    /// TAP 13 with the plan at the end, numbers without descriptions, and a
    /// bail out before the plan's count was reached.
    #[test]
    fn tap13_plan_at_the_end_and_a_bail_out_mismatch() {
        let parsed = parse(&CaseFormat::Tap, "TAP version 13\nok 1\nnot ok 2\n1..2\n");
        assert_eq!(
            outcomes(&parsed),
            [("test 1", "passed"), ("test 2", "failed")].map(|(n, r)| (n.to_owned(), r.to_owned()))
        );
        assert_eq!(parsed.mismatch, None);

        let bailed = parse(
            &CaseFormat::Tap,
            "1..4\nok 1 - a\nok 2 - b\nBail out! board lost\n",
        );
        assert_eq!(
            bailed.mismatch.as_deref(),
            Some("parsed 2 cases, the framework reports 4")
        );
        let no_plan = parse(&CaseFormat::Tap, "ok 1 - a\n");
        assert!(no_plan.mismatch.unwrap().contains("no summary"));
    }

    #[test]
    fn an_unterminated_yaml_block_still_gives_its_case() {
        let parsed = parse(
            &CaseFormat::Tap,
            "1..1\nnot ok 1 - x\n  ---\n  message: boom\n",
        );
        let case = &parsed.summary.unwrap().cases[0];
        assert_eq!(case.message.as_deref(), Some("boom"));
    }
}
