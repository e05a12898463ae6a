//! Plain-text tables for the terminal.

use std::fmt::{Display, Write};

use testarena_events::{Counts, QueueView};

use super::api_client::QueuePage;

/// A value, or `-` when there is none.
fn or_dash<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

fn short_commit(commit: Option<&str>) -> String {
    commit.map_or_else(|| "-".into(), |c| c.chars().take(10).collect())
}

fn counts(c: &Counts) -> String {
    format!(
        "{} pass, {} fail, {} timeout, {} error",
        c.pass, c.fail, c.timeout, c.error
    )
}

pub fn queue_table(page: &QueuePage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<34} {:<10} {:<10} {:<44} SUBMITTED",
        "ID", "STATUS", "COMMIT", "RESULTS"
    );
    for q in &page.queues {
        let _ = writeln!(
            out,
            "{:<34} {:<10} {:<10} {:<44} {}",
            q.id,
            q.status,
            short_commit(q.commit.as_deref()),
            counts(&q.counts),
            q.submitted_at
        );
    }
    let _ = writeln!(out, "({} queues in all; page {})", page.total, page.page);
    out
}

pub fn queue_detail(q: &QueueView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "queue    {}", q.id);
    let reason = q.reason.as_ref().map(|r| format!(" ({r})"));
    let _ = writeln!(out, "status   {}{}", q.status, reason.unwrap_or_default());
    let _ = writeln!(out, "source   {} @ {}", q.source.repo, q.source.git_ref);
    let _ = writeln!(out, "commit   {}", or_dash(q.commit.as_deref()));
    let _ = writeln!(
        out,
        "attempt  {} on {}",
        q.attempt,
        or_dash(q.worker.as_deref())
    );
    let _ = writeln!(out, "results  {}", counts(&q.counts));
    for stage in &q.stages {
        let _ = writeln!(
            out,
            "  stage {:<10} {:<10} {:>8} ms {}",
            stage.stage,
            stage.status,
            or_dash(stage.duration_ms),
            stage.message.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(
        out,
        "  {:<24} {:<10} {:<8} {:>6} {:>9}  SCENARIO",
        "TASK", "STATUS", "RESULT", "EXIT", "MS"
    );
    for t in &q.tasks {
        let _ = writeln!(
            out,
            "  {:<24} {:<10} {:<8} {:>6} {:>9}  {}",
            t.id,
            t.status,
            or_dash(t.result.as_deref()),
            or_dash(t.exit_code),
            or_dash(t.duration_ms),
            t.scenario
        );
        for case in t.junit.iter().flat_map(|j| &j.failed_cases) {
            let _ = writeln!(out, "      failed case: {case}");
        }
    }
    out
}
