//! Commit context: the worker reads the checked-out commit's subject,
//! author, date and first-parent depth; the view and `testarena status`
//! show them.

use std::time::Duration;

use crate::stack::{queue, GitRepo, TestStack, BIN};

#[tokio::test]
async fn a_queue_says_what_its_commit_is() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("ok.sh", "echo fine\n")]);
    repo.commit(&[("ok.sh", "echo better\n")], "uart: flush the FIFO\n\nwhy");
    stack
        .submit(&queue("cc-1", &repo.url(), &[("ok", "ok.sh")]))
        .await;
    let view = stack.wait_terminal("cc-1", Duration::from_secs(60)).await;
    let context = &view["commit_context"];
    assert_eq!(context["subject"], "uart: flush the FIFO", "{view:#}");
    assert_eq!(context["author"], "t <t@t>");
    assert_eq!(context["first_parent_depth"], 1, "one commit before it");
    assert!(
        context["date"].as_str().unwrap().ends_with('Z'),
        "{context}"
    );

    let out = tokio::process::Command::new(BIN)
        .args(["status", "cc-1"])
        .env("TESTARENA_SERVER", &stack.base)
        .output()
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("uart: flush the FIFO (t <t@t>, "), "{shown}");
}
