//! Bearer tokens on the API and per-role NATS permissions.

use std::time::Duration;

use crate::stack::{queue, StackOptions, TestStack};

const TOKEN: &str = "correct-horse-battery-staple";

async fn status_with(
    stack: &TestStack,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = stack.http.request(method, format!("{}{path}", stack.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn writes_need_a_valid_token_and_reads_stay_open_unless_protected() {
    let stack = TestStack::start_with(StackOptions {
        workers: 0,
        gateway_args: vec![
            "--api-tokens".into(),
            format!("{TOKEN},another-token-0123456789"),
        ],
        ..Default::default()
    })
    .await;
    let body = queue("authq", "/nowhere", &[("a", "a.sh")]);
    let (status, error) = status_with(
        &stack,
        reqwest::Method::POST,
        "/api/queue",
        None,
        Some(&body),
    )
    .await;
    assert_eq!(status, 401, "{error}");
    assert_eq!(error["error"], "unauthorized");
    let (status, error) = status_with(
        &stack,
        reqwest::Method::POST,
        "/api/queue",
        Some("wrong-token-wrong-token"),
        Some(&body),
    )
    .await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"], "forbidden");
    let (status, _) = status_with(
        &stack,
        reqwest::Method::POST,
        "/api/queue",
        Some(TOKEN),
        Some(&body),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) =
        status_with(&stack, reqwest::Method::GET, "/api/queue/authq", None, None).await;
    assert_eq!(status, 200, "reads are open by default");
    let (status, _) = status_with(
        &stack,
        reqwest::Method::POST,
        "/api/queue/authq/cancel",
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = status_with(
        &stack,
        reqwest::Method::DELETE,
        "/api/delete/authq",
        Some("nope"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = status_with(
        &stack,
        reqwest::Method::DELETE,
        "/api/delete/authq",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let log = std::fs::read_to_string(stack.dir.path().join("gateway.log")).unwrap();
    assert!(
        !log.contains(TOKEN) && !log.contains("wrong-token"),
        "tokens never reach the logs"
    );
}

#[tokio::test]
async fn protected_reads_need_a_token_but_probes_do_not() {
    let stack = TestStack::start_with(StackOptions {
        workers: 0,
        gateway_args: vec![
            "--api-tokens".into(),
            TOKEN.into(),
            "--protect-reads".into(),
        ],
        ..Default::default()
    })
    .await;
    let (status, _) = status_with(&stack, reqwest::Method::GET, "/api/queues", None, None).await;
    assert_eq!(status, 401);
    let (status, _) = status_with(
        &stack,
        reqwest::Method::GET,
        "/api/queues",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = status_with(&stack, reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 401);
    for open in ["/healthz", "/readyz", "/api/openapi.json", "/"] {
        let response = stack
            .http
            .get(format!("{}{open}", stack.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{open} stays open");
    }
}

/// Tries every way to destroy or change the history with `role`'s
/// credentials; each must be refused.
async fn cannot_touch_the_history(stack: &TestStack, role: &str) {
    let mut js = async_nats::jetstream::new(stack.nats_client_as(role).await);
    // A refused request is never answered: it times out.
    js.set_timeout(Duration::from_millis(300));
    assert!(
        js.delete_stream("ARENA_EVENTS").await.is_err(),
        "{role} deleted the events stream"
    );
    let mut config = js
        .get_stream("ARENA_EVENTS")
        .await
        .expect("every role may read the stream's info")
        .info()
        .await
        .unwrap()
        .config
        .clone();
    config.max_messages = 1;
    assert!(
        js.update_stream(config).await.is_err(),
        "{role} changed the events stream"
    );
    let events = js.get_stream_no_info("ARENA_EVENTS").await.unwrap();
    // The projector purges by subject for `--retention-days`, and NATS
    // cannot grant a purge for some subjects only (docs/operations.md).
    if role != "projector" {
        assert!(
            events.purge().await.is_err(),
            "{role} purged the events stream"
        );
    }
    assert!(
        events.delete_message(1).await.is_err(),
        "{role} deleted an event"
    );
    assert!(
        events.delete_consumer("arena_workers").await.is_err(),
        "{role} deleted the workers' consumer"
    );
    let durable = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some(format!("{role}_durable")),
        ..Default::default()
    };
    assert!(
        events.create_consumer(durable).await.is_err(),
        "{role} created a durable consumer"
    );
}

#[tokio::test]
async fn each_service_runs_with_least_privilege_and_none_can_touch_the_history() {
    let stack = TestStack::start_with(StackOptions {
        role_users: true,
        // `fw` stores artifacts and measures an ELF (the host's `true`).
        worker_config: format!(
            "{}\n[profiles.fw]\nbuild = \"mkdir -p out && cp /bin/true out/fw.elf\"\nartifacts = [\"out/*.elf\"]\nelf = \"out/fw.elf\"\ntask = \"sh {{scenario}}\"\n",
            crate::stack::SHELL_PROFILE
        ),
        ..Default::default()
    })
    .await;
    let repo = crate::stack::GitRepo::new(&[
        (
            "ok.sh",
            "echo fine; echo kept > \"$TESTARENA_RESULT_DIR/kept.txt\"\n",
        ),
        ("slow.sh", "sleep 30\n"),
    ]);
    // Every service does its job: submit, run, project, read, cancel,
    // delete, and store, read and delete artifacts.
    let mut least = queue("least", &repo.url(), &[("ok", "ok.sh")]);
    least["profile"] = "fw".into();
    let (status, _) = stack.submit(&least).await;
    assert_eq!(status, 201);
    let view = stack.wait_terminal("least", Duration::from_secs(30)).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["counts"]["pass"], 1, "{view}");
    assert!(view["firmware"]["text"].as_u64().unwrap() > 0, "{view}");
    assert_eq!(
        stack.text("/api/queue/least/artifacts/ok%2Fkept.txt").await,
        "kept\n"
    );
    assert!(stack.text("/api/queue/least/log").await.contains("fine"));
    let (status, events) = stack.get("/api/queue/least/events").await;
    assert_eq!(status, 200, "{events}");
    let (status, _) = stack
        .request(reqwest::Method::DELETE, "/api/queue/least", None)
        .await;
    assert_eq!(status, 200);
    stack
        .submit(&queue("stopped", &repo.url(), &[("slow", "slow.sh")]))
        .await;
    stack
        .wait_for("stopped", Duration::from_secs(30), |v| {
            v["tasks"][0]["status"] == "Running"
        })
        .await;
    let (status, _) = stack
        .request(reqwest::Method::POST, "/api/queue/stopped/cancel", None)
        .await;
    assert!(status == 200 || status == 202, "cancel answered {status}");
    let view = stack
        .wait_terminal("stopped", Duration::from_secs(30))
        .await;
    assert_eq!(view["status"], "Cancelled", "{view}");
    let (status, _) = stack
        .request(reqwest::Method::DELETE, "/api/delete/stopped", None)
        .await;
    assert_eq!(status, 200);
    // A quarantine is the gateway's event on `arena.tests.<kind>`.
    let test = serde_json::json!({"repo": repo.url(), "task": "fine", "reason": "least privilege"});
    let (status, body) = stack
        .request(reqwest::Method::POST, "/api/tests/quarantine", Some(&test))
        .await;
    assert_eq!(status, 200, "{body}");
    // A bisect: the gateway's API and the scheduler's driver publish on
    // `arena.bisect.<id>.<kind>`, and the scheduler submits its step queue (`ok` passes at `main`: Inconclusive).
    let bisect = serde_json::json!({
        "id": "b-privilege", "source": {"repo": repo.url()}, "bad": "main",
        "tasks": [{"id": "ok", "scenario": "ok.sh"}]
    });
    let (status, body) = stack
        .request(reqwest::Method::POST, "/api/bisect", Some(&bisect))
        .await;
    assert_eq!(status, 201, "{body}");
    let ended = stack
        .wait_for_path("/api/bisect/b-privilege", Duration::from_secs(60), |v| {
            v["status"] != "Running"
        })
        .await;
    assert_eq!(ended["status"], "Inconclusive", "{ended}");
    let (status, _) = stack
        .request(reqwest::Method::DELETE, "/api/bisect/b-privilege", None)
        .await;
    assert_eq!(status, 200);

    // No service was refused anything it does.
    let violations = permission_violations(&stack);
    assert!(violations.is_empty(), "{violations:#?}");

    for role in ["worker", "gateway", "scheduler", "projector"] {
        cannot_touch_the_history(&stack, role).await;
    }
    // A worker may not submit, and the projector may not publish events.
    for (role, subject) in [
        ("worker", "arena.events.q2.submitted"),
        ("projector", "arena.events.q3.finished"),
        ("worker", "arena.tests.quarantined"),
        ("worker", "arena.bisect.b2.requested"),
        ("projector", "arena.bisect.b2.ended"),
        // Only the scheduler dispatches and decides a bisect; it runs nothing.
        ("gateway", "arena.events.q4.dispatched.w1"),
        ("gateway", "arena.bisect.b2.ended"),
        ("scheduler", "arena.events.q5.finished"),
        ("scheduler", "arena.bisect.b2.requested"),
    ] {
        let mut js = async_nats::jetstream::new(stack.nats_client_as(role).await);
        js.set_timeout(Duration::from_secs(1));
        let denied = match js.publish(subject, "{}".into()).await {
            Ok(ack) => ack.await.is_err(),
            Err(_) => true,
        };
        assert!(denied, "{role} published {subject}");
    }
    let admin = async_nats::jetstream::new(stack.nats_client().await);
    let info = admin
        .get_stream("ARENA_EVENTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert!(info.state.messages > 5, "the history is intact: {info:?}");
    assert!(
        !permission_violations(&stack).is_empty(),
        "the refusals above are in the server's log"
    );
}

/// The server's log lines about refused publishes or subscriptions.
fn permission_violations(stack: &TestStack) -> Vec<String> {
    std::fs::read_to_string(stack.dir.path().join("nats.log"))
        .expect("the stack's nats-server log")
        .lines()
        .filter(|l| l.contains(" Violation "))
        .map(str::to_owned)
        .collect()
}
