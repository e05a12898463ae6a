//! The CLI against a real stack, including its exit codes.

use std::process::Output;
use std::time::Duration;

use crate::stack::{queue, GitRepo, TestStack, BIN};

async fn cli(stack: &TestStack, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("TESTARENA_SERVER", &stack.base)
        .output()
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn submit_wait_exits_zero_only_when_every_task_passes() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("ok.sh", "echo fine\n"), ("bad.sh", "echo nope; exit 1\n")]);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        queue("cli-good", &repo.url(), &[("a", "ok.sh"), ("b", "ok.sh")]).to_string(),
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        queue("cli-bad", &repo.url(), &[("a", "ok.sh"), ("b", "bad.sh")]).to_string(),
    )
    .unwrap();

    let out = cli(&stack, &["submit", good.to_str().unwrap(), "--wait"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("[task:a] fine"), "{}", text(&out));
    let dashboard = format!("{}/#/queue/cli-good", stack.base);
    assert!(
        text(&out).contains(&dashboard),
        "prints the dashboard URL of the queue: {}",
        text(&out)
    );

    let out = cli(&stack, &["submit", bad.to_str().unwrap(), "--wait"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAIL"), "{}", text(&out));

    // `status` exits like `submit --wait`: 1 for a queue that did not pass.
    let out = cli(&stack, &["status", "cli-good"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cli(&stack, &["status", "cli-bad"]).await;
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out);
    assert!(
        shown.contains("Finished, failed") && shown.contains("FAIL") && shown.contains("PASS"),
        "{shown}"
    );

    // Any case of a status; the verdict, source (repo@ref) and duration
    // columns, ages instead of timestamps, a correct plural.
    let out = cli(&stack, &["list", "--status", "finished"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = listed.lines().collect();
    assert!(
        lines[0].starts_with("ID ")
            && lines[0].contains(" SOURCE ")
            && lines[0].ends_with("DURATION"),
        "{listed}"
    );
    let bad_row = lines
        .iter()
        .find(|l| l.starts_with("cli-bad "))
        .expect("cli-bad listed");
    assert!(
        bad_row.contains(" failed ") && bad_row.contains("@main "),
        "{listed}"
    );
    assert!(
        bad_row.contains(" ago ") || bad_row.contains("just now"),
        "{listed}"
    );
    let good_row = lines
        .iter()
        .find(|l| l.starts_with("cli-good "))
        .expect("cli-good listed");
    assert!(
        good_row.contains(" passed ") && good_row.contains("2 passed"),
        "{listed}"
    );
    assert_eq!(
        lines.last(),
        Some(&"(2 queues in all; page 1 of 1)"),
        "{listed}"
    );

    let out = cli(&stack, &["list", "--utc"]).await;
    assert!(
        text(&out).contains("Z  "),
        "absolute UTC times: {}",
        text(&out)
    );
    let out = cli(&stack, &["list", "--json"]).await;
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(page["total"], 2);
    let out = cli(&stack, &["list", "--status", "done"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unknown status \"done\""),
        "{}",
        text(&out)
    );

    let out = cli(&stack, &["logs", "cli-good"]).await;
    assert!(text(&out).contains("[task:b] fine"), "{}", text(&out));

    let out = cli(&stack, &["delete", "cli-good"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cli(&stack, &["status", "cli-good"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "an API error is exit 2: {}",
        text(&out)
    );
    assert!(text(&out).contains("no queue with id"), "{}", text(&out));
}

#[tokio::test]
async fn cancel_follow_and_the_unhappy_paths_have_clear_messages() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("slow.sh", "echo begin; sleep 30\n")]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.json");
    std::fs::write(
        &file,
        queue("cli-slow", &repo.url(), &[("s", "slow.sh")]).to_string(),
    )
    .unwrap();
    let out = cli(&stack, &["submit", file.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let follow = tokio::process::Command::new(BIN)
        .args(["logs", "cli-slow", "--follow"])
        .env("TESTARENA_SERVER", &stack.base)
        .output();
    let follow = tokio::spawn(follow);
    stack
        .wait_for("cli-slow", Duration::from_secs(30), |v| {
            v["tasks"][0]["status"] == "Running"
        })
        .await;
    let out = cli(&stack, &["status", "cli-slow"]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "a running queue has not failed: {}",
        text(&out)
    );
    let out = cli(&stack, &["cancel", "cli-slow", "--wait"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "cancel requested; cli-slow was Running\ncli-slow Cancelled — cancelled by a user\n"
    );
    let out = cli(&stack, &["cancel", "cli-slow"]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nothing to cancel: cli-slow already ended (Cancelled)\n"
    );
    let followed = tokio::time::timeout(Duration::from_secs(30), follow)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        text(&followed).contains("[task:s] begin"),
        "{}",
        text(&followed)
    );
    assert_eq!(followed.status.code(), Some(1), "a cancelled queue's log");

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ nope").unwrap();
    let out = cli(&stack, &["submit", garbage.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not valid JSON"), "{}", text(&out));

    let invalid = dir.path().join("invalid.json");
    std::fs::write(
        &invalid,
        queue("x", &repo.url(), &[("a", "../escape")]).to_string(),
    )
    .unwrap();
    let out = cli(&stack, &["submit", invalid.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("tasks[0].scenario"), "{}", text(&out));

    let out = tokio::process::Command::new(BIN)
        .args(["list"])
        .env("TESTARENA_SERVER", "http://127.0.0.1:9")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out).contains("cannot reach the TestArena server"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn logs_follow_and_submit_wait_print_the_whole_log_to_its_end() {
    let mut stack = TestStack::start().await;
    // A burst right before the end: the view can be terminal before the
    // projector has written these lines to the log file.
    let burst = "i=0; while [ $i -lt 3000 ]; do echo burst $i; i=$((i+1)); done\n";
    let lag = format!("sleep 1\n{burst}");
    let repo = GitRepo::new(&[("burst.sh", burst), ("lag.sh", &lag)]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.json");
    std::fs::write(
        &file,
        queue("cli-burst", &repo.url(), &[("b", "burst.sh")]).to_string(),
    )
    .unwrap();
    let out = cli(&stack, &["submit", file.to_str().unwrap(), "--wait"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bursts = |out: &Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("[task:b] burst "))
            .count()
    };
    assert_eq!(bursts(&out), 3000, "submit --wait printed the whole log");

    // The end comes from the log stream, not from the view: with the
    // projector stopped the view never ends, and `logs --follow` still
    // prints every line and exits.
    std::fs::write(
        &file,
        queue("cli-lag", &repo.url(), &[("b", "lag.sh")]).to_string(),
    )
    .unwrap();
    let out = cli(&stack, &["submit", file.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    stack
        .wait_for("cli-lag", Duration::from_secs(30), |v| {
            v["status"] == "Running"
        })
        .await;
    stack.kill_projector();
    crate::live::wait_finished_in_stream(&stack, "cli-lag").await;
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        cli(&stack, &["logs", "cli-lag", "--follow"]),
    )
    .await
    .expect("logs --follow exits at the stream's end");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(bursts(&out), 3000);
}

#[tokio::test]
async fn artifacts_lists_and_downloads_each_file_under_its_name() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[(
        "out.sh",
        "mkdir -p \"$TESTARENA_RESULT_DIR/sub\"; echo one > \"$TESTARENA_RESULT_DIR/a.txt\"; echo two > \"$TESTARENA_RESULT_DIR/sub/b.txt\"\n",
    )]);
    stack
        .submit(&queue("cli-art", &repo.url(), &[("t", "out.sh")]))
        .await;
    stack
        .wait_terminal("cli-art", Duration::from_secs(30))
        .await;

    let out = cli(&stack, &["artifacts", "cli-art"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = text(&out);
    assert!(
        listed.contains("t/a.txt") && listed.contains("t/sub/b.txt"),
        "{listed}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        &stack,
        &[
            "artifacts",
            "cli-art",
            "--download",
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("t/a.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("t/sub/b.txt")).unwrap(),
        "two\n"
    );

    let out = cli(&stack, &["artifacts", "no-such-queue"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// A repository whose `uart.sh` passes until the commit "Break the UART"
/// (the 4th of 6), and fails from there on; (good, culprit, bad).
fn repo_broken_midway() -> (GitRepo, String, String, String) {
    let pass = "echo uart ok\n";
    let fail = "echo uart: expected 64 bytes, got 60; exit 1\n";
    let repo = GitRepo::new(&[("uart.sh", pass)]);
    let good = repo.commit(&[("notes.txt", "1\n")], "Add notes");
    repo.commit(&[("notes.txt", "2\n")], "More notes");
    let culprit = repo.commit(&[("uart.sh", fail)], "Break the UART");
    repo.commit(&[("notes.txt", "3\n")], "Even more notes");
    let bad = repo.commit(&[("notes.txt", "4\n")], "Last notes");
    (repo, good, culprit, bad)
}

#[tokio::test]
async fn bisect_wait_finds_the_culprit_and_exits_zero_taking_the_scenario_from_a_queue() {
    let stack = TestStack::start().await;
    let (repo, good, culprit, bad) = repo_broken_midway();
    let url = repo.url();
    // Without any queue of the repo there is no scenario to take: say so.
    let out = cli(
        &stack,
        &["bisect", "--repo", &url, "--bad", &bad, "--task", "uart"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--scenario") && text(&out).contains("\"uart\""),
        "{}",
        text(&out)
    );

    let (status, _) = stack
        .submit(&queue("cli-uart", &url, &[("uart", "uart.sh")]))
        .await;
    assert_eq!(status, 201);
    stack
        .wait_terminal("cli-uart", Duration::from_secs(60))
        .await;

    let out = cli(
        &stack,
        &[
            "bisect", "--repo", &url, "--bad", &bad, "--good", &good, "--task", "uart", "--wait",
        ],
    )
    .await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("scenario uart.sh: taken from queue cli-uart"),
        "says where the scenario came from: {shown}"
    );
    assert!(
        shown.contains(&format!("{}/#/bisect/", stack.base)),
        "prints the bisect's dashboard URL: {shown}"
    );
    assert!(shown.contains("step 1"), "prints each step: {shown}");
    assert!(
        shown.contains(&format!("Found: first bad commit {culprit}"))
            && shown.contains("Break the UART"),
        "{shown}"
    );

    let out = cli(&stack, &["bisects"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Found"), "{}", text(&out));
}

#[tokio::test]
async fn bisect_with_a_failing_good_is_inconclusive_and_exits_one() {
    let stack = TestStack::start().await;
    let (repo, _good, culprit, bad) = repo_broken_midway();
    let out = cli(
        &stack,
        &[
            "bisect",
            "--repo",
            &repo.url(),
            "--bad",
            &bad,
            "--good",
            &culprit,
            "--task",
            "uart",
            "--scenario",
            "uart.sh",
            "--wait",
        ],
    )
    .await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("Inconclusive"), "{shown}");
    let id = shown
        .lines()
        .find_map(|l| l.strip_prefix("bisect ")?.split(' ').next())
        .expect("the bisect's id")
        .to_owned();
    let out = cli(&stack, &["bisect", "show", &id]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Inconclusive"), "{}", text(&out));
}

#[tokio::test]
async fn bisect_without_good_walks_back_and_says_which_good_it_found() {
    let stack = TestStack::start().await;
    let (repo, good, culprit, bad) = repo_broken_midway();
    let out = cli(
        &stack,
        &[
            "bisect",
            "--repo",
            &repo.url(),
            "--bad",
            &bad,
            "--task",
            "uart",
            "--scenario",
            "uart.sh",
            "--runs-per-step",
            "1",
            "--wait",
        ],
    )
    .await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    // bad~1 and bad~2 fail, bad~4 passes: that is good.
    assert!(shown.contains(&format!("good: {good}")), "{shown}");
    assert!(
        shown.contains(&format!("Found: first bad commit {culprit}")),
        "{shown}"
    );
}

#[tokio::test]
async fn logs_into_a_pipe_closed_after_one_line_exits_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    use tokio::io::AsyncBufReadExt as _;

    let stack = TestStack::start().await;
    // Far more than a pipe's 64 KiB, so the write outlives the reader.
    let lines = "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done\n";
    let repo = GitRepo::new(&[("lines.sh", lines)]);
    stack
        .submit(&queue("piped", &repo.url(), &[("l", "lines.sh")]))
        .await;
    let view = stack.wait_terminal("piped", Duration::from_secs(60)).await;
    assert_eq!(view["status"], "Finished", "{view}");

    // `testarena logs piped | head -1`.
    let mut child = tokio::process::Command::new(BIN)
        .args(["logs", "piped"])
        .env("TESTARENA_SERVER", &stack.base)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    assert!(!first.is_empty());
    drop(stdout);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("logs exits once its reader is gone")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // As `cat` does: ended by SIGPIPE (141 in a shell), nothing said.
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "{stderr}");
}
