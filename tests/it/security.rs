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

/// The NATS users in deploy/nats/users.conf, with literal passwords.
fn users_conf() -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nats/users.conf"),
    )
    .unwrap();
    text.replace("$GATEWAY_NATS_PASSWORD", "gw-pass")
        .replace("$WORKER_NATS_PASSWORD", "wk-pass")
        .replace("$PROJECTOR_NATS_PASSWORD", "pj-pass")
}

#[tokio::test]
async fn nats_permissions_let_each_role_do_its_job_and_deny_a_worker_submitting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nats.conf");
    std::fs::write(&config, users_conf()).unwrap();
    let port = testarena::nats_server::free_port().unwrap();
    let nats = testarena::nats_server::NatsServer::start_with_config(
        &dir.path().join("store"),
        port,
        &config,
    )
    .unwrap();
    let url = nats.url();
    let connect = |user: &str, pass: &str| {
        async_nats::ConnectOptions::new()
            .user_and_password(user.into(), pass.into())
            .connect(url.clone())
    };

    // The gateway role creates the streams and may submit.
    let gateway = connect("gateway", "gw-pass").await.unwrap();
    let js = async_nats::jetstream::new(gateway);
    testarena_events::ensure_streams(
        &js,
        &testarena_events::ArenaNames::default(),
        &Default::default(),
    )
    .await
    .unwrap();
    let ack = js
        .publish("arena.events.q1.submitted", "{}".into())
        .await
        .unwrap()
        .await;
    assert!(ack.is_ok(), "the gateway may publish submitted: {ack:?}");

    // The worker role may publish its own events and logs...
    let worker = connect("worker", "wk-pass").await.unwrap();
    let mut wjs = async_nats::jetstream::new(worker);
    wjs.set_timeout(Duration::from_secs(1));
    let ack = wjs
        .publish("arena.events.q1.started", "{}".into())
        .await
        .unwrap()
        .await;
    assert!(ack.is_ok(), "a worker may publish started: {ack:?}");
    let ack = wjs
        .publish("arena.logs.q1", "{}".into())
        .await
        .unwrap()
        .await;
    assert!(ack.is_ok(), "a worker may publish logs: {ack:?}");
    // ...but not a `submitted` event: the server refuses it, nothing is stored.
    let denied = match wjs.publish("arena.events.q2.submitted", "{}".into()).await {
        Ok(ack) => ack.await.is_err(),
        Err(_) => true,
    };
    assert!(denied, "a worker must not be able to submit a queue");
    let stream = js.get_stream("ARENA_EVENTS").await.unwrap();
    assert!(stream
        .direct_get_last_for_subject("arena.events.q2.submitted")
        .await
        .is_err());

    // The projector role cannot publish events at all.
    let projector = connect("projector", "pj-pass").await.unwrap();
    let mut pjs = async_nats::jetstream::new(projector);
    pjs.set_timeout(Duration::from_secs(1));
    let denied = match pjs.publish("arena.events.q3.finished", "{}".into()).await {
        Ok(ack) => ack.await.is_err(),
        Err(_) => true,
    };
    assert!(denied, "the projector must not publish events");
}
