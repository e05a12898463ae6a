//! Plain-text tables for the terminal.

use std::fmt::Write;

use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short_commit(v: &Value) -> String {
    v.as_str()
        .map(|c| c.chars().take(10).collect())
        .unwrap_or_else(|| "-".into())
}

fn counts(v: &Value) -> String {
    format!(
        "{} pass, {} fail, {} timeout, {} error",
        v["pass"], v["fail"], v["timeout"], v["error"]
    )
}

pub fn queue_table(page: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<34} {:<10} {:<10} {:<44} SUBMITTED",
        "ID", "STATUS", "COMMIT", "RESULTS"
    );
    for q in page["queues"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<34} {:<10} {:<10} {:<44} {}",
            s(&q["id"]),
            s(&q["status"]),
            short_commit(&q["commit"]),
            counts(&q["counts"]),
            s(&q["submitted_at"])
        );
    }
    let _ = writeln!(
        out,
        "({} queues in all; page {})",
        page["total"], page["page"]
    );
    out
}

pub fn queue_detail(q: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "queue    {}", s(&q["id"]));
    let _ = writeln!(
        out,
        "status   {}{}",
        s(&q["status"]),
        q["reason"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "source   {} @ {}",
        s(&q["source"]["repo"]),
        s(&q["source"]["ref"])
    );
    let _ = writeln!(out, "commit   {}", s(&q["commit"]));
    let _ = writeln!(out, "attempt  {} on {}", s(&q["attempt"]), s(&q["worker"]));
    let _ = writeln!(out, "results  {}", counts(&q["counts"]));
    for stage in q["stages"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  stage {:<10} {:<10} {:>8} ms {}",
            s(&stage["stage"]),
            s(&stage["status"]),
            s(&stage["duration_ms"]),
            stage["message"].as_str().unwrap_or("")
        );
    }
    let _ = writeln!(
        out,
        "  {:<24} {:<10} {:<8} {:>6} {:>9}  SCENARIO",
        "TASK", "STATUS", "RESULT", "EXIT", "MS"
    );
    for t in q["tasks"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {:<24} {:<10} {:<8} {:>6} {:>9}  {}",
            s(&t["id"]),
            s(&t["status"]),
            s(&t["result"]),
            s(&t["exit_code"]),
            s(&t["duration_ms"]),
            s(&t["scenario"])
        );
        for case in t["junit"]["failed_cases"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "      failed case: {}", s(case));
        }
    }
    out
}
