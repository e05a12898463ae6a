//! Firmware size you can act on, with the example firmware and the real
//! arm-none-eabi-gcc: a profile's size budget fails a queue over it; the
//! Sizes API orders commits by first-parent depth, not by when they were
//! measured; the size diff names the symbol that grew.

use std::time::Duration;

use serde_json::json;

use crate::stack::{queue, GitRepo, StackOptions, TestStack, BIN};

const T: Duration = Duration::from_secs(120);

/// `fw` measures the example's ELF with a flash budget the example fits
/// (about 1.4 kB) and a 3,000-byte table added to it does not.
const BUDGET_PROFILE: &str = r#"
default_profile = "fw"
[profiles.fw]
build = "make -C firmware"
elf = "firmware/build/fw.elf"
size_budget = { flash_bytes = 3000 }
task = "test -f {scenario}"
"#;

fn at(repo: &GitRepo, id: &str, commit: &str) -> serde_json::Value {
    let mut body = queue(id, &repo.url(), &[("exists", "firmware/main.c")]);
    body["source"]["ref"] = json!(commit);
    body
}

#[tokio::test]
async fn a_budget_fails_the_queue_over_it_and_sizes_follow_commit_order_with_a_diff_by_symbol() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qemu-arm");
    let stack = TestStack::start_with(StackOptions {
        worker_config: BUDGET_PROFILE.into(),
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[]);
    crate::engine::copy_dir(&example, repo.dir.path());
    let small = repo.commit(&[], "firmware example");
    let main_c = std::fs::read_to_string(repo.dir.path().join("firmware/main.c")).unwrap();
    let grown_c = main_c
        .replacen(
            "int main(void)",
            "static const char grown_table[3000] = \"grown\";\n\nint main(void)",
            1,
        )
        .replacen(
            "    uart_init();\n",
            "    uart_init();\n    uart_puts(grown_table);\n",
            1,
        );
    let grown = repo.commit(&[("firmware/main.c", &grown_c)], "a big table");

    // The newer commit is measured first: the order is the commits', not the measures'.
    stack.submit(&at(&repo, "fw-grown", &grown)).await;
    let over = stack.wait_terminal("fw-grown", T).await;
    stack.submit(&at(&repo, "fw-small", &small)).await;
    let fits = stack.wait_terminal("fw-small", T).await;
    assert_eq!(over["tasks"][0]["result"], "PASS", "{over:#}");
    assert_eq!(over["verdict"], "failed");
    let reason = over["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("flash ") && reason.ends_with(" % of budget"),
        "{reason}"
    );
    assert_eq!(over["firmware_budget"]["flash_bytes"], 3000);
    assert_eq!(fits["verdict"], "passed", "{fits:#}");

    let repo_query = url_encoded(&repo.url());
    let (_, sizes) = stack
        .get(&format!("/api/sizes?repo={repo_query}&profile=fw"))
        .await;
    let order: Vec<(&str, u64)> = sizes["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["queue_id"].as_str().unwrap(),
                e["first_parent_depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(order, [("fw-grown", 2), ("fw-small", 1)], "{sizes:#}");
    assert_eq!(sizes["sizes"][0]["flash_budget"], 3000);

    let (status, diff) = stack.get("/api/queue/fw-grown/size-diff").await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["base"]["queue_id"], "fw-small", "{diff:#}");
    assert_eq!(diff["growers"][0]["name"], "grown_table", "{diff:#}");
    assert_eq!(diff["growers"][0]["delta"], 3000);
    assert!(diff["text"].as_i64().unwrap() >= 3000, "{diff:#}");
    let (_, first) = stack.get("/api/queue/fw-small/size-diff").await;
    assert_eq!(first["base"], json!(null), "{first:#}");

    let (_, sources) = stack.get("/api/sizes/sources").await;
    assert_eq!(
        sources["sources"][0],
        json!({"repo": repo.url(), "profile": "fw", "commits": 2,
               "last_measured_at": sources["sources"][0]["last_measured_at"]})
    );

    let out = tokio::process::Command::new(BIN)
        .args(["status", "fw-grown"])
        .env("TESTARENA_SERVER", &stack.base)
        .output()
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("% of budget") && shown.contains("flash"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_queue_without_firmware_has_no_size_diff() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("ok.sh", "echo fine\n")]);
    stack
        .submit(&queue("no-fw", &repo.url(), &[("ok", "ok.sh")]))
        .await;
    stack.wait_terminal("no-fw", Duration::from_secs(60)).await;
    let (status, error) = stack.get("/api/queue/no-fw/size-diff").await;
    assert_eq!(status, 404, "{error}");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("measured no firmware"));
    assert_eq!(stack.get("/api/queue/nope/size-diff").await.0, 404);
}

fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
