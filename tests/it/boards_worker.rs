//! Boards with a real worker: its `[boards.b1]` is a fake board, a TCP
//! server in this test standing for the serial line, powered by the
//! worker's `power_on`/`power_off` commands (a flag file). Its firmware
//! prints a banner when powered on and answers `ping` with `pong`. The
//! console WebSocket sees the banner after the reserver's power cycle and
//! gets the answer to a command typed through it; the reservation keeps a
//! queue of the board's profile waiting until it expires. The same with
//! QEMU as the board is `board_sim.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::boards_api::{call, console, read_until, views_ready, ADA, BOB};
use crate::stack::{GitRepo, StackOptions, TestStack};

/// The fake board's firmware: powered (the flag file exists) it prints
/// its banner once per power-on, and answers `ping` with `pong`.
async fn fake_board(listener: TcpListener, flag: PathBuf) {
    loop {
        let Ok((serial, _)) = listener.accept().await else {
            return;
        };
        run_firmware(serial, &flag).await;
    }
}

async fn run_firmware(mut serial: TcpStream, flag: &Path) {
    let mut was_on = flag.exists();
    let (mut buffer, mut line) = ([0u8; 256], Vec::new());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                let on = flag.exists();
                if on && !was_on && serial.write_all(b"FW BANNER v1\r\n> ").await.is_err() {
                    return;
                }
                was_on = on;
            }
            read = serial.read(&mut buffer) => {
                let Ok(n @ 1..) = read else { return };
                for &byte in &buffer[..n] {
                    if byte != b'\r' && byte != b'\n' {
                        line.push(byte);
                        continue;
                    }
                    if line == b"ping" && flag.exists() && serial.write_all(b"pong\r\n> ").await.is_err() {
                        return;
                    }
                    line.clear();
                }
            }
        }
    }
}

fn worker_config(port: u16, flag: &Path) -> String {
    format!(
        r#"
default_profile = "sh"
[profiles.sh]
task = "sh {{scenario}}"
[profiles.fw]
board = true
flash = "true"
task = "sh {{scenario}}"
[boards.b1]
labels = ["board=fake"]
serial = {{ tcp = "127.0.0.1:{port}" }}
power_on = "touch {flag}"
power_off = "rm -f {flag}"
"#,
        flag = flag.display()
    )
}

async fn b1(stack: &TestStack) -> Value {
    let (_, page) = call(stack, ADA, reqwest::Method::GET, "/api/boards", None).await;
    page["boards"]
        .as_array()
        .and_then(|b| {
            b.iter()
                .find(|b| b["worker"] == "worker-0" && b["name"] == "b1")
        })
        .cloned()
        .unwrap_or_default()
}

async fn wait_b1(stack: &TestStack, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let board = b1(stack).await;
        if done(&board) {
            return board;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b1 never got there: {board:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_reservers_console_sees_the_banner_after_a_power_cycle_and_the_reservation_holds_queues_until_it_expires(
) {
    let flags = tempfile::tempdir().unwrap();
    let flag = flags.path().join("b1-powered");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let board = tokio::spawn(fake_board(listener, flag.clone()));
    let tokens = format!("ada:{ADA},bob:{BOB}");
    let stack = TestStack::start_with(StackOptions {
        worker_config: worker_config(port, &flag),
        gateway_args: vec!["--api-tokens".into(), tokens],
        ..Default::default()
    })
    .await;
    wait_b1(&stack, Duration::from_secs(20), |b| b["state"] == "idle").await;
    views_ready(&stack).await;

    let path = "/api/boards/worker-0/b1/reserve";
    let reserve = json!({"minutes": 1, "reason": "bring-up"});
    let (status, body) = call(&stack, ADA, reqwest::Method::POST, path, Some(reserve)).await;
    assert_eq!(status, 200, "{body}");
    let mut terminal = console(&stack, ADA, "worker-0").await;
    let (texts, _) = read_until(&mut terminal, |t, _| !t.is_empty()).await;
    assert_eq!(texts[0]["mode"], "read-write", "{texts:?}");
    let power = "/api/boards/worker-0/b1/power";
    let cycle = Some(json!({"action": "cycle"}));
    let (status, body) = call(&stack, ADA, reqwest::Method::POST, power, cycle).await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)), "{body}");
    read_until(&mut terminal, |_, b| b.contains("FW BANNER v1")).await;
    terminal
        .send(Message::binary(b"ping\r".to_vec()))
        .await
        .unwrap();
    read_until(&mut terminal, |_, b| b.contains("pong")).await;
    let _ = terminal.close(None).await;

    // A queue for the board's profile waits while the board is reserved,
    // and runs on it once the reservation (one minute) expired.
    let repo = GitRepo::new(&[("t.sh", "echo on the board")]);
    let mut body = crate::stack::queue("on-b1", &repo.url(), &[("t", "t.sh")]);
    body["profile"] = json!("fw");
    let (status, answer) = call(&stack, ADA, reqwest::Method::POST, "/api/queue", Some(body)).await;
    assert!(matches!(status, 200..=202), "{answer}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, view) = stack.get("/api/queue/on-b1").await;
    assert_eq!(view["status"], "Waiting", "{view:#}");
    assert_eq!(b1(&stack).await["state"], "reserved");
    let view = stack.wait_terminal("on-b1", Duration::from_secs(120)).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    let history = "/api/boards/worker-0/b1/history";
    let (_, history) = call(&stack, BOB, reqwest::Method::GET, history, None).await;
    let kinds: Vec<(&str, &str)> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["by"].as_str().unwrap()))
        .collect();
    let expired = kinds.iter().position(|k| k == &("expired", "scheduler"));
    let leased = kinds.iter().position(|k| k.0 == "leased");
    assert!(
        matches!((leased, expired), (Some(l), Some(e)) if l < e),
        "newest first: the lease after the expiry: {kinds:?}"
    );
    assert!(kinds.contains(&("power", "ada")), "{kinds:?}");
    assert_eq!(history["runs"][0]["queue"], "on-b1");
    board.abort();
}

/// The same console with QEMU as the board (`board_sim.rs`, serial on
/// TCP): after the reserver's power cycle through the API, the console
/// WebSocket shows the example firmware's banner, and a `ping` typed
/// through it gets the firmware's `pong`; another token's console watches.
#[tokio::test]
async fn the_console_websocket_shows_the_sim_boards_banner_after_a_power_cycle_and_its_answer() {
    let root = tempfile::tempdir().unwrap();
    let sim = crate::board_sim::SimBoard::tcp(&root.path().join("b1"));
    let config = format!(
        "default_profile = \"fw\"\n[profiles.fw]\nboard = true\nflash = \"{}\"\ntask = \"true\"\n{}",
        crate::board_sim::SimBoard::flash_command(root.path()),
        sim.worker_toml_table("b1", &["board=mps2-an385"])
    );
    let stack = TestStack::start_with(StackOptions {
        worker_config: config,
        gateway_args: vec!["--api-tokens".into(), format!("ada:{ADA},bob:{BOB}")],
        ..Default::default()
    })
    .await;
    wait_b1(&stack, Duration::from_secs(30), |b| b["state"] == "idle").await;
    // The projector may still be creating its tables: the history says when.
    let history = "/api/boards/worker-0/b1/history";
    stack
        .wait_for_path(history, Duration::from_secs(20), |_| true)
        .await;
    let path = "/api/boards/worker-0/b1/reserve";
    let reserve = json!({"minutes": 10, "reason": "bring-up"});
    let (status, body) = call(&stack, ADA, reqwest::Method::POST, path, Some(reserve)).await;
    assert_eq!(status, 200, "{body}");
    let mut terminal = console(&stack, ADA, "worker-0").await;
    let mut watching = console(&stack, BOB, "worker-0").await;
    let power = "/api/boards/worker-0/b1/power";
    let cycle = Some(json!({"action": "cycle"}));
    let (status, body) = call(&stack, ADA, reqwest::Method::POST, power, cycle).await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)), "{body}");
    let banner = "TestArena qemu-arm demo fw 1.0.0 READY";
    let (texts, _) = read_until(&mut terminal, |_, b| b.contains(banner)).await;
    assert_eq!(texts[0]["mode"], "read-write", "{texts:?}");
    terminal
        .send(Message::binary(b"ping\n".to_vec()))
        .await
        .unwrap();
    read_until(&mut terminal, |_, b| b.contains("pong")).await;
    let (texts, _) = read_until(&mut watching, |_, b| {
        b.contains(banner) && b.contains("pong")
    })
    .await;
    assert_eq!(texts[0]["mode"], "read-only", "{texts:?}");
    assert_eq!(sim.power_log().last().map(String::as_str), Some("on"));
}
