//! Plain-text tables for the terminal.

use std::fmt::{Display, Write};

use testarena_events::{Counts, QueuePage, QueueView, TaskView};
use time::OffsetDateTime;

use super::when::{self, TimeStyle};

/// A value, or `-` when there is none.
fn or_dash<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

/// "2 passed, 1 failed", zeros left out; "no tasks" for none.
fn counts(c: &Counts) -> String {
    let parts: Vec<String> = [
        (c.pass, "passed"),
        (c.flaky, "flaky"),
        (c.fail, "failed"),
        (c.timeout, "timed out"),
        (c.error, "errored"),
        (c.skipped, "skipped"),
        (c.cancelled, "cancelled"),
        (c.running, "running"),
        (c.waiting, "waiting"),
        (c.quarantined, "quarantined"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, word)| format!("{n} {word}"))
    .collect();
    if parts.is_empty() {
        "no tasks".into()
    } else {
        parts.join(", ")
    }
}

/// "1 queue", "2 queues".
pub fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// A queue's status and, once it ended, its verdict: "Finished, failed";
/// an Error or Cancelled queue says its status once.
pub fn outcome(q: &QueueView) -> String {
    match q.verdict.as_deref() {
        Some(v) if !v.eq_ignore_ascii_case(q.status.as_str()) => format!("{}, {v}", q.status),
        _ => q.status.to_string(),
    }
}

/// Widest cells of the list, so a row fits 100 columns with local times
/// (ages, or `2026-01-01 10:00`): ID 20, STATUS 9, SOURCE 20, RESULTS 15
/// (`999/1000 passed`), SUBMITTED 16, DURATION 10, and two spaces between. The commit is left
/// out (`testarena status ID` shows it with its subject), the results are
/// counted as passed of all, and a long id or source loses its middle:
/// both ends are what tells queues apart.
const LIST_ID: usize = 20;
const LIST_SOURCE: usize = 20;

/// `text` at most `max` characters: its middle replaced by `…`.
pub fn shorten_middle(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max || max < 3 {
        return text.to_owned();
    }
    let tail = (max - 1) / 2;
    let head = max - 1 - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// The source as `repo@ref`, the repository by its last path part
/// (`fw` for `https://git.example/team/fw.git`).
fn source_cell(q: &QueueView) -> String {
    let repo = q.source.repo.trim_end_matches('/');
    let name = repo.rsplit(['/', ':']).next().unwrap_or(repo);
    let name = name.strip_suffix(".git").unwrap_or(name);
    shorten_middle(&format!("{name}@{}", q.source.git_ref), LIST_SOURCE)
}

/// "12 passed" when all did, else "11/12 passed"; "no tasks" for none.
fn passed_of_all(c: &Counts) -> String {
    match c.total {
        0 => "no tasks".into(),
        t if c.pass == t => format!("{t} passed"),
        t => format!("{}/{t} passed", c.pass),
    }
}

/// An ended queue's verdict, else its status: one word.
fn list_status(q: &QueueView) -> String {
    match (q.status, q.verdict.as_deref()) {
        (testarena_events::QueueStatus::Finished, Some(verdict)) => verdict.to_owned(),
        _ => q.status.to_string(),
    }
}

/// The list as a table whose columns are as wide as their widest cell,
/// within 100 columns (above).
pub fn queue_table(page: &QueuePage, now: OffsetDateTime, style: TimeStyle) -> String {
    let header = ["ID", "STATUS", "SOURCE", "RESULTS", "SUBMITTED", "DURATION"];
    let rows: Vec<[String; 6]> = page
        .queues
        .iter()
        .map(|q| {
            [
                shorten_middle(&q.id, LIST_ID),
                list_status(q),
                source_cell(q),
                passed_of_all(&q.counts),
                when::when(&q.submitted_at, now, style),
                when::run_time(q.started_at.as_deref(), q.finished_at.as_deref(), now)
                    .map_or_else(|| "-".into(), when::duration),
            ]
        })
        .collect();
    let mut out = if rows.is_empty() {
        "no queues\n".to_owned()
    } else {
        // The duration column is right-aligned, like numbers are.
        let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
        table(&header, &rows, true)
    };
    let _ = writeln!(out, "({})", list_footer(page));
    out
}

/// How many queues there are, which page this is when it was asked by
/// number, and how to get the next one.
fn list_footer(page: &QueuePage) -> String {
    let mut parts = vec![if page.total_capped {
        format!("{}+ queues in all", thousands(page.total))
    } else {
        format!("{} in all", plural(page.total, "queue"))
    }];
    if let (Some(n), false) = (page.page, page.total_capped) {
        let pages = page.total.div_ceil(u64::from(page.per_page.max(1))).max(1);
        parts.push(format!("page {n} of {pages}"));
    }
    if let Some(cursor) = &page.next_cursor {
        parts.push(format!("next page: --cursor {cursor}"));
    }
    parts.join("; ")
}

/// 10000 → "10,000".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Columns padded to their widest cell, two spaces apart; the last
/// column right-aligned when `right_align_last` (numbers, durations).
pub fn table(header: &[&str], rows: &[Vec<String>], right_align_last: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let last = cells.len() - 1;
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last && right_align_last {
                let _ = write!(text, "{cell:>width$}");
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header);
    for row in rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// One queue for `status` and the end of `submit --wait`: its summary, its
/// stages, then a row per task.
pub fn queue_detail(q: &QueueView) -> String {
    let mut out = String::new();
    detail_summary(&mut out, q);
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
        task_row(&mut out, t);
    }
    out
}

/// The queue's lines above its stages: id, status, source, commit, attempt,
/// results, and the firmware sizes and artifacts when there are some.
fn detail_summary(out: &mut String, q: &QueueView) {
    let _ = writeln!(out, "queue    {}", q.id);
    let reason = q.reason.as_ref().map(|r| format!(" ({r})"));
    let _ = writeln!(out, "status   {}{}", outcome(q), reason.unwrap_or_default());
    if let Some(waiting) = waiting_line(q) {
        let _ = writeln!(out, "waiting  {waiting}");
    }
    let _ = writeln!(out, "source   {} @ {}", q.source.repo, q.source.git_ref);
    if let Some(bisect) = &q.bisect {
        let _ = writeln!(
            out,
            "bisect   a step of {bisect} (testarena bisect show {bisect})"
        );
    }
    let _ = writeln!(out, "commit   {}", or_dash(q.commit.as_deref()));
    if let Some(c) = &q.commit_context {
        let _ = writeln!(out, "         {} ({}, {})", c.subject, c.author, c.date);
    }
    if let Some(original) = &q.rerun_of {
        let _ = writeln!(out, "rerun of {original} (testarena status {original})");
    }
    let _ = writeln!(
        out,
        "attempt  {} on {}",
        q.attempt,
        or_dash(q.worker.as_deref())
    );
    let _ = writeln!(out, "results  {}", counts(&q.counts));
    if let Some(fw) = &q.firmware {
        let _ = writeln!(
            out,
            "firmware text {} data {} bss {} bytes{}",
            fw.text,
            fw.data,
            fw.bss,
            budget_use(fw, q.firmware_budget.as_ref())
        );
    }
    if !q.artifacts.is_empty() {
        let _ = writeln!(
            out,
            "files    {} artifacts (testarena artifacts {})",
            q.artifacts.len(),
            q.id
        );
    }
}

/// "; flash 61 % ram 12 % of budget": a firmware's use of its budget.
fn budget_use(
    fw: &testarena_events::FirmwareSize,
    budget: Option<&testarena_events::SizeBudget>,
) -> String {
    let Some(budget) = budget else {
        return String::new();
    };
    let parts: Vec<String> = [
        ("flash", fw.flash(), budget.flash_bytes),
        ("ram", fw.ram(), budget.ram_bytes),
    ]
    .into_iter()
    .filter_map(|(what, used, most)| {
        testarena_events::percent_of(used, most).map(|p| format!("{what} {p} %"))
    })
    .collect();
    format!("; {} of budget", parts.join(" "))
}

/// Why a waiting queue has not started and its place in line, as the
/// scheduler said; `None` for a queue that does not wait or without word.
fn waiting_line(q: &QueueView) -> Option<String> {
    if q.status != testarena_events::QueueStatus::Waiting {
        return None;
    }
    let reason = q.waiting_reason.as_deref()?;
    Some(match q.position {
        Some(n) => format!("{reason} (#{n} in line)"),
        None => reason.to_owned(),
    })
}

/// A task's row, then its tries, its quarantine and its failed cases.
fn task_row(out: &mut String, t: &TaskView) {
    let _ = writeln!(
        out,
        "  {:<24} {:<10} {:<8} {:>6} {:>9}  {}",
        t.id,
        t.status,
        or_dash(t.result),
        or_dash(t.exit_code),
        or_dash(t.duration_ms),
        t.scenario
    );
    if !t.tries.is_empty() {
        let tries: Vec<&str> = t.tries.iter().map(|x| x.result.as_str()).collect();
        let _ = writeln!(out, "      tries: {}", tries.join(" → "));
    }
    if t.quarantined {
        let _ = writeln!(
            out,
            "      quarantined: this failure does not fail the queue"
        );
    }
    for case in t.junit.iter().flat_map(|j| &j.failed_cases) {
        let _ = writeln!(out, "      failed case: {case}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    fn queue(id: &str, status: &str, verdict: Option<&str>, pass: u32, fail: u32) -> QueueView {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": status, "source": {"repo": "https://git.example.com/fw.git", "ref": "release/1.2"},
            "commit": "3787024cc3e2905aeb31f086b8c9fae9a5cd6f57", "profile": null, "attempt": 1,
            "worker": "lab-3", "submitted_at": "2026-11-25T11:58:00Z",
            "started_at": "2026-11-25T11:58:01Z", "finished_at": "2026-11-25T11:59:06Z",
            "reason": null, "verdict": verdict, "cancel_requested": false,
            "counts": {"total": pass + fail, "waiting": 0, "running": 0, "pass": pass, "fail": fail,
                       "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
            "stages": [], "tasks": []
        }))
        .unwrap()
    }

    const NOW: OffsetDateTime = datetime!(2026-11-25 12:00:00 UTC);

    #[test]
    fn the_list_shows_outcome_ref_age_and_duration_in_aligned_columns() {
        let page = QueuePage {
            queues: vec![
                queue("fw-1", "Finished", Some("failed"), 3, 1),
                queue("nightly-long-id", "Error", Some("error"), 0, 0),
            ],
            total: 2,
            total_capped: false,
            next_cursor: None,
            page: Some(1),
            per_page: 20,
        };
        let text = queue_table(&page, NOW, TimeStyle::Local(offset!(+1)));
        assert_eq!(
            text,
            "\
ID               STATUS  SOURCE          RESULTS     SUBMITTED    DURATION
fw-1             failed  fw@release/1.2  3/4 passed  2 min ago  1 min 05 s
nightly-long-id  Error   fw@release/1.2  no tasks    2 min ago  1 min 05 s
(2 queues in all; page 1 of 1)
"
        );
    }

    #[test]
    fn the_detail_says_what_the_commit_is_and_what_a_rerun_reruns() {
        let mut q = queue("fw-2", "Finished", Some("passed"), 1, 0);
        q.commit_context = Some(testarena_events::CommitContext {
            subject: "uart: flush the FIFO".into(),
            author: "Ann <a@x>".into(),
            date: "2026-11-25T10:00:00Z".into(),
            first_parent_depth: 12,
        });
        q.rerun_of = Some("fw-1".into());
        let text = queue_detail(&q);
        assert!(
            text.contains("\n         uart: flush the FIFO (Ann <a@x>, 2026-11-25T10:00:00Z)\n"),
            "{text}"
        );
        assert!(
            text.contains("rerun of fw-1 (testarena status fw-1)"),
            "{text}"
        );
    }

    #[test]
    fn utc_times_are_absolute_and_one_queue_is_singular() {
        let page = QueuePage {
            queues: vec![queue("fw-1", "Finished", Some("passed"), 1, 0)],
            total: 1,
            total_capped: false,
            next_cursor: None,
            page: Some(1),
            per_page: 20,
        };
        let text = queue_table(&page, NOW, TimeStyle::Utc);
        assert!(text.contains("passed  "), "{text}");
        assert!(text.contains("2026-11-25 11:58:00Z"), "{text}");
        assert!(text.ends_with("(1 queue in all; page 1 of 1)\n"), "{text}");
    }

    #[test]
    fn the_widest_list_row_fits_100_columns_its_id_and_source_shortened_in_the_middle() {
        let mut q = queue(
            &"nightly-".repeat(8),
            "Cancelled",
            Some("cancelled"),
            999,
            1,
        );
        q.id.truncate(64);
        q.source.repo = "https://git.example.com/a-group/firmware-for-the-big-board.git".into();
        q.source.git_ref = "release/2026.11-long-branch".into();
        q.submitted_at = "2026-11-20T11:58:00Z".into();
        q.finished_at = Some("2026-11-25T11:59:06Z".into());
        let page = QueuePage {
            queues: vec![q],
            total: 1,
            total_capped: false,
            next_cursor: None,
            page: Some(1),
            per_page: 20,
        };
        let text = queue_table(&page, NOW, TimeStyle::Local(offset!(+1)));
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(text.contains("nightly-ni…-nightly-"), "{text}");
        assert!(text.contains("firmware-f…ng-branch"), "{text}");
        assert_eq!(shorten_middle("abcdef", 5), "ab…ef");
        assert_eq!(shorten_middle("abc", 5), "abc");
    }

    #[test]
    fn a_page_by_cursor_of_a_long_list_says_ten_thousand_plus_and_the_next_cursor() {
        let page = QueuePage {
            queues: vec![],
            total: 10_000,
            total_capped: true,
            next_cursor: Some("eyJiZWZvcmUiOjQyfQ".into()),
            page: None,
            per_page: 20,
        };
        assert_eq!(
            list_footer(&page),
            "10,000+ queues in all; next page: --cursor eyJiZWZvcmUiOjQyfQ"
        );
        let numbered = QueuePage {
            total: 45,
            total_capped: false,
            page: Some(2),
            ..page
        };
        assert_eq!(
            list_footer(&numbered),
            "45 queues in all; page 2 of 3; next page: --cursor eyJiZWZvcmUiOjQyfQ"
        );
    }

    #[test]
    fn an_empty_page_says_so() {
        let page = QueuePage {
            queues: vec![],
            total: 0,
            total_capped: false,
            next_cursor: None,
            page: Some(1),
            per_page: 20,
        };
        assert_eq!(
            queue_table(&page, NOW, TimeStyle::Utc),
            "no queues\n(0 queues in all; page 1 of 1)\n"
        );
    }

    #[test]
    fn a_waiting_queue_says_why_and_a_bisect_step_names_its_bisect() {
        let mut q = queue("b1-s1", "Waiting", None, 0, 0);
        q.waiting_reason = Some("waiting for a worker with profile qemu-arm and board=x".into());
        q.position = Some(2);
        q.bisect = Some("b1".into());
        let text = queue_detail(&q);
        assert!(
            text.contains(
                "waiting  waiting for a worker with profile qemu-arm and board=x (#2 in line)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("bisect   a step of b1 (testarena bisect show b1)\n"),
            "{text}"
        );
        q.status = testarena_events::QueueStatus::Running;
        assert!(
            !queue_detail(&q).contains("waiting  "),
            "only while it waits"
        );
    }

    #[test]
    fn the_detail_shows_firmware_sizes_and_how_many_artifacts() {
        let mut q = queue("fw-1", "Finished", Some("passed"), 1, 0);
        assert!(!queue_detail(&q).contains("firmware"));
        q.firmware = Some(testarena_events::FirmwareSize {
            text: 1404,
            data: 4,
            bss: 1028,
        });
        q.artifacts.push(testarena_events::ArtifactView {
            name: "fw.elf".into(),
            size: 1,
            sha256: "0".repeat(64),
            task: None,
        });
        let text = queue_detail(&q);
        assert!(
            text.contains("firmware text 1404 data 4 bss 1028 bytes\n"),
            "{text}"
        );
        assert!(
            text.contains("files    1 artifacts (testarena artifacts fw-1)\n"),
            "{text}"
        );
    }
}
