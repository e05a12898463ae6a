//! Reads the JUnit XML files a task wrote into its result directory and sums
//! them up. Counts come from the `<testcase>` elements themselves, not from
//! the summary attributes, which producers often get wrong.

use std::path::Path;

use quick_xml::events::{BytesStart, Event as Xml};
use quick_xml::Reader;
use testarena_events::{JunitCase, JunitSummary, MAX_JUNIT_CASES, MAX_JUNIT_MESSAGE};

/// Most failing case names kept in an event.
pub(crate) const MAX_FAILED_NAMES: usize = 100;

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
                let room = MAX_JUNIT_CASES.saturating_sub(sum.cases.len());
                sum.cases.extend(summary.cases.into_iter().take(room));
            }
            Err(e) => tracing::warn!(file = %file.display(), error = %e, "unreadable JUnit XML"),
        }
    }
    total
}

pub(crate) fn summarize(xml: &str) -> Result<JunitSummary, quick_xml::Error> {
    let mut reader = Reader::from_str(xml);
    let mut summary = JunitSummary::default();
    // The case being read, until its end tag says what it turned out to be.
    let mut open: Option<JunitCase> = None;
    loop {
        match reader.read_event()? {
            Xml::Start(e) if e.name().as_ref() == "testcase" => open = Some(case_of(&e)),
            Xml::Empty(e) if e.name().as_ref() == "testcase" => add_case(&mut summary, case_of(&e)),
            Xml::Start(e) | Xml::Empty(e) => {
                if let Some(case) = open.as_mut() {
                    mark_outcome(case, &e);
                }
            }
            Xml::End(e) if e.name().as_ref() == "testcase" => {
                if let Some(case) = open.take() {
                    add_case(&mut summary, case);
                }
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    summary.failed_cases.truncate(MAX_FAILED_NAMES);
    Ok(summary)
}

/// Counts a finished case and keeps it (up to the bound).
fn add_case(summary: &mut JunitSummary, case: JunitCase) {
    summary.tests += 1;
    match case.result.as_str() {
        "skipped" => summary.skipped += 1,
        "failed" => summary.failures += 1,
        "error" => summary.errors += 1,
        _ => {}
    }
    if matches!(case.result.as_str(), "failed" | "error") {
        summary.failed_cases.push(full_name(&case));
    }
    if summary.cases.len() < MAX_JUNIT_CASES {
        summary.cases.push(case);
    }
}

/// A `<failure>`, `<error>` or `<skipped>` inside a case sets its result
/// (a failure or error outranks a skip) and its message.
fn mark_outcome(case: &mut JunitCase, e: &BytesStart<'_>) {
    let result = match e.name().as_ref() {
        "failure" => "failed",
        "error" => "error",
        "skipped" if case.result == "passed" => "skipped",
        _ => return,
    };
    case.result = result.to_owned();
    case.message = attribute(e, "message").map(|m| bounded(m, MAX_JUNIT_MESSAGE));
}

fn case_of(e: &BytesStart<'_>) -> JunitCase {
    let time_s: f64 = attribute(e, "time")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0.0);
    JunitCase {
        name: attribute(e, "name").unwrap_or_default(),
        classname: attribute(e, "classname").filter(|c| !c.is_empty()),
        time_ms: (time_s.max(0.0) * 1000.0).round() as u64,
        result: "passed".to_owned(),
        message: None,
    }
}

fn attribute(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .map(|a| a.value.to_string())
}

/// `classname.name`, as `failed_cases` names a case.
pub(crate) fn full_name(case: &JunitCase) -> String {
    match &case.classname {
        Some(class) => format!("{class}.{}", case.name),
        None => case.name.clone(),
    }
}

/// At most `max` bytes, cut on a character boundary.
pub(crate) fn bounded(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
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
        let results: Vec<&str> = s.cases.iter().map(|c| c.result.as_str()).collect();
        assert_eq!(results, ["passed", "failed", "skipped", "error"]);
        assert_eq!(s.cases[1].classname.as_deref(), Some("smoke"));
        assert_eq!(s.cases[1].message.as_deref(), Some("no"));
        assert_eq!(
            (s.cases[2].classname.as_ref(), s.cases[2].message.as_ref()),
            (None, None)
        );
    }

    #[test]
    fn cases_keep_their_time_and_are_bounded_in_number_and_message_size() {
        let long = "é".repeat(MAX_JUNIT_MESSAGE);
        let mut xml = format!(
            "<testsuite><testcase name='slow' time='1.2345'><failure message='{long}'/></testcase>"
        );
        for n in 0..MAX_JUNIT_CASES + 10 {
            xml.push_str(&format!("<testcase name='c{n}'/>"));
        }
        xml.push_str("</testsuite>");
        let s = summarize(&xml).unwrap();
        assert_eq!(s.tests as usize, MAX_JUNIT_CASES + 11, "every case counted");
        assert_eq!(s.cases.len(), MAX_JUNIT_CASES, "but at most this many kept");
        assert_eq!(s.cases[0].time_ms, 1235);
        let message = s.cases[0].message.as_deref().unwrap();
        assert!(message.len() <= MAX_JUNIT_MESSAGE && message.starts_with('é'));
    }
}
