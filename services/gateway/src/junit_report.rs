//! Pure: a queue's view → one JUnit XML report, for GitLab's
//! `artifacts:reports:junit` and Jenkins. One `<testsuite>` per task, its
//! cases (JUnit or console-parsed, as the view keeps them); a task without
//! cases is one case of its own, and a failed task whose cases all passed
//! gets one more failing case, so the report is red exactly when the task
//! is. A quarantined task's failures are `<skipped>`: they do not fail the
//! queue either. Counts are of the cases written (the view keeps at most
//! 500 per task).

use std::fmt::Write as _;

use testarena_events::{JunitCaseView, QueueView, TaskResult, TaskView};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
}

/// One `<testcase>` to write.
struct Case<'a> {
    name: &'a str,
    classname: &'a str,
    time_ms: u64,
    outcome: Outcome,
    message: Option<&'a str>,
}

#[derive(Default)]
struct Totals {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    time_ms: u64,
}

impl Totals {
    fn add(&mut self, case: &Case<'_>) {
        self.tests += 1;
        self.time_ms += case.time_ms;
        match case.outcome {
            Outcome::Passed => {}
            Outcome::Failed => self.failures += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }

    fn attributes(&self) -> String {
        format!(
            r#"tests="{}" failures="{}" errors="{}" skipped="{}" time="{}""#,
            self.tests,
            self.failures,
            self.errors,
            self.skipped,
            seconds(self.time_ms)
        )
    }
}

pub(crate) fn junit_report(view: &QueueView) -> String {
    let mut totals = Totals::default();
    let mut suites = String::new();
    for task in &view.tasks {
        let cases = task_cases(task);
        let mut suite = Totals::default();
        cases.iter().for_each(|case| suite.add(case));
        let _ = writeln!(
            suites,
            r#"  <testsuite name="{}" {}>"#,
            escape(&task.id),
            suite.attributes()
        );
        cases.iter().for_each(|case| write_case(&mut suites, case));
        suites.push_str("  </testsuite>\n");
        cases.iter().for_each(|case| totals.add(case));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" {}>\n{suites}</testsuites>\n",
        escape(view.id.as_str()),
        totals.attributes()
    )
}

fn task_cases(task: &TaskView) -> Vec<Case<'_>> {
    let mut cases: Vec<Case<'_>> = task
        .junit
        .iter()
        .flat_map(|junit| &junit.cases)
        .map(|case| recorded_case(task, case))
        .collect();
    let task_outcome = task_outcome(task);
    let cases_failed = cases
        .iter()
        .any(|c| matches!(c.outcome, Outcome::Failed | Outcome::Error));
    let task_failed = matches!(task_outcome, Outcome::Failed | Outcome::Error);
    if cases.is_empty() || (task_failed && !cases_failed && !task.quarantined) {
        cases.push(Case {
            name: &task.id,
            classname: &task.scenario,
            time_ms: task.duration_ms.unwrap_or(0),
            outcome: task_outcome,
            message: task.message.as_deref().or(match task_outcome {
                Outcome::Skipped => Some(task.status.as_str()),
                _ => None,
            }),
        });
    }
    cases
}

fn recorded_case<'a>(task: &'a TaskView, case: &'a JunitCaseView) -> Case<'a> {
    let outcome = match case.result.as_str() {
        "failed" if task.quarantined => Outcome::Skipped,
        "error" if task.quarantined => Outcome::Skipped,
        "failed" => Outcome::Failed,
        "error" => Outcome::Error,
        "skipped" => Outcome::Skipped,
        _ => Outcome::Passed,
    };
    Case {
        name: &case.name,
        classname: case.classname.as_deref().unwrap_or(&task.id),
        time_ms: case.time_ms,
        outcome,
        message: case.message.as_deref(),
    }
}

/// The task as a case: a result maps to its outcome; a task that never
/// finished (cancelled, skipped, still waiting) is skipped.
fn task_outcome(task: &TaskView) -> Outcome {
    match task.result {
        Some(TaskResult::Pass | TaskResult::Flaky) => Outcome::Passed,
        Some(TaskResult::Fail | TaskResult::Timeout) if task.quarantined => Outcome::Skipped,
        Some(TaskResult::Fail | TaskResult::Timeout) => Outcome::Failed,
        Some(TaskResult::Error) => Outcome::Error,
        None => Outcome::Skipped,
    }
}

fn write_case(out: &mut String, case: &Case<'_>) {
    let _ = write!(
        out,
        r#"    <testcase name="{}" classname="{}" time="{}""#,
        escape(case.name),
        escape(case.classname),
        seconds(case.time_ms)
    );
    let element = match case.outcome {
        Outcome::Passed => {
            out.push_str("/>\n");
            return;
        }
        Outcome::Failed => "failure",
        Outcome::Error => "error",
        Outcome::Skipped => "skipped",
    };
    let message = case.message.unwrap_or_default();
    let first_line = message.lines().next().unwrap_or_default();
    let _ = writeln!(
        out,
        r#">
      <{element} message="{}">{}</{element}>
    </testcase>"#,
        escape(first_line),
        escape(message)
    );
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Text and attribute values: the five markup characters as entities,
/// line breaks and tabs as character references (an attribute keeps
/// them), and what XML 1.0 cannot carry at all (other control characters,
/// U+FFFE, U+FFFF) as U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "junit_report_tests.rs"]
mod tests;
