//! `testarena bisect show ID`, `bisect cancel ID`, `bisect delete ID` and
//! `testarena bisects`: a bisect (or all of them) for people, or the API's
//! JSON; the lines `bisect --wait` prints, and the exit code every
//! `bisect` command gives a bisect's status.

use std::fmt::Write as _;
use std::process::ExitCode;

use testarena_events::{BisectStepView, BisectView};

use super::api_client::{ApiClient, ClientError};
use super::render;

/// How every `bisect` command exits on a bisect's status: 0 Found; 1
/// Inconclusive, Cancelled (or, for `show`, still Running); 2 Error, or a
/// status this CLI does not know.
pub fn exit_code(status: &str) -> ExitCode {
    ExitCode::from(match status {
        "Found" => 0,
        "Inconclusive" | "Cancelled" | "Running" => 1,
        _ => 2,
    })
}

/// Prints one bisect; exits as `bisect --wait` would have (Running: 1).
pub async fn show(client: &ApiClient, id: &str, json: bool) -> Result<ExitCode, ClientError> {
    let view = client.bisect(id).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&view).unwrap_or_default()
        );
    } else {
        print!("{}", detail(&view, &client.bisect_dashboard_url(id)));
    }
    Ok(exit_code(&view.status))
}

pub async fn list(client: &ApiClient, json: bool) -> Result<ExitCode, ClientError> {
    let list = client.bisects().await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        print!("{}", table(&list.bisects));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(client: &ApiClient, id: &str) -> Result<ExitCode, ClientError> {
    client.cancel_bisect(id).await?;
    println!("{id}: cancel requested; its running step queues are stopped");
    Ok(ExitCode::SUCCESS)
}

pub async fn delete(client: &ApiClient, id: &str) -> Result<ExitCode, ClientError> {
    client.delete_bisect(id).await?;
    println!("{id}: deleted");
    Ok(ExitCode::SUCCESS)
}

/// "step 3   4f2a9c1e03  flaky (fail)   b-1-3 b-1-4  Break the UART": the
/// commit, its verdict (a flaky one with its majority, a confirmation
/// marked), its queues, and its subject when the range is known (last, as
/// the one column of any width).
pub fn step_line(n: usize, step: &BisectStepView, view: &BisectView) -> String {
    let mut verdict = step.verdict.clone().unwrap_or_else(|| "running".into());
    if let Some(majority) = &step.majority {
        verdict = format!("{verdict} ({majority})");
    }
    if step.phase == "confirm" {
        verdict = format!("{verdict}, confirm");
    }
    let subject = view.commit(&step.commit).map_or("", |c| c.subject.as_str());
    format!(
        "step {n:<3} {}  {verdict:<14} {}  {subject}",
        short(&step.commit),
        step.queues.join(" ")
    )
    .trim_end()
    .to_owned()
}

/// How a bisect ended: the culprit with its subject and author, or the
/// status with its reason.
pub fn ending(view: &BisectView) -> String {
    match (&view.first_bad, view.status.as_str()) {
        (Some(first), "Found") => format!(
            "Found: first bad commit {}\n  {}\n  author: {}\n",
            first.commit, first.subject, first.author
        ),
        _ => format!(
            "{}{}\n",
            view.status,
            view.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    }
}

/// One bisect: status, range, each step, and how it ended.
pub fn detail(view: &BisectView, url: &str) -> String {
    let mut out = String::new();
    let good = view
        .good
        .as_deref()
        .map_or("(walking back from bad)", short);
    let _ = writeln!(out, "{}  {}  {url}", view.id, view.status);
    let _ = writeln!(out, "range: good {good} … bad {}", short(&view.bad));
    if let Some(case) = &view.case {
        let _ = writeln!(out, "by case: {case}");
    }
    for (n, step) in view.steps.iter().enumerate() {
        let _ = writeln!(out, "{}", step_line(n + 1, step, view));
    }
    if view.is_ended() {
        out.push_str(&ending(view));
    }
    out
}

/// The bisects as a table.
pub fn table(bisects: &[BisectView]) -> String {
    if bisects.is_empty() {
        return "no bisects\n".into();
    }
    let rows: Vec<Vec<String>> = bisects
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                b.status.clone(),
                b.good.as_deref().map_or("?", short).to_owned(),
                short(&b.bad).to_owned(),
                b.first_bad
                    .as_ref()
                    .map_or("-", |f| short(&f.commit))
                    .to_owned(),
                render::plural(b.steps.len() as u64, "step"),
            ]
        })
        .collect();
    render::table(
        &["ID", "STATUS", "GOOD", "BAD", "FIRST BAD", "STEPS"],
        &rows,
        false,
    )
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// A bisect view for tests, from its JSON with the fields a test leaves out.
#[cfg(test)]
pub(super) fn view_for_test(over: serde_json::Value) -> BisectView {
    let mut view = serde_json::json!({
        "id": "b-1", "status": "Running", "source": {"repo": "https://git.example/fw.git"},
        "good": null, "bad": "9999999999ffff", "good_ref": null, "bad_ref": "main",
        "profile": null, "requires": [], "tasks": [{"id": "uart", "scenario": "uart.sh", "timeout_s": null}],
        "runs_per_step": 1, "owner": "anonymous", "first_bad": null, "commits": [], "steps": [],
        "reason": null, "cancel_requested": false, "created_at": "2026-11-29T22:00:00Z", "ended_at": null
    });
    for (key, value) in over.as_object().cloned().unwrap_or_default() {
        view[key] = value;
    }
    serde_json::from_value(view).expect("a bisect view")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CULPRIT: &str = "5555555555cccc";

    #[test]
    fn found_exits_zero_inconclusive_and_cancelled_one_error_two() {
        assert_eq!(exit_code("Found"), ExitCode::from(0));
        assert_eq!(exit_code("Inconclusive"), ExitCode::from(1));
        assert_eq!(exit_code("Cancelled"), ExitCode::from(1));
        assert_eq!(exit_code("Error"), ExitCode::from(2));
        assert_eq!(exit_code("Lost"), ExitCode::from(2));
    }

    fn found() -> BisectView {
        let culprit = json!({"commit": CULPRIT, "subject": "Break the UART", "author": "Ada <ada@example.org>"});
        view_for_test(json!({
            "status": "Found", "good": "1111111111aaaa", "first_bad": culprit,
            "commits": [
                {"commit": "1111111111aaaa", "subject": "Start", "author": "Bo <bo@example.org>"},
                culprit,
                {"commit": "9999999999ffff", "subject": "Later", "author": "Bo <bo@example.org>"},
            ],
            "steps": [
                {"commit": CULPRIT, "phase": "test", "queues": ["b-1-s1", "b-1-s2"], "verdict": "flaky", "majority": "fail"},
                {"commit": "3333333333bbbb", "phase": "confirm", "queues": [], "verdict": null, "majority": null},
            ]
        }))
    }

    #[test]
    fn a_step_line_names_the_commit_verdict_subject_and_queues() {
        let view = found();
        assert_eq!(
            step_line(1, &view.steps[0], &view),
            "step 1   5555555555  flaky (fail)   b-1-s1 b-1-s2  Break the UART"
        );
        assert_eq!(
            step_line(2, &view.steps[1], &view),
            "step 2   3333333333  running, confirm"
        );
    }

    #[test]
    fn found_names_the_culprit_its_subject_and_author_otherwise_the_reason() {
        let text = ending(&found());
        assert!(
            text.contains(CULPRIT)
                && text.contains("Break the UART")
                && text.contains("Ada <ada@example.org>"),
            "{text}"
        );
        let inconclusive = view_for_test(json!({
            "status": "Inconclusive", "reason": "good 1111111111 fails"
        }));
        assert_eq!(
            ending(&inconclusive),
            "Inconclusive: good 1111111111 fails\n"
        );
    }

    #[test]
    fn the_detail_and_the_table_read_at_a_glance() {
        let text = detail(&found(), "http://x/#/bisect/b-1");
        assert!(
            text.starts_with("b-1  Found  http://x/#/bisect/b-1\n"),
            "{text}"
        );
        assert!(
            text.contains("range: good 1111111111 … bad 9999999999"),
            "{text}"
        );
        let table = table(&[found()]);
        assert!(table.lines().next().unwrap().starts_with("ID "), "{table}");
        assert!(
            table.contains("b-1") && table.contains("5555555555") && table.contains("2 steps"),
            "{table}"
        );
        let walking = view_for_test(json!({}));
        assert!(detail(&walking, "u").contains("good (walking back from bad)"));
    }
}
