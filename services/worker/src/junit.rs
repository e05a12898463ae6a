//! Reads the JUnit XML files a task wrote into its result directory and sums
//! them up. Counts come from the `<testcase>` elements themselves, not from
//! the summary attributes, which producers often get wrong.

use std::path::Path;

use quick_xml::events::Event as Xml;
use quick_xml::Reader;
use testarena_events::JunitSummary;

/// Most failing case names kept in an event.
const MAX_FAILED_NAMES: usize = 100;

/// `None` when the directory holds no parsable `*.xml` file.
pub(crate) fn summarize_dir(dir: &Path) -> Option<JunitSummary> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    let mut total: Option<JunitSummary> = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        match summarize(&text) {
            Ok(summary) => {
                let sum = total.get_or_insert_with(JunitSummary::default);
                sum.tests += summary.tests;
                sum.failures += summary.failures;
                sum.errors += summary.errors;
                sum.skipped += summary.skipped;
                for name in summary.failed_cases {
                    if sum.failed_cases.len() < MAX_FAILED_NAMES {
                        sum.failed_cases.push(name);
                    }
                }
            }
            Err(e) => tracing::warn!(file = %file.display(), error = %e, "unreadable JUnit XML"),
        }
    }
    total
}

pub(crate) fn summarize(xml: &str) -> Result<JunitSummary, quick_xml::Error> {
    let mut reader = Reader::from_str(xml);
    let mut summary = JunitSummary::default();
    // The case being read and what it turned out to be.
    let mut case: Option<(String, Outcome)> = None;
    loop {
        match reader.read_event()? {
            Xml::Start(e) if e.name().as_ref() == "testcase" => {
                case = Some((case_name(&e), Outcome::Pass));
            }
            Xml::Empty(e) if e.name().as_ref() == "testcase" => {
                summary.tests += 1;
                let _ = case_name(&e);
            }
            Xml::Start(e) | Xml::Empty(e) => {
                if let Some((_, outcome)) = case.as_mut() {
                    match e.name().as_ref() {
                        "failure" => *outcome = Outcome::Failure,
                        "error" => *outcome = Outcome::Error,
                        "skipped" if *outcome == Outcome::Pass => *outcome = Outcome::Skipped,
                        _ => {}
                    }
                }
            }
            Xml::End(e) if e.name().as_ref() == "testcase" => {
                if let Some((name, outcome)) = case.take() {
                    summary.tests += 1;
                    match outcome {
                        Outcome::Pass => {}
                        Outcome::Skipped => summary.skipped += 1,
                        Outcome::Failure => {
                            summary.failures += 1;
                            summary.failed_cases.push(name);
                        }
                        Outcome::Error => {
                            summary.errors += 1;
                            summary.failed_cases.push(name);
                        }
                    }
                }
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    summary.failed_cases.truncate(MAX_FAILED_NAMES);
    Ok(summary)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Skipped,
    Failure,
    Error,
}

fn case_name(e: &quick_xml::events::BytesStart<'_>) -> String {
    let mut name = String::new();
    let mut class = String::new();
    for attr in e.attributes().flatten() {
        let value = attr.value.to_string();
        match attr.key.as_ref() {
            "name" => name = value,
            "classname" => class = value,
            _ => {}
        }
    }
    if class.is_empty() {
        name
    } else {
        format!("{class}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cases_in_both_root_forms() {
        let xml = r#"<?xml version="1.0"?>
<testsuites><testsuite name="s" tests="9">
  <testcase classname="smoke" name="ping"/>
  <testcase classname="smoke" name="version"><failure message="no">x</failure></testcase>
  <testcase name="later"><skipped/></testcase>
  <testcase name="boom"><error message="e"/></testcase>
</testsuite></testsuites>"#;
        let s = summarize(xml).unwrap();
        assert_eq!((s.tests, s.failures, s.errors, s.skipped), (4, 1, 1, 1));
        assert_eq!(s.failed_cases, vec!["smoke.version", "boom"]);
    }
}
