//! Cases read from a task's console (`[profiles.NAME.cases]`) against a real
//! stack, with the recipes of docs/profiles.md and fixtures of each shape
//! (tests/fixtures/console_cases): ztest over a UART, a Unity runner, a TAP
//! producer, and a library's own test programs under QEMU semihosting. The
//! cases land where JUnit's do: the view, the test history, the Tests list.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::live::read_sse;
use crate::stack::{processes_with, queue, GitRepo, StackOptions, TestStack, BIN};

const T: Duration = Duration::from_secs(120);

/// The worker config: the recipes of docs/profiles.md, with a fake UART in
/// place of the emulator for the Zephyr one.
const RECIPES: &str = r#"
default_profile = "sh"
[profiles.sh]
task = "sh {scenario}"

# Zephyr's ztest on a console: the wrapper stops at PROJECT EXECUTION.
[profiles.zephyr]
task = "sh ztest-console.sh sh {scenario}"
task_timeout_s = 60
cases = { format = "ztest" }

[profiles.unity]
task = "sh {scenario}"
cases = { format = "unity" }

[profiles.tap]
task = "sh {scenario}"
cases = { format = "tap" }

# A library's own test programs, one per task, under QEMU semihosting.
[profiles.semihosted]
build = "make -C semihosted"
task = "qemu-system-arm -M mps2-an385 -nographic -monitor none -serial null -semihosting-config enable=on,target=native -kernel semihosted/build/{scenario}.elf"
task_timeout_s = 60
scenario_kind = "name"
[profiles.semihosted.cases]
regex = '^(?P<name>\S.*?) \.+ (?P<result>PASS|FAILED|----)$'
pass = ["PASS"]
fail = ["FAILED"]
skip = ["----"]
"#;

fn fixture(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console_cases");
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn recipes_stack() -> TestStack {
    TestStack::start_with(StackOptions {
        worker_config: RECIPES.into(),
        ..Default::default()
    })
    .await
}

async fn run(
    stack: &TestStack,
    id: &str,
    profile: &str,
    repo: &GitRepo,
    tasks: &[(&str, &str)],
) -> Value {
    let mut body = queue(id, &repo.url(), tasks);
    body["profile"] = json!(profile);
    let (status, answer) = stack.submit(&body).await;
    assert_eq!(status, 201, "{answer}");
    stack.wait_terminal(id, T).await
}

fn task<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id}: {view:#}"))
}

/// `(classname.name, result)` of a task's cases in the view.
fn cases(task: &Value) -> Vec<(String, String)> {
    task["junit"]["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("no cases: {task:#}"))
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap();
            let full = match c["classname"].as_str() {
                Some(class) => format!("{class}.{name}"),
                None => name.to_owned(),
            };
            (full, c["result"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn case<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["junit"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}: {task:#}"))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn recipe_ztest_over_a_uart_gives_each_case_to_the_view_and_the_history() {
    let stack = recipes_stack().await;
    let repo = GitRepo::new(&[
        ("ztest-console.sh", &fixture("ztest-console.sh")),
        ("ring.sh", &fixture("ztest_uart_ring.sh")),
        ("kernel.sh", &fixture("ztest_uart_kernel.sh")),
    ]);
    let started = Instant::now();
    let view = run(
        &stack,
        "zt-1",
        "zephyr",
        &repo,
        &[("ring", "ring.sh"), ("kernel", "kernel.sh")],
    )
    .await;
    // The images idle after their tests; the wrapper stops at ztest's verdict.
    assert!(started.elapsed() < Duration::from_secs(45), "{view:#}");

    let ring = task(&view, "ring");
    assert_eq!(ring["result"], "PASS", "{view:#}");
    assert_eq!(
        cases(ring),
        pairs(&[
            ("ring_buffer.test_put_get", "passed"),
            ("ring_buffer.test_wrap", "passed"),
            ("ring_buffer.test_dma", "skipped"),
        ]),
        "a record glued to the next is still read, each case once"
    );
    assert_eq!(case(ring, "test_wrap")["time_ms"], 4);
    assert_eq!(
        (&ring["junit"]["tests"], &ring["junit"]["skipped"]),
        (&json!(3), &json!(1))
    );

    let kernel = task(&view, "kernel");
    assert_eq!(kernel["result"], "FAIL", "{view:#}");
    assert_eq!(
        kernel["junit"]["failed_cases"],
        json!(["kernel_timer.test_timer_drift"])
    );
    let drift = case(kernel, "test_timer_drift");
    assert_eq!(drift["time_ms"], 251);
    assert!(
        drift["message"]
            .as_str()
            .unwrap()
            .contains("(drift_us < 50) is false"),
        "{drift}"
    );

    // Each case is a test with a history, like a JUnit case.
    let history = history(
        &stack,
        &repo,
        "zephyr",
        "kernel",
        "kernel_timer.test_timer_drift",
    )
    .await;
    let runs: Vec<&str> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["FAIL"], "{history:#}");
    let listed = tests_listed(&stack, &repo).await;
    for name in [
        "ring_buffer.test_put_get",
        "ring_buffer.test_wrap",
        "kernel_timer.test_timer_drift",
    ] {
        assert!(listed.iter().any(|c| c == name), "{name} not in {listed:?}");
    }
    assert!(
        processes_with("sleep 613").is_empty(),
        "a fake UART outlived its task"
    );
}

async fn history(
    stack: &TestStack,
    repo: &GitRepo,
    profile: &str,
    task: &str,
    case: &str,
) -> Value {
    let params = [
        ("repo", repo.url()),
        ("profile", profile.into()),
        ("task", task.into()),
        ("case", case.into()),
    ];
    let url = reqwest::Url::parse_with_params("http://gateway/api/tests/history", &params).unwrap();
    let path = format!("{}?{}", url.path(), url.query().unwrap());
    let (status, history) = stack.get(&path).await;
    assert_eq!(status, 200, "{history}");
    history
}

/// The cases the Tests list shows for the repository.
async fn tests_listed(stack: &TestStack, repo: &GitRepo) -> Vec<String> {
    let url = reqwest::Url::parse_with_params("http://gateway/api/tests", &[("repo", repo.url())])
        .unwrap();
    let (status, list) = stack
        .get(&format!("{}?{}", url.path(), url.query().unwrap()))
        .await;
    assert_eq!(status, 200, "{list}");
    list["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["case"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn recipe_unity_a_failed_case_fails_a_runner_that_exits_0_and_a_lost_record_is_a_marked_line()
{
    let stack = recipes_stack().await;
    // JUnit written beside the console wins for the case it names (its
    // time, 7 ms, not the console's 0) and adds its own.
    let task_script = r#"cat > "$TESTARENA_RESULT_DIR/junit.xml" <<'XML'
<testsuite><testcase classname="test_cli" name="test_parse_number" time="0.007"/><testcase classname="integration" name="boot"/></testsuite>
XML
exec sh unity_runner.sh
"#;
    let repo = GitRepo::new(&[
        ("unity_runner.sh", &fixture("unity_runner.sh")),
        ("cli.sh", task_script),
    ]);
    let view = run(&stack, "un-1", "unity", &repo, &[("cli", "cli.sh")]).await;
    let cli = task(&view, "cli");
    assert_eq!(cli["result"], "FAIL", "{view:#}");
    assert_eq!(cli["exit_code"], 0);
    assert_eq!(cli["message"], "exit 0 but 1 of 4 cases failed");
    assert_eq!(
        cases(cli),
        pairs(&[
            ("test_cli.test_parse_number", "passed"),
            ("integration.boot", "passed"),
            ("test_cli.test_parse_hex", "failed"),
            ("test_cli.test_parse_word", "skipped"),
        ])
    );
    assert_eq!(case(cli, "test_parse_number")["time_ms"], 7, "JUnit wins");
    assert_eq!(
        case(cli, "test_parse_hex")["message"],
        "Expected 255 Was 15"
    );

    // Quarantine by case works for a console case as for a JUnit one: the
    // task still fails, on a quarantined case only, and is excused.
    let test = json!({"repo": repo.url(), "profile": "unity", "task": "cli",
        "case": "test_cli.test_parse_hex", "reason": "FW-7: hex parser"});
    let (status, summary) = stack
        .request(reqwest::Method::POST, "/api/tests/quarantine", Some(&test))
        .await;
    assert_eq!(status, 200, "{summary}");
    let again = run(&stack, "un-2", "unity", &repo, &[("cli", "cli.sh")]).await;
    assert_eq!(task(&again, "cli")["result"], "FAIL", "{again:#}");
    assert_eq!(task(&again, "cli")["quarantined"], true, "{again:#}");
    assert_eq!(again["verdict"], "passed", "{again:#}");

    // The record the UART cut is not silently lost: the count check says
    // so on a line marked like a failure.
    let marked = marked_lines(&stack, "un-1").await;
    assert!(
        marked.contains(&(
            "task:cli".to_owned(),
            "parsed 3 cases, the framework reports 4".to_owned()
        )),
        "{marked:?}"
    );
}

/// `(source, text)` of the log lines marked `failure`.
async fn marked_lines(stack: &TestStack, id: &str) -> Vec<(String, String)> {
    read_sse(stack, id, None, None)
        .await
        .iter()
        .filter(|e| e.event == "log")
        .flat_map(|e| e.data["lines"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["failure"] == true)
        .map(|l| {
            (
                l["source"].as_str().unwrap().to_owned(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn recipe_tap_a_command_failing_after_every_case_passed_fails_and_says_so() {
    let stack = recipes_stack().await;
    let repo = GitRepo::new(&[("tap.sh", &fixture("tap_producer.sh"))]);
    let view = run(&stack, "tap-1", "tap", &repo, &[("selftest", "tap.sh")]).await;
    let selftest = task(&view, "selftest");
    assert_eq!(selftest["result"], "FAIL", "{view:#}");
    assert_eq!(selftest["exit_code"], 1);
    assert_eq!(selftest["message"], "exit 1 after all cases passed");
    assert_eq!(
        cases(selftest),
        pairs(&[
            ("config parses", "passed"),
            ("flash image fits", "skipped"),
            ("checksums", "passed"),
            ("version string", "passed"),
        ]),
        "the subtest is its parent's one case"
    );
    assert_eq!(
        case(selftest, "flash image fits")["message"],
        "no size limit on the host"
    );
    let log = stack.text("/api/queue/tap-1/log").await;
    assert!(log.contains("exit 1 after all cases passed"), "{log}");
    assert!(
        marked_lines(&stack, "tap-1").await.is_empty(),
        "the plan of 4 agrees"
    );
}

#[tokio::test]
async fn recipe_a_librarys_test_programs_under_qemu_semihosting_are_read_with_a_regex() {
    crate::stack::require_tools(&["arm-none-eabi-gcc", "qemu-system-arm", "make"]);
    let stack = recipes_stack().await;
    let sources = [
        "Makefile",
        "mps2_an385.ld",
        "semihost.c",
        "semihost.h",
        "test_suite_crc.c",
        "test_suite_ring.c",
    ];
    let files: Vec<(String, String)> = sources
        .iter()
        .map(|f| {
            (
                format!("semihosted/{f}"),
                fixture(&format!("semihosted/{f}")),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = GitRepo::new(&refs);
    let view = run(
        &stack,
        "semi-1",
        "semihosted",
        &repo,
        &[("crc", "test_suite_crc"), ("ring", "test_suite_ring")],
    )
    .await;
    let crc = task(&view, "crc");
    assert_eq!(crc["result"], "PASS", "{view:#}");
    assert_eq!(
        cases(crc),
        pairs(&[
            ("CRC-32 of the empty string", "passed"),
            ("CRC-32 check value #1", "passed"),
            ("CRC-32 of one byte #2", "passed"),
            ("CRC-32 hardware unit", "skipped"),
        ])
    );
    let ring = task(&view, "ring");
    assert_eq!(ring["result"], "FAIL", "{view:#}");
    assert_eq!(ring["junit"]["failed_cases"], json!(["Ring wraps around"]));
    assert_eq!(
        ring["message"],
        Value::Null,
        "a failure with its failed case says nothing more"
    );
}

#[test]
fn a_bad_case_regex_stops_the_worker_at_start_naming_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker.toml");
    std::fs::write(
        &config,
        "[profiles.fw]\ntask = 'sh {scenario}'\n[profiles.fw.cases]\nregex = '(?P<name>\\w+) (?P<result>PASS|FAIL'\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["worker", "--config"])
        .arg(&config)
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        // Nothing listens there: the config is refused before NATS is tried.
        .env("TESTARENA_NATS_URL", "nats://127.0.0.1:1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("profiles.fw.cases.regex"), "{stderr}");
    assert!(stderr.contains("unclosed group"), "{stderr}");
}

#[tokio::test]
async fn cases_past_the_log_cap_are_still_read_each_once() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: RECIPES.into(),
        worker_args: vec!["--log-cap-bytes".into(), "2000".into()],
        ..Default::default()
    })
    .await;
    let producer =
        "echo 1..300\ni=1\nwhile [ $i -le 300 ]; do echo \"ok $i - case $i\"; i=$((i+1)); done\n";
    let repo = GitRepo::new(&[("many.sh", producer)]);
    let view = run(&stack, "cap-1", "tap", &repo, &[("many", "many.sh")]).await;
    let many = task(&view, "many");
    assert_eq!(many["result"], "PASS", "{view:#}");
    assert_eq!(
        many["junit"]["tests"], 300,
        "every case, stored in the log or not"
    );
    assert_eq!(case(many, "case 300")["result"], "passed");
    let log = stack.text("/api/queue/cap-1/log").await;
    assert!(log.contains("log cap of 2000 bytes reached"), "{log}");
    assert!(!log.contains("case 300"), "the line itself was not stored");
    assert!(marked_lines(&stack, "cap-1").await.is_empty(), "300 of 300");
}
