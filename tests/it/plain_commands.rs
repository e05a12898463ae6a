//! A profile command that is one program with words runs without `sh -c`
//! around it (the worker's plain_command.rs): a process start less per
//! task. What a user sees stays the same — a line that needs a shell still
//! gets one, a missing program still fails with the shell's 127, a script
//! without `#!` still runs as a shell script.

use std::time::Duration;

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);

const PROFILES: &str = r#"
default_profile = "plain"
[profiles.plain]
task = "sh {scenario}"

[profiles.shell]
task = "sh {scenario} && echo 'and then' $((40 + 2))"

[profiles.missing]
task = "no-such-program-anywhere {scenario}"

[profiles.noshebang]
build = "chmod +x noshebang"
task = "./noshebang {scenario}"
"#;

async fn run(stack: &TestStack, id: &str, profile: &str, repo: &GitRepo) -> serde_json::Value {
    let mut body = queue(id, &repo.url(), &[("t", "who.sh")]);
    body["profile"] = profile.into();
    let (status, answer) = stack.submit(&body).await;
    assert_eq!(status, 201, "{answer}");
    stack.wait_terminal(id, T).await
}

fn repo() -> GitRepo {
    GitRepo::new(&[
        // What started the task's own process: the worker, or a shell.
        ("who.sh", "echo parent=$(cat /proc/$PPID/comm)\n"),
        ("noshebang", "echo ran as a script with $1\n"),
    ])
}

#[tokio::test]
async fn a_plain_task_command_runs_without_a_shell_and_others_as_before() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: PROFILES.to_owned(),
        ..Default::default()
    })
    .await;
    let repo = repo();

    let view = run(&stack, "plain", "plain", &repo).await;
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view}");
    let log = stack.text("/api/queue/plain/log").await;
    assert!(
        log.contains("] parent=testarena"),
        "no shell between:\n{log}"
    );

    let view = run(&stack, "shell", "shell", &repo).await;
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view}");
    let log = stack.text("/api/queue/shell/log").await;
    assert!(log.contains("] parent=sh"), "{log}");
    assert!(log.contains("] and then 42"), "{log}");

    let view = run(&stack, "missing", "missing", &repo).await;
    assert_eq!(view["tasks"][0]["result"], "FAIL", "{view}");
    assert_eq!(view["tasks"][0]["exit_code"], 127, "{view}");
    let log = stack.text("/api/queue/missing/log").await;
    assert!(
        log.contains("no-such-program-anywhere"),
        "the shell says: {log}"
    );

    let view = run(&stack, "noshebang", "noshebang", &repo).await;
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view}");
    let log = stack.text("/api/queue/noshebang/log").await;
    assert!(log.contains("] ran as a script with who.sh"), "{log}");
}
