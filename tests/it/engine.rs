//! The execution engine through real processes: stage failures, timeouts,
//! floods, and the real firmware example in QEMU.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::stack::{
    processes_with, processes_with_in, queue, GitRepo, StackOptions, TestStack, SHELL_PROFILE,
};

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_unknown_ref_ends_the_queue_in_error_with_gits_message() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("a.sh", "true\n")]);
    let mut body = queue("noref", &repo.url(), &[("a", "a.sh"), ("b", "a.sh")]);
    body["source"]["ref"] = json!("does-not-exist");
    stack.submit(&body).await;
    let view = stack.wait_terminal("noref", T).await;
    assert_eq!(view["status"], "Error");
    assert!(
        view["reason"].as_str().unwrap().contains("does-not-exist"),
        "{view}"
    );
    assert_eq!(view["counts"]["skipped"], 2);
    assert_eq!(view["stages"][0]["status"], "failed");
}

#[tokio::test]
async fn a_failed_build_skips_the_tasks_and_says_why() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[
        (
            "build.sh",
            "echo compiling; echo 'error: boom' >&2; exit 2\n",
        ),
        ("a.sh", "true\n"),
    ]);
    stack
        .submit(&queue("nobuild", &repo.url(), &[("a", "a.sh")]))
        .await;
    let view = stack.wait_terminal("nobuild", T).await;
    assert_eq!(view["status"], "Error");
    assert_eq!(view["reason"], "build failed with exit code 2");
    assert_eq!(view["tasks"][0]["status"], "Skipped");
    let log = stack.text("/api/queue/nobuild/log").await;
    assert!(log.contains("[build!] error: boom"), "{log}");
}

#[tokio::test]
async fn a_missing_scenario_is_an_error_naming_it_and_the_commit_and_the_next_task_runs() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("a.sh", "echo ran\n")]);
    let sha = crate::stack::git(repo.dir.path(), &["rev-parse", "HEAD"]);
    let body = queue(
        "typo",
        &repo.url(),
        &[("x", "scenarios/x.scn"), ("a", "a.sh")],
    );
    stack.submit(&body).await;
    let view = stack.wait_terminal("typo", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    let missing = &view["tasks"][0];
    assert_eq!(missing["result"], "ERROR", "{view}");
    assert_eq!(missing["exit_code"], serde_json::Value::Null);
    assert_eq!(
        missing["message"],
        format!("scenario scenarios/x.scn not found at {}", sha.trim())
    );
    assert_eq!(view["tasks"][1]["result"], "PASS");

    // A profile no worker has is refused at submit, named as the user
    // wrote it, with what the workers offer.
    let mut body = queue("nope", &repo.url(), &[("a", "a.sh")]);
    body["profile"] = json!("stm32-nope");
    let (status, answer) = stack.submit(&body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"], "invalid_field", "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with("profile: no worker seen in the last 24 h has profile stm32-nope; workers offer: profile booted; profile sh"),
        "{message}"
    );
}

#[tokio::test]
async fn a_scenario_that_names_a_test_rather_than_a_file_runs_as_the_command_says() {
    // `scenario_kind = "name"`: a test program or `pytest -k {scenario}`.
    // Nothing is looked for in the checkout; a real failure stays `FAIL`
    // (history, flaky detection and bisect then see a failure, not an
    // infrastructure error).
    let stack = TestStack::start_with(StackOptions {
        worker_config: "default_profile = \"named\"\n[profiles.named]\nscenario_kind = \"name\"\ntask = \"test {scenario} != broken\"\n"
            .into(),
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[("README", "no scenario files here\n")]);
    let body = queue("named", &repo.url(), &[("ok", "smoke"), ("bad", "broken")]);
    stack.submit(&body).await;
    let view = stack.wait_terminal("named", T).await;
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view}");
    assert_eq!(view["tasks"][1]["result"], "FAIL", "{view}");
    assert_eq!(view["tasks"][1]["exit_code"], 1, "{view}");
}

#[tokio::test]
async fn a_scenario_file_is_looked_for_after_checkout_so_a_missing_one_never_runs() {
    // The default `scenario_kind = "file"`: checked before build and boot,
    // whatever the command would have made of it.
    let stack = TestStack::start_with(StackOptions {
        worker_config: "default_profile = \"files\"\n[profiles.files]\nbuild = \"echo building\"\ntask = \"echo ran {scenario}\"\n"
            .into(),
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[("here.scn", "\n")]);
    let body = queue(
        "files",
        &repo.url(),
        &[("gone", "gone.scn"), ("here", "here.scn")],
    );
    stack.submit(&body).await;
    let view = stack.wait_terminal("files", T).await;
    assert_eq!(view["tasks"][0]["result"], "ERROR", "{view}");
    assert_eq!(
        view["tasks"][0]["message"].as_str().unwrap_or_default(),
        format!(
            "scenario gone.scn not found at {}",
            view["commit"].as_str().unwrap_or("?")
        )
    );
    assert_eq!(view["tasks"][1]["result"], "PASS", "{view}");
    let log = stack.text("/api/queue/files/log").await;
    assert!(
        !log.contains("ran gone.scn"),
        "the missing one never ran: {log}"
    );
    assert!(log.contains("ran here.scn"), "{log}");
}

#[tokio::test]
async fn a_boot_that_never_becomes_ready_ends_in_error_and_is_torn_down() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[
        (
            "boot.sh",
            "echo booting; sh -c 'sleep 60; true' testarena-boot-marker\n",
        ),
        ("a.sh", "true\n"),
    ]);
    let mut body = queue("noboot", &repo.url(), &[("a", "a.sh")]);
    body["profile"] = json!("booted");
    stack.submit(&body).await;
    let deadline = std::time::Instant::now() + T;
    while processes_with("testarena-boot-marker").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the boot process never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let view = stack.wait_terminal("noboot", T).await;
    assert_eq!(view["status"], "Error");
    assert_eq!(view["reason"], "boot not ready within 3s");
    assert_eq!(view["tasks"][0]["status"], "Skipped");
    let teardown = view["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "teardown")
        .unwrap();
    assert_eq!(teardown["status"], "ok");
    assert!(
        processes_with("testarena-boot-marker").is_empty(),
        "{:?}",
        processes_with("testarena-boot-marker")
    );
}

#[tokio::test]
async fn a_booted_target_serves_every_task_then_is_stopped() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[
        (
            "boot.sh",
            "echo warming up; echo READY; sh -c 'sleep 60; true' testarena-ready-marker\n",
        ),
        (
            "a.sh",
            "echo task sees port $TESTARENA_PORT; pgrep -f testarena-ready-marker\n",
        ),
    ]);
    let mut body = queue("booted", &repo.url(), &[("a", "a.sh"), ("b", "a.sh")]);
    body["profile"] = json!("booted");
    stack.submit(&body).await;
    let view = stack.wait_terminal("booted", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["counts"]["pass"], 2);
    assert!(processes_with("testarena-ready-marker").is_empty());
}

#[tokio::test]
async fn a_task_over_its_timeout_is_killed_and_marked_timeout() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[
        ("hang.sh", "sh -c 'sleep 120; true' testarena-hang-marker\n"),
        ("a.sh", "true\n"),
    ]);
    let body = json!({
        "id": "slowpoke",
        "source": {"repo": repo.url(), "ref": "main"},
        "tasks": [{"id": "hang", "scenario": "hang.sh", "timeout_s": 1}, {"id": "next", "scenario": "a.sh"}],
    });
    stack.submit(&body).await;
    let view = stack.wait_terminal("slowpoke", T).await;
    assert_eq!(view["status"], "Finished");
    assert_eq!(view["tasks"][0]["result"], "TIMEOUT");
    assert_eq!(view["tasks"][0]["message"], "timed out after 1s");
    assert_eq!(
        view["tasks"][1]["result"], "PASS",
        "the queue goes on after a timeout"
    );
    assert!(processes_with("testarena-hang-marker").is_empty());
}

#[tokio::test]
async fn a_flooding_task_keeps_worker_memory_bounded_and_its_log_capped() {
    let stack = TestStack::start_with(StackOptions {
        worker_args: vec!["--log-cap-bytes".into(), "1000000".into()],
        ..Default::default()
    })
    .await;
    // ~200 MB of output, plus one 1 MB line without a newline.
    let repo = GitRepo::new(&[(
        "flood.sh",
        "yes 'flooding the log with a fairly long line of text' | head -c 200000000; head -c 1000000 /dev/zero | tr '\\0' x; echo; echo tail-line\n",
    )]);
    stack
        .submit(&queue("flood", &repo.url(), &[("f", "flood.sh")]))
        .await;
    let view = stack.wait_terminal("flood", Duration::from_secs(180)).await;
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view}");
    let log = stack.text("/api/queue/flood/log").await;
    assert!(log.len() < 2_000_000, "log capped, got {} bytes", log.len());
    assert!(
        log.contains("log cap of 1000000 bytes reached"),
        "cap marker missing"
    );
    let peak = stack.worker_peak_rss(0);
    assert!(
        peak > 0 && peak < 100 << 20,
        "worker peak RSS {} MiB while a task printed 200 MB",
        peak >> 20
    );
    let worker_log =
        std::fs::read_to_string(stack.dir.path().join("worker-0.log")).unwrap_or_default();
    assert!(!worker_log.contains("panicked"), "{worker_log}");
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "build" || name == "__pycache__" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The demo, end to end: real git, arm-none-eabi-gcc, qemu-system-arm, and
/// Python scenarios over the emulated UART.
#[tokio::test]
async fn the_qemu_arm_example_builds_boots_and_runs_its_scenarios() {
    crate::stack::require_tools(&["arm-none-eabi-gcc", "qemu-system-arm", "make", "python3"]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qemu-arm");
    let config = std::fs::read_to_string(example.join("worker.toml")).unwrap();
    let stack = TestStack::start_with(StackOptions {
        worker_config: config,
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[]);
    copy_dir(&example, repo.dir.path());
    repo.commit(&[], "firmware example");
    let mut body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example.join("queue.json")).unwrap())
            .unwrap();
    body["source"]["repo"] = json!(repo.url());
    body["id"] = json!("qemu-demo");
    let (status, view) = stack.submit(&body).await;
    assert_eq!(status, 201, "{view}");
    let view = stack
        .wait_terminal("qemu-demo", Duration::from_secs(240))
        .await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    let results: Vec<(&str, &str)> = view["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap(),
                t["result"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("smoke", "PASS"),
            ("arithmetic", "PASS"),
            ("echo", "PASS"),
            ("fault", "FAIL")
        ],
        "{view:#}"
    );
    let fault = &view["tasks"][3];
    assert!(fault["junit"]["failures"].as_u64().unwrap() >= 1, "{fault}");
    assert!(!fault["junit"]["failed_cases"]
        .as_array()
        .unwrap()
        .is_empty());
    let log = stack.text("/api/queue/qemu-demo/log").await;
    assert!(
        log.contains("arm-none-eabi-gcc"),
        "the build ran the cross compiler"
    );
    assert!(log.contains("pong"), "the scenario talked to the firmware");
    let ours = || processes_with_in("mps2-an385", stack.dir.path());
    assert!(ours().is_empty(), "qemu left running: {:?}", ours());
    let _ = SHELL_PROFILE;
}
