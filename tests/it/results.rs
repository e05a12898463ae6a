//! Test history, retries and quarantine against a real stack: a task that
//! fails only on its first try ends `FLAKY` and passes its queue; a
//! quarantined test still runs and is recorded but does not fail a queue;
//! the CLI's exit codes follow.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::stack::{queue, GitRepo, StackOptions, TestStack, BIN, SHELL_PROFILE};

const T: Duration = Duration::from_secs(60);

/// A script that fails unless `marker-<queue id>` exists in `dir`, and
/// creates it: it fails on its first try only.
pub(crate) fn fails_once(dir: &Path) -> String {
    format!(
        "m={}/marker-$TESTARENA_QUEUE_ID\nif [ -e \"$m\" ]; then echo second; exit 0; fi\ntouch \"$m\"; echo first; exit 1\n",
        dir.display()
    )
}

/// `testarena status <id>` (`--strict`): its exit code and what it printed.
async fn cli_status_output(stack: &TestStack, id: &str, strict: bool) -> (i32, String) {
    let mut args = vec!["status", id];
    if strict {
        args.push("--strict");
    }
    let out = tokio::process::Command::new(BIN)
        .args(&args)
        .env("TESTARENA_SERVER", &stack.base)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

async fn cli_status(stack: &TestStack, id: &str, strict: bool) -> i32 {
    cli_status_output(stack, id, strict).await.0
}

fn with_retries(mut body: Value, retries: u8) -> Value {
    for task in body["tasks"].as_array_mut().unwrap() {
        task["retries"] = json!(retries);
    }
    body
}

#[tokio::test]
async fn a_task_that_fails_only_on_its_first_try_ends_flaky_and_its_queue_passes() {
    let stack = TestStack::start().await;
    let markers = tempfile::tempdir().unwrap();
    let repo = GitRepo::new(&[("flaky.sh", &fails_once(markers.path()))]);
    let body = with_retries(queue("fl-1", &repo.url(), &[("uart", "flaky.sh")]), 2);
    let (status, submitted) = stack.submit(&body).await;
    assert_eq!(status, 201, "{submitted}");
    let view = stack.wait_terminal("fl-1", T).await;
    let task = &view["tasks"][0];
    assert_eq!(task["result"], "FLAKY", "{view}");
    assert_eq!(view["verdict"], "passed", "{view}");
    assert_eq!(view["counts"]["flaky"], 1);
    let tries: Vec<&str> = task["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    assert_eq!(tries, ["FAIL", "PASS"], "{view}");
    let log = stack.text("/api/queue/fl-1/log").await;
    assert!(log.contains("first") && log.contains("second"), "{log}");
    assert!(log.contains("try 2 of 3"), "every try is in the log: {log}");
    let (code, shown) = cli_status_output(&stack, "fl-1", false).await;
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("tries: FAIL → PASS") && shown.contains("1 flaky"),
        "{shown}"
    );
    assert_eq!(cli_status(&stack, "fl-1", true).await, 1, "--strict");

    // The task is one run of the test, FLAKY with its tries, not two
    // runs; a FLAKY run makes the test flaky from its first run.
    let path = history_path(&[("repo", &repo.url()), ("task", "uart")]);
    let (status, history) = stack.get(&path).await;
    assert_eq!(status, 200, "{history}");
    let runs: Vec<(u64, &str, usize)> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let tries = r["tries"].as_array().unwrap().len();
            (
                r["try"].as_u64().unwrap(),
                r["result"].as_str().unwrap(),
                tries,
            )
        })
        .collect();
    assert_eq!(runs, [(2, "FLAKY", 2)], "{history}");
    assert_eq!(history["test"]["state"], "flaky");
    assert_eq!(
        (&history["test"]["runs"], &history["test"]["flaky_runs"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(
        history["test"]["failure_note"]["text"],
        "flaky: failed 1 of last 1"
    );
    let (_, list) = stack.get("/api/tests?state=flaky").await;
    assert_eq!(list["tests"][0]["task"], "uart", "{list}");
}

/// A stack whose worker has, beside the shell profiles, profile `name`
/// booting `boot.sh` (ready on `READY`) with `keys` added.
async fn booted_profile_stack(name: &str, keys: &str) -> TestStack {
    let config = format!(
        "{SHELL_PROFILE}\n[profiles.{name}]\nboot = \"sh boot.sh\"\nboot_ready = {{ log_regex = \"^READY$\" }}\ntask = \"sh {{scenario}}\"\n{keys}\n"
    );
    TestStack::start_with(StackOptions {
        worker_config: config,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn a_reboot_between_retries_boots_the_target_again() {
    let stack =
        booted_profile_stack("rebooted", "retries = 1\nreboot_between_retries = true").await;
    let markers = tempfile::tempdir().unwrap();
    let repo = GitRepo::new(&[
        ("boot.sh", "echo power-on; echo READY; sleep 60\n"),
        ("flaky.sh", &fails_once(markers.path())),
    ]);
    let mut body = queue("rb-1", &repo.url(), &[("uart", "flaky.sh")]);
    body["profile"] = json!("rebooted");
    stack.submit(&body).await;
    let view = stack.wait_terminal("rb-1", T).await;
    assert_eq!(view["tasks"][0]["result"], "FLAKY", "{view}");
    let log = stack.text("/api/queue/rb-1/log").await;
    assert_eq!(log.matches("power-on").count(), 2, "booted twice: {log}");
    assert!(
        log.contains("rebooting the target before the retry"),
        "{log}"
    );
}

#[tokio::test]
async fn with_reboot_after_failure_the_task_after_a_failure_gets_a_fresh_boot() {
    let stack = booted_profile_stack("fresh", "reboot_after_failure = true").await;
    // The boot writes a fresh marker; a failing task breaks it, and a task
    // on the broken target fails.
    let repo = GitRepo::new(&[
        (
            "boot.sh",
            "echo power-on; echo ok > target; echo READY; sleep 60
",
        ),
        (
            "breaks.sh",
            "echo broken > target; exit 1
",
        ),
        (
            "needs.sh",
            "grep -q ok target
",
        ),
    ]);
    let tasks = [
        ("a", "needs.sh"),
        ("b", "breaks.sh"),
        ("c", "needs.sh"),
        ("d", "needs.sh"),
    ];
    let mut body = queue("fresh-1", &repo.url(), &tasks);
    body["profile"] = json!("fresh");
    stack.submit(&body).await;
    let view = stack.wait_terminal("fresh-1", T).await;
    let results: Vec<&str> = view["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(results, ["PASS", "FAIL", "PASS", "PASS"], "{view:#}");
    let log = stack.text("/api/queue/fresh-1/log").await;
    assert_eq!(
        log.matches("power-on").count(),
        2,
        "one reboot, after b only: {log}"
    );
    assert!(
        log.contains("rebooting the target: the task before did not pass"),
        "{log}"
    );
}

#[tokio::test]
async fn a_quarantined_test_still_runs_and_is_recorded_but_does_not_fail_its_queue() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("bad.sh", "echo broken; exit 1\n"), ("ok.sh", "echo ok\n")]);
    let tasks = [("uart", "bad.sh"), ("boot", "ok.sh")];
    stack.submit(&queue("qr-1", &repo.url(), &tasks)).await;
    let view = stack.wait_terminal("qr-1", T).await;
    assert_eq!(view["verdict"], "failed", "{view}");
    assert_eq!(cli_status(&stack, "qr-1", false).await, 1);

    let test = json!({"repo": repo.url(), "task": "uart", "reason": "FW-1312: UART under load"});
    let (status, summary) = stack
        .request(reqwest::Method::POST, "/api/tests/quarantine", Some(&test))
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["quarantined"], true);
    assert_eq!(summary["quarantine_reason"], "FW-1312: UART under load");

    stack.submit(&queue("qr-2", &repo.url(), &tasks)).await;
    let view = stack.wait_terminal("qr-2", T).await;
    assert_eq!(view["verdict"], "passed", "{view}");
    assert_eq!(view["tasks"][0]["result"], "FAIL", "it still ran: {view}");
    assert_eq!(view["tasks"][0]["quarantined"], true);
    assert_eq!(
        (&view["counts"]["quarantined"], &view["counts"]["fail"]),
        (&json!(1), &json!(0)),
        "a quarantined failure counts once, as quarantined: {view}"
    );
    let (code, shown) = cli_status_output(&stack, "qr-2", false).await;
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("quarantined: this failure does not fail the queue"),
        "{shown}"
    );
    let (_, list) = stack.get("/api/tests?q=uart").await;
    assert_eq!(list["tests"][0]["runs"], 2, "still recorded: {list}");
    assert_eq!(list["tests"][0]["quarantined"], true);

    let (status, summary) = stack
        .request(
            reqwest::Method::DELETE,
            "/api/tests/quarantine",
            Some(&test),
        )
        .await;
    assert_eq!(
        (status, &summary["quarantined"]),
        (200, &json!(false)),
        "{summary}"
    );
    stack.submit(&queue("qr-3", &repo.url(), &tasks)).await;
    let view = stack.wait_terminal("qr-3", T).await;
    assert_eq!(view["verdict"], "failed", "{view}");

    let bad = json!({"repo": repo.url(), "task": "a.b", "reason": "x"});
    let (status, body) = stack
        .request(reqwest::Method::POST, "/api/tests/quarantine", Some(&bad))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("task:"),
        "{body}"
    );
}

/// `/api/tests/history?…` with `params` encoded.
fn history_path(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params("http://gateway/api/tests/history", params).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

#[tokio::test]
async fn auto_quarantine_takes_a_test_that_turns_flaky_and_never_a_failing_one() {
    let stack = TestStack::start_with(StackOptions {
        service_env: vec![("TESTARENA_AUTO_QUARANTINE".into(), "true".into())],
        ..Default::default()
    })
    .await;
    let markers = tempfile::tempdir().unwrap();
    let repo = GitRepo::new(&[
        ("flaky.sh", &fails_once(markers.path())),
        ("bad.sh", "echo broken; exit 1\n"),
    ]);
    let tasks = [("uart", "flaky.sh"), ("boot", "bad.sh")];
    for n in 0..3 {
        let id = format!("aq-{n}");
        let body = with_retries(queue(&id, &repo.url(), &tasks), 1);
        stack.submit(&body).await;
        stack.wait_terminal(&id, T).await;
    }
    let deadline = std::time::Instant::now() + T;
    let list = loop {
        let (_, list) = stack.get("/api/tests").await;
        let uart = list["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task"] == "uart")
            .cloned();
        if uart.is_some_and(|t| t["quarantined"] == true) {
            break list;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "uart never auto-quarantined: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let test = |task: &str| {
        list["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task"] == task)
            .cloned()
            .unwrap()
    };
    assert!(
        test("uart")["quarantine_reason"]
            .as_str()
            .unwrap()
            .starts_with("auto: flaky"),
        "{list}"
    );
    assert_eq!(test("boot")["state"], "failing", "{list}");
    assert_eq!(
        test("boot")["quarantined"],
        false,
        "a failing test is broken, not flaky"
    );
    // The quarantine is an event: a rebuild restores it.
    let rebuilt = stack.rebuild_into("rebuilt");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select quarantined from tests where task='uart' and case_name=''\").fetchone()[0])")
        .arg(rebuilt.join("views.sqlite"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}
