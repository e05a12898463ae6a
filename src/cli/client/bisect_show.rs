//! `testarena bisect show ID`, `bisect cancel ID`, `bisect delete ID` and
//! `testarena bisects`: a bisect (or all of them) for people, or the API's
//! JSON; and the lines `bisect --wait` prints.

use std::fmt::Write as _;
use std::process::ExitCode;

use super::api_client::{ApiClient, BisectStatus, BisectStep, BisectView, ClientError};
use super::bisect::exit_code;
use super::render;

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
    Ok(exit_code(view.status))
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

/// "step 3  4f2a9c1e03  fail    b-1-3 b-1-4".
pub fn step_line(n: usize, step: &BisectStep) -> String {
    format!(
        "step {n:<3} {}  {:<8} {}",
        short(&step.commit),
        step.verdict.as_deref().unwrap_or("running"),
        step.queues.join(" ")
    )
    .trim_end()
    .to_owned()
}

/// How a bisect ended: the culprit with its subject and author, or the
/// status with its reason.
pub fn ending(view: &BisectView) -> String {
    match (&view.first_bad, view.status) {
        (Some(first), BisectStatus::Found) => format!(
            "Found: first bad commit {}\n  {}\n  author: {}\n",
            first.commit, first.subject, first.author
        ),
        _ => format!(
            "{:?}{}\n",
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
    let _ = writeln!(out, "{}  {:?}  {url}", view.id, view.status);
    let _ = writeln!(out, "range: good {good} … bad {}", short(&view.bad));
    for (n, step) in view.steps.iter().enumerate() {
        let _ = writeln!(out, "{}", step_line(n + 1, step));
    }
    if view.status != BisectStatus::Running {
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
                format!("{:?}", b.status),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::client::api_client::FirstBad;

    fn found() -> BisectView {
        BisectView {
            id: "b-1".into(),
            status: BisectStatus::Found,
            good: Some("1111111111aaaa".into()),
            bad: "9999999999ffff".into(),
            first_bad: Some(FirstBad {
                commit: "5555555555cccc".into(),
                subject: "Break the UART".into(),
                author: "Ada <ada@example.org>".into(),
            }),
            steps: vec![
                BisectStep {
                    commit: "5555555555cccc".into(),
                    queues: vec!["b-1-s1".into(), "b-1-s2".into()],
                    verdict: Some("flaky".into()),
                },
                BisectStep {
                    commit: "3333333333bbbb".into(),
                    queues: vec![],
                    verdict: None,
                },
            ],
            reason: None,
        }
    }

    #[test]
    fn a_step_line_names_the_commit_verdict_and_queues() {
        let view = found();
        assert_eq!(
            step_line(1, &view.steps[0]),
            "step 1   5555555555  flaky    b-1-s1 b-1-s2"
        );
        assert_eq!(step_line(2, &view.steps[1]), "step 2   3333333333  running");
    }

    #[test]
    fn found_names_the_culprit_its_subject_and_author_otherwise_the_reason() {
        let text = ending(&found());
        assert!(
            text.contains("5555555555cccc")
                && text.contains("Break the UART")
                && text.contains("Ada <ada@example.org>"),
            "{text}"
        );
        let inconclusive = BisectView {
            status: BisectStatus::Inconclusive,
            first_bad: None,
            reason: Some("good 1111111111 fails".into()),
            ..found()
        };
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
        let walking = BisectView {
            good: None,
            ..found()
        };
        assert!(detail(&walking, "u").contains("good (walking back from bad)"));
    }
}
