//! `decide::deliveries` against whole configs and queue and bisect facts:
//! which deliveries an event owes, their ids, bodies and signatures.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use testarena_events::{BisectView, DeliveryKind, QueueView};
use testarena_integrations::GatewayFile;

use crate::decide::{deliveries, Setup};
use crate::facts::{Facts, QueueFacts, QueueMoment};
use crate::signature::verify;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn setup(config: &str) -> Setup {
    let file = GatewayFile::parse(config, Path::new("/etc/gw.toml"), |file| {
        Ok(format!("secret of {}\n", file.display()))
    })
    .expect("the config parses");
    Setup::new(Arc::new(file), "https://arena.example.com/".into()).expect("setup")
}

const CONFIG: &str = r#"
[[repos]]
url = "https://github.com/team/fw.git"
webhook_secret_file = "hook"
status = { api = "github", url = "https://api.github.com", token_file = "token" }

[[notify]]
on = ["failed", "new_failure"]
repo = "https://github.com/team/fw.git"
webhook = "https://ci.example.com/testarena?k=1"
secret_file = "notify"

[[notify]]
on = ["finished", "bisect_found"]
slack = "https://hooks.slack.com/services/T0/B0/XYZ"

[[notify]]
on = ["finished"]
repo = "https://github.com/other/repo.git"
webhook = "https://elsewhere.example.com/"
"#;

fn view(verdict: Option<&str>, tasks: &[(&str, Option<&str>)]) -> QueueView {
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|(id, result)| {
            json!({"id": id, "scenario": format!("{id}.scn"), "timeout_s": null,
                   "status": if result.is_some() { "Finished" } else { "Waiting" },
                   "result": result, "exit_code": null, "duration_ms": null, "started_at": null,
                   "finished_at": null, "message": null, "junit": null})
        })
        .collect();
    let pass = tasks.iter().filter(|t| t["result"] == "PASS").count();
    serde_json::from_value(json!({
        "id": "smoke-0123456789ab", "status": if verdict.is_some() { "Finished" } else { "Waiting" },
        "source": {"repo": "https://github.com/team/fw.git", "ref": "main"},
        "commit": verdict.map(|_| SHA), "profile": "qemu-arm", "attempt": 1, "worker": null,
        "submitted_at": "2026-01-01T00:00:00Z", "started_at": null, "finished_at": null,
        "reason": null, "verdict": verdict, "cancel_requested": false,
        "counts": {"total": tasks.len(), "waiting": 0, "running": 0, "pass": pass, "fail": 0,
                   "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
        "stages": [], "tasks": tasks,
    }))
    .expect("a queue view")
}

fn queue(moment: QueueMoment, view: QueueView, new_failures: &[&str]) -> Facts {
    Facts::Queue(QueueFacts {
        moment,
        view,
        new_failures: new_failures.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn a_failed_queue_owes_its_final_status_the_webhook_and_slack() {
    let facts = queue(
        QueueMoment::Finished,
        view(
            Some("failed"),
            &[("boot", Some("PASS")), ("uart", Some("FAIL"))],
        ),
        &["uart"],
    );
    let owed = deliveries(42, &facts, &setup(CONFIG));
    let ids: Vec<&str> = owed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["smoke-0123456789ab.status.final", "42.rule0", "42.rule1"]
    );

    let status = &owed[0];
    assert_eq!(status.kind, DeliveryKind::Status);
    assert_eq!(status.superseded_by, None);
    assert_eq!(
        status.request.url,
        format!("https://api.github.com/repos/team/fw/statuses/{SHA}")
    );
    let body: Value = serde_json::from_slice(&status.request.body).unwrap();
    assert_eq!(body["state"], "failure");
    assert_eq!(body["description"], "failed: 1 of 2 tasks passed");
    assert_eq!(
        body["target_url"],
        "https://arena.example.com/#/queue/smoke-0123456789ab"
    );

    let webhook = &owed[1];
    assert_eq!(webhook.about, ["failed", "new_failure"]);
    assert_eq!(
        webhook.target, "https://ci.example.com/testarena",
        "no query shown"
    );
    let signature = webhook.request.header("X-TestArena-Signature").unwrap();
    assert!(verify(
        b"secret of /etc/notify",
        &webhook.request.body,
        signature
    ));
    assert_eq!(
        webhook.request.header("X-TestArena-Delivery"),
        Some("42.rule0")
    );
    let body: Value = serde_json::from_slice(&webhook.request.body).unwrap();
    assert_eq!(body["events"], json!(["failed", "new_failure"]));
    assert_eq!(body["queue"]["failing"], json!(["uart"]));
    assert_eq!(body["queue"]["new_failures"], json!(["uart"]));

    let slack = &owed[2];
    assert_eq!(slack.target, "https://hooks.slack.com/…");
    assert!(slack.request.header("X-TestArena-Signature").is_none());
    let text = serde_json::from_slice::<Value>(&slack.request.body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("*smoke-0123456789ab* failed"), "{text}");
    assert!(text.contains("Failing: uart"), "{text}");
    assert!(text.contains("<https://arena.example.com/#/queue/smoke-0123456789ab|Open the queue>"));
}

#[test]
fn a_passed_queue_fires_finished_only() {
    let facts = queue(
        QueueMoment::Finished,
        view(Some("passed"), &[("boot", Some("PASS"))]),
        &[],
    );
    let owed = deliveries(7, &facts, &setup(CONFIG));
    let ids: Vec<&str> = owed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["smoke-0123456789ab.status.final", "7.rule1"]);
    let body: Value = serde_json::from_slice(&owed[0].request.body).unwrap();
    assert_eq!(body["state"], "success");
}

#[test]
fn a_submitted_queue_posts_pending_once_its_commit_is_known() {
    let at_branch = queue(QueueMoment::Submitted, view(None, &[("boot", None)]), &[]);
    assert!(
        deliveries(1, &at_branch, &setup(CONFIG)).is_empty(),
        "no commit yet"
    );

    let mut at_commit = view(None, &[("boot", None)]);
    at_commit.source.git_ref = SHA.into();
    let owed = deliveries(
        1,
        &queue(QueueMoment::Submitted, at_commit, &[]),
        &setup(CONFIG),
    );
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].id, "smoke-0123456789ab.status.pending");
    assert_eq!(
        owed[0].superseded_by.as_deref(),
        Some("smoke-0123456789ab.status.final")
    );

    let mut checked_out = view(None, &[("boot", None)]);
    checked_out.commit = Some(SHA.into());
    let owed = deliveries(
        2,
        &queue(QueueMoment::CheckedOut, checked_out, &[]),
        &setup(CONFIG),
    );
    assert_eq!(
        owed[0].id, "smoke-0123456789ab.status.pending",
        "the same id: sent once"
    );
    assert_eq!(owed[0].about, ["pending"]);
}

#[test]
fn bisect_steps_and_unconfigured_repositories_owe_nothing() {
    let mut step = view(Some("failed"), &[("uart", Some("FAIL"))]);
    step.bisect = Some("b1".into());
    assert!(deliveries(3, &queue(QueueMoment::Finished, step, &[]), &setup(CONFIG)).is_empty());

    let mut elsewhere = view(Some("failed"), &[("uart", Some("FAIL"))]);
    elsewhere.source.repo = "https://github.com/someone/else.git".into();
    let owed = deliveries(
        4,
        &queue(QueueMoment::Finished, elsewhere, &[]),
        &setup(CONFIG),
    );
    let ids: Vec<&str> = owed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["4.rule1"], "no status, no repo-filtered rule");
}

#[test]
fn a_rule_without_a_secret_sends_unsigned() {
    let config = "[[notify]]\non = [\"finished\"]\nwebhook = \"http://127.0.0.1:9/h\"\n";
    let facts = queue(QueueMoment::Finished, view(Some("error"), &[]), &[]);
    let owed = deliveries(5, &facts, &setup(config));
    assert_eq!(owed.len(), 1);
    assert!(owed[0].request.header("X-TestArena-Signature").is_none());
}

#[test]
fn a_found_bisect_fires_bisect_found_with_the_culprit() {
    let bisect: BisectView = serde_json::from_value(json!({
        "id": "b1", "status": "Found", "source": {"repo": "https://github.com/team/fw.git"},
        "good": null, "bad": SHA, "good_ref": null, "bad_ref": "main", "profile": null,
        "requires": [], "tasks": [], "case": null, "runs_per_step": 1, "owner": "anonymous",
        "first_bad": {"commit": SHA, "subject": "Break <uart> & co", "author": "A <a@x>"},
        "commits": [], "steps": [], "reason": null, "cancel_requested": false,
        "created_at": "2026-01-01T00:00:00Z", "ended_at": null,
    }))
    .expect("a bisect view");
    let owed = deliveries(9, &Facts::Bisect(bisect), &setup(CONFIG));
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].bisect_id.as_deref(), Some("b1"));
    let text = serde_json::from_slice::<Value>(&owed[0].request.body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("Break &lt;uart&gt; &amp; co"), "{text}");
    assert!(text.contains("#/bisect/b1|Open the bisect>"), "{text}");
}

#[test]
fn hostile_task_names_cannot_forge_slack_links() {
    let facts = queue(
        QueueMoment::Finished,
        view(Some("failed"), &[("<https://evil|click>", Some("FAIL"))]),
        &[],
    );
    let owed = deliveries(6, &facts, &setup(CONFIG));
    let slack = owed.iter().find(|d| d.kind == DeliveryKind::Slack).unwrap();
    let text = serde_json::from_slice::<Value>(&slack.request.body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("&lt;https://evil|click&gt;"), "{text}");
    assert!(!text.contains("<https://evil"), "{text}");
}

#[test]
fn a_status_repository_without_owner_and_name_is_refused_at_start() {
    let config = "[[repos]]\nurl = \"https://github.com/lonely\"\nwebhook_secret_file = \"h\"\n\
                  status = { api = \"github\", url = \"https://api.github.com\", token_file = \"t\" }\n";
    let file = GatewayFile::parse(config, Path::new("/g.toml"), |_| Ok("s".into())).unwrap();
    let error = Setup::new(Arc::new(file), "http://x".into()).unwrap_err();
    assert!(
        error.to_string().contains("https://github.com/lonely"),
        "{error}"
    );
}
