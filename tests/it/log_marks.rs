//! What the worker marks on output lines, as a log reader (SSE) sees them.

use std::time::Duration;

use serde_json::{json, Value};

use crate::live::{read_sse, Sse};
use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);

/// Every line of the queue's log, as the SSE `log` events carry them.
fn lines(events: &[Sse]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event == "log")
        .flat_map(|e| e.data["lines"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn what_a_boot_prints_after_its_teardown_sigterm_is_marked_teardown() {
    // `exec`: the boot script is the group's leader, so the worker's grace
    // period waits for its trap (it waits for the leader, then SIGKILLs).
    let stack = TestStack::start_with(StackOptions {
        worker_config: r#"
default_profile = "booted"
[profiles.booted]
boot = "exec sh boot.sh"
boot_ready = { log_regex = "^READY$" }
task = "sh {scenario}"
"#
        .into(),
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[
        (
            "boot.sh",
            "trap 'echo caught SIGTERM >&2; exit 0' TERM\necho READY\nwhile true; do sleep 0.1; done\n",
        ),
        ("a.sh", "echo task ran\n"),
    ]);
    let body = queue("teardown-noise", &repo.url(), &[("a", "a.sh")]);
    stack.submit(&body).await;
    let view = stack.wait_terminal("teardown-noise", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    let lines = lines(&read_sse(&stack, "teardown-noise", None, None).await);
    let marked = |text: &str| {
        let line = lines
            .iter()
            .find(|l| l["text"] == text)
            .unwrap_or_else(|| panic!("no line {text:?} in {lines:?}"));
        line.get("teardown").cloned()
    };
    assert_eq!(marked("caught SIGTERM"), Some(json!(true)));
    assert_eq!(marked("READY"), None, "absent, not false, before the stop");
    assert_eq!(marked("task ran"), None);
}
