//! Boards through the API with a real stack: a token reserves a board,
//! another cannot take it, power it or type into its console, the holder
//! can; the release and who did what are in its history; a rebuild (from
//! the start and from a snapshot) gives the same boards view. The board is
//! a fake one: a worker record with boards put in the registry, and a task
//! that answers its power and console requests on NATS as a worker would
//! (the simulated QEMU board is in `board_sim.rs` of the worker's branch).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use testarena_events::{
    now_millis, ArenaNames, BoardEvent, BoardEventBody, BoardName, EventLog, QueueId,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::projection::rows;
use crate::stack::{StackOptions, TestStack};

pub(crate) const ADA: &str = "ada-board-token-0123456789";
pub(crate) const BOB: &str = "bob-board-token-0123456789";
const T: Duration = Duration::from_secs(20);

async fn stack() -> TestStack {
    let tokens = format!("ada:{ADA},bob:{BOB}");
    let stack = TestStack::start_with(StackOptions {
        gateway_args: vec!["--api-tokens".into(), tokens],
        ..Default::default()
    })
    .await;
    views_ready(&stack).await;
    stack
}

/// Until the projector created the boards tables: a board's history
/// answers 503 before, 404 for an unknown board after.
pub(crate) async fn views_ready(stack: &TestStack) {
    let deadline = Instant::now() + T;
    while stack.get("/api/boards/none/none/history").await.0 == 503 {
        assert!(Instant::now() < deadline, "the boards view never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn call(
    stack: &TestStack,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = stack
        .http
        .request(method, format!("{}{path}", stack.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// `bench-1` with boards `b1` and `b2`, live for an hour, in the registry;
/// and a task answering its requests as a worker: power (`ok`), console
/// tail (a banner), and a board that answers `ping\r` with `pong`.
async fn fake_bench(stack: &TestStack) -> tokio::task::JoinHandle<()> {
    let client = stack.nats_client().await;
    let names = ArenaNames::new(&stack.prefix);
    let record = json!({
        "id": "bench-1", "host": "lab", "version": "0", "profiles": ["fw"],
        "labels": ["lab=a"], "slots": 0, "busy": 0, "state": {},
        "last_seen_ms": now_millis(), "heartbeat_ms": 1_200_000,
        "boards": [{"name": "b1", "labels": ["board=nucleo"]}, {"name": "b2"}],
        "board_profiles": ["fw"]
    });
    let js = async_nats::jetstream::new(client.clone());
    let kv = js.get_key_value(names.fleet_bucket()).await.unwrap();
    kv.put("bench-1", record.to_string().into()).await.unwrap();
    let b1 = BoardName::parse("b1").unwrap();
    let mut power = client
        .subscribe(names.worker_control_subject("bench-1", "power"))
        .await
        .unwrap();
    let mut tail = client
        .subscribe(names.worker_control_subject("bench-1", "console"))
        .await
        .unwrap();
    let mut input = client
        .subscribe(names.console_in_subject("bench-1", &b1))
        .await
        .unwrap();
    let out = names.console_out_subject("bench-1", &b1);
    client.flush().await.unwrap();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(m) = power.next() => {
                    let reply = json!({"ok": true, "message": "cycled b1"}).to_string();
                    client.publish(m.reply.unwrap(), reply.into()).await.unwrap();
                }
                Some(m) = tail.next() => {
                    client.publish(m.reply.unwrap(), "FW BANNER v1\r\n".into()).await.unwrap();
                }
                Some(m) = input.next() => {
                    if m.payload.as_ref() == b"ping\r" {
                        client.publish(out.clone(), "pong\r\n".into()).await.unwrap();
                    }
                }
                else => return,
            }
        }
    })
}

/// `bench-1/b1` as `/api/boards` shows it, once `done` holds.
async fn wait_b1(stack: &TestStack, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let (_, page) = call(stack, ADA, reqwest::Method::GET, "/api/boards", None).await;
        let b1 = page["boards"]
            .as_array()
            .and_then(|b| {
                b.iter()
                    .find(|b| b["worker"] == "bench-1" && b["name"] == "b1")
            })
            .cloned();
        if let Some(b1) = b1.filter(|b| done(b)) {
            return b1;
        }
        assert!(Instant::now() < deadline, "b1 never got there: {page:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `<worker>/b1`'s console, as `token`.
pub(crate) async fn console(stack: &TestStack, token: &str, worker: &str) -> Socket {
    let url = format!(
        "{}/api/boards/{worker}/b1/console",
        stack.base.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().unwrap();
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The frames of a console until one matches `done` (text frames as
/// parsed JSON, binary ones gathered as text).
pub(crate) async fn read_until(
    socket: &mut Socket,
    done: impl Fn(&[Value], &str) -> bool,
) -> (Vec<Value>, String) {
    let (mut texts, mut bytes) = (Vec::new(), String::new());
    let deadline = tokio::time::Instant::now() + T;
    while !done(&texts, &bytes) {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("console: no more frames; {texts:?} {bytes:?}"));
        match frame.expect("console open").expect("a frame") {
            Message::Text(t) => texts.push(serde_json::from_str(t.as_str()).unwrap()),
            Message::Binary(b) => bytes.push_str(&String::from_utf8_lossy(&b)),
            _ => {}
        }
    }
    (texts, bytes)
}

#[tokio::test]
async fn a_reserved_board_is_its_holders_to_power_and_type_into_and_its_history_says_who() {
    let mut stack = stack().await;
    let _bench = fake_bench(&stack).await;
    let b1 = wait_b1(&stack, |b| b["state"] == "idle").await;
    assert_eq!(b1["labels"], json!(["board=nucleo", "lab=a"]));

    let reserve = json!({"minutes": 30, "reason": "debugging the UART"});
    let path = "/api/boards/bench-1/b1/reserve";
    let (status, taken) = call(
        &stack,
        ADA,
        reqwest::Method::POST,
        path,
        Some(reserve.clone()),
    )
    .await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(
        (taken["reserved_by"].as_str(), &taken["free_at"]),
        (Some("ada"), &Value::Null)
    );
    let b1 = wait_b1(&stack, |b| b["state"] == "reserved").await;
    assert_eq!(b1["reserved_by"], "ada");
    assert_eq!(b1["reservation_reason"], "debugging the UART");

    let (status, refused) = call(&stack, BOB, reqwest::Method::POST, path, Some(reserve)).await;
    assert_eq!(status, 409, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("reserved by ada until"), "{message}");
    let power = "/api/boards/bench-1/b1/power";
    let cycle = Some(json!({"action": "cycle"}));
    let (status, body) = call(&stack, BOB, reqwest::Method::POST, power, cycle.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&stack, ADA, reqwest::Method::POST, power, cycle).await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)), "{body}");

    // Bob watches read-only: the banner, and his typing goes nowhere.
    let mut watching = console(&stack, BOB, "bench-1").await;
    let (texts, bytes) = read_until(&mut watching, |_, b| b.contains("FW BANNER")).await;
    assert_eq!(texts[0]["mode"], "read-only", "{texts:?}");
    watching
        .send(Message::binary(b"ping\r".to_vec()))
        .await
        .unwrap();
    let (texts, _) = read_until(&mut watching, |t, _| {
        t.iter().any(|t| t["type"] == "notice")
    })
    .await;
    assert!(
        texts[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("read-only"),
        "{texts:?}"
    );
    assert!(!bytes.contains("pong"));
    // Ada types: the board answers, and Bob sees the answer too.
    let mut typing = console(&stack, ADA, "bench-1").await;
    let (texts, _) = read_until(&mut typing, |_, b| b.contains("FW BANNER")).await;
    assert_eq!(texts[0]["mode"], "read-write", "{texts:?}");
    typing
        .send(Message::binary(b"ping\r".to_vec()))
        .await
        .unwrap();
    read_until(&mut typing, |_, b| b.contains("pong")).await;
    read_until(&mut watching, |_, b| b.contains("pong")).await;

    let (status, body) = call(&stack, BOB, reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&stack, ADA, reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, 200, "{body}");
    wait_b1(&stack, |b| {
        b["state"] == "idle" && b["reserved_by"].is_null()
    })
    .await;
    let (status, body) = call(&stack, ADA, reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, 409, "not reserved any more: {body}");

    let history = "/api/boards/bench-1/b1/history";
    let (status, history) = call(&stack, BOB, reqwest::Method::GET, history, None).await;
    assert_eq!(status, 200, "{history}");
    let said: Vec<(&str, &str)> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said,
        [("released", "ada"), ("power", "ada"), ("reserved", "ada")]
    );
    assert_views_rebuild(&mut stack).await;
}

/// A projector stopped cleanly stores a snapshot; leases after it are
/// replayed on top of it. Both rebuilds give the live boards view.
async fn assert_views_rebuild(stack: &mut TestStack) {
    stack.terminate_projector();
    stack.start_projector();
    let client = stack.nats_client().await;
    let log = EventLog::new(
        client.clone(),
        async_nats::jetstream::new(client),
        ArenaNames::new(&stack.prefix),
    );
    let b1 = BoardName::parse("b1").unwrap();
    let queue = QueueId::parse("q-on-b1").unwrap();
    let leased = BoardEventBody::Leased {
        queue: queue.clone(),
        shard: None,
    };
    let released = BoardEventBody::Released { queue: Some(queue) };
    for body in [leased, released] {
        let event = BoardEvent::new("bench-1", b1.clone(), "scheduler", body);
        log.publish_board_event(&event, None).await.unwrap();
    }
    let deadline = Instant::now() + T;
    let (_, history) = loop {
        let answer = call(
            stack,
            ADA,
            reqwest::Method::GET,
            "/api/boards/bench-1/b1/history",
            None,
        )
        .await;
        if answer.1["runs"][0]["released"].is_string() {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "the run never closed: {}",
            answer.1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(history["runs"][0]["queue"], "q-on-b1");
    stack.stop_gateway_side();
    let tables = [
        "select * from boards order by worker, board",
        "select * from board_changes order by seq",
        "select * from board_runs order by seq",
    ];
    let live = rows(&stack.data_dir(), &tables);
    let from_snapshot = stack.rebuild_into("from-snapshot");
    assert!(stack
        .service_log("rebuild-from-snapshot")
        .contains("rebuilding from a snapshot"));
    let from_start = stack.rebuild_into_with("from-start", &["--from-start"]);
    assert_eq!(live.len(), 1 + 5 + 1, "{live:?}");
    assert_eq!(rows(&from_snapshot, &tables), live, "from a snapshot");
    assert_eq!(rows(&from_start, &tables), live, "from the start");
}

/// `testarena <args>` against the stack as `token`: (exit code, stdout,
/// stderr). Async: the fake bench answers on this test's runtime meanwhile.
async fn cli(stack: &TestStack, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(crate::stack::BIN)
        .args(args)
        .env("TESTARENA_SERVER", &stack.base)
        .env("TESTARENA_TOKEN", token)
        .output()
        .await
        .expect("the CLI runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[tokio::test]
async fn the_cli_reserves_lists_powers_and_releases_a_board() {
    let stack = stack().await;
    let _bench = fake_bench(&stack).await;
    wait_b1(&stack, |b| b["state"] == "idle").await;
    let reserve = [
        "reserve",
        "bench-1/b1",
        "--minutes",
        "5",
        "--reason",
        "bring-up",
    ];
    let (code, out, err) = cli(&stack, ADA, &reserve).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("reserved bench-1/b1 for ada until "),
        "{out}"
    );
    assert!(out.trim_end().ends_with("it is yours now"), "{out}");
    let (code, out, err) = cli(&stack, BOB, &["boards"]).await;
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("bench-1/b1"))
        .unwrap_or_default();
    assert!(
        row.contains("reserved") && row.contains("ada") && row.contains("bring-up"),
        "{out}"
    );
    let (code, _, err) = cli(&stack, BOB, &["power", "bench-1/b1", "cycle"]).await;
    assert_eq!(code, 2, "refused: {err}");
    assert!(
        err.contains("403") && err.contains("reserved by ada"),
        "{err}"
    );
    let (code, out, err) = cli(&stack, ADA, &["power", "bench-1/b1", "cycle"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cycled b1"), "{out}");
    let (code, _, err) = cli(&stack, ADA, &["power", "bench-1", "cycle"]).await;
    assert_eq!(code, 2, "not a board ref: {err}");
    let (code, out, err) = cli(&stack, ADA, &["release", "bench-1/b1"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("released bench-1/b1"), "{out}");
}
