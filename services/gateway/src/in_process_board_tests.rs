//! The boards routes in the fast tier: the list merges the registry's
//! records with the boards view, the history is newest first and an
//! unknown board is a 404, and reserve, release and power check their
//! fields and who holds the board before anything is published (NATS is
//! not there: a check that passed would answer 503).

use serde_json::{json, Value};
use testarena_events::{now_millis, WorkerRecord};

use super::{json, TestGateway};
use crate::ApiAuth;

/// A live worker `w1` (label `lab=a`) with boards `b1` (`board=nucleo`)
/// and `b2` (quarantined).
fn worker() -> WorkerRecord {
    serde_json::from_value(json!({
        "id": "w1", "host": "h", "version": "0", "profiles": ["fw"],
        "labels": ["lab=a"], "slots": 1, "busy": 0, "state": {},
        "last_seen_ms": now_millis(), "heartbeat_ms": 60_000,
        "boards": [
            {"name": "b1", "labels": ["board=nucleo"]},
            {"name": "b2", "admission": "quarantined", "reason": "3 boots failed",
             "health": {"at": "2026-12-07T15:00:00Z", "ok": false, "message": "exit 1"}}
        ],
        "board_profiles": ["fw"]
    }))
    .unwrap()
}

impl TestGateway {
    /// `b1` leased to `q7` and reserved by `ada` for an hour, with a run
    /// and two changes in its history.
    async fn store_board(&self) {
        let until = now_millis() + 3_600_000;
        sqlx::query(
            "INSERT INTO boards (worker, board, queue, reserved_by, reserved_until, until_ms,
                                 reservation_reason, admission, seq)
             VALUES ('w1', 'b1', 'q7', 'ada', '2099-01-01T00:00:00Z', ?, 'UART', 'ready', 2)",
        )
        .bind(until as i64)
        .execute(&self.db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO board_changes (seq, worker, board, kind, at, by_whom, queue, detail) VALUES
               (1, 'w1', 'b1', 'leased', '2026-12-07T15:00:00Z', 'scheduler', 'q7', NULL),
               (2, 'w1', 'b1', 'reserved', '2026-12-07T15:01:00Z', 'ada', NULL, 'until x: UART')",
        )
        .execute(&self.db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO board_runs (seq, worker, board, queue, leased)
             VALUES (1, 'w1', 'b1', 'q7', '2026-12-07T15:00:00Z')",
        )
        .execute(&self.db)
        .await
        .unwrap();
    }

    fn client_with_tokens(&self) -> poem::test::TestClient<impl poem::Endpoint> {
        let auth = ApiAuth::new(
            vec!["ada:ada-secret".into(), "bob:bob-secret".into()],
            false,
        );
        poem::test::TestClient::new(crate::app(self.state.clone(), auth, "", "/repo"))
    }
}

#[tokio::test]
async fn the_list_merges_the_record_with_the_view_and_orders_the_states() {
    let gateway = TestGateway::start().await;
    gateway.state.registry.insert(worker());
    gateway.store_board().await;
    let (status, body) = json(gateway.client().get("/api/boards").send().await).await;
    assert_eq!(status, 200, "{body}");
    let boards = body["boards"].as_array().unwrap();
    assert_eq!(boards.len(), 2, "{body}");
    let b1 = &boards[0];
    assert_eq!(b1["name"], "b1");
    assert_eq!(b1["labels"], json!(["board=nucleo", "lab=a"]));
    assert_eq!(b1["state"], "reserved");
    assert_eq!(b1["queue"], "q7");
    assert_eq!(b1["reserved_by"], "ada");
    assert_eq!(b1["reservation_reason"], "UART");
    let b2 = &boards[1];
    assert_eq!(b2["state"], "quarantined");
    assert_eq!(b2["reason"], "3 boots failed");
    assert_eq!(b2["health"]["ok"], false);
    assert_eq!(b2.get("reserved_by"), Some(&Value::Null));
}

#[tokio::test]
async fn a_boards_history_is_newest_first_and_an_unknown_board_is_404() {
    let gateway = TestGateway::start().await;
    gateway.state.registry.insert(worker());
    gateway.store_board().await;
    let client = gateway.client();
    let (status, body) = json(client.get("/api/boards/w1/b1/history").send().await).await;
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<_> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reserved", "leased"]);
    assert_eq!(body["changes"][0]["by"], "ada");
    assert_eq!(body["runs"][0]["queue"], "q7");
    assert_eq!(body["runs"][0]["released"], Value::Null);
    let (status, body) = json(client.get("/api/boards/w1/b2/history").send().await).await;
    assert_eq!(
        (status, body["changes"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (status, body) = json(client.get("/api/boards/w1/nope/history").send().await).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("w1/nope"),
        "{body}"
    );
}

#[tokio::test]
async fn a_reservation_names_the_bad_field_and_an_unknown_board_is_404() {
    let gateway = TestGateway::start().await;
    gateway.state.registry.insert(worker());
    let client = gateway.client();
    let reserve = |body: Value| {
        client
            .post("/api/boards/w1/b1/reserve")
            .content_type("application/json")
            .body(body.to_string())
            .send()
    };
    let (status, body) = json(reserve(json!({"minutes": 0, "reason": "x"})).await).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("minutes:"),
        "{body}"
    );
    let (status, body) = json(reserve(json!({"minutes": 1441, "reason": "x"})).await).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = json(reserve(json!({"minutes": 30, "reason": " "})).await).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("reason:"),
        "{body}"
    );
    let (status, body) = json(reserve(json!({"minutes": 30})).await).await;
    assert_eq!(status, 400, "{body}");
    let extra = json!({"minutes": 30, "reason": "x", "colour": "red"});
    let (status, body) = json(reserve(extra).await).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = json(
        client
            .post("/api/boards/w1/b9/reserve")
            .content_type("application/json")
            .body(json!({"minutes": 30, "reason": "x"}).to_string())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn only_the_holder_may_reserve_release_or_power_a_reserved_board() {
    let gateway = TestGateway::start().await;
    gateway.state.registry.insert(worker());
    gateway.store_board().await;
    let client = gateway.client_with_tokens();
    let as_bob = |method: poem::http::Method, path: &str, body: Value| {
        client
            .request(method, path)
            .header("authorization", "Bearer bob-secret")
            .content_type("application/json")
            .body(body.to_string())
            .send()
    };
    let reserve = json!({"minutes": 30, "reason": "mine"});
    let (status, body) = json(
        as_bob(
            poem::http::Method::POST,
            "/api/boards/w1/b1/reserve",
            reserve,
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("reserved by ada until"),
        "{body}"
    );
    let (status, body) = json(
        as_bob(
            poem::http::Method::DELETE,
            "/api/boards/w1/b1/reserve",
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let cycle = json!({"action": "cycle"});
    let (status, body) = json(
        as_bob(
            poem::http::Method::POST,
            "/api/boards/w1/b1/power",
            cycle.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("reserved by ada"),
        "{body}"
    );
    // Not reserved at all: 409 for a release and a power action.
    let (status, body) = json(
        as_bob(
            poem::http::Method::DELETE,
            "/api/boards/w1/b2/reserve",
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) =
        json(as_bob(poem::http::Method::POST, "/api/boards/w1/b2/power", cycle).await).await;
    assert_eq!(status, 409, "{body}");
    let sideways = json!({"action": "sideways"});
    let (status, body) = json(
        as_bob(
            poem::http::Method::POST,
            "/api/boards/w1/b1/power",
            sideways,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_console_of_an_unknown_board_is_404_and_a_plain_get_400() {
    let gateway = TestGateway::start().await;
    gateway.state.registry.insert(worker());
    let client = gateway.client();
    let upgrade = |path: &'static str| {
        client
            .get(path)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    let (status, body) = json(upgrade("/api/boards/w1/b9/console").await).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = json(client.get("/api/boards/w1/b1/console").send().await).await;
    assert_eq!(status, 400, "not a WebSocket: {body}");
}
