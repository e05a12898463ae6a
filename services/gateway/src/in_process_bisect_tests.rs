//! The bisect routes in the fast tier: validation, reads, 404 and 409,
//! on bisect rows stored as the projector would.

use serde_json::{json, Value};
use testarena_events::{BisectSourceView, BisectView};

use super::{json, TestGateway};

fn bisect(id: &str, status: &str) -> BisectView {
    BisectView {
        id: id.into(),
        status: status.into(),
        source: BisectSourceView { repo: "/fw".into() },
        good: None,
        bad: "main".into(),
        good_ref: None,
        bad_ref: "main".into(),
        profile: None,
        requires: Vec::new(),
        tasks: Vec::new(),
        case: None,
        runs_per_step: 1,
        owner: "anonymous".into(),
        first_bad: None,
        commits: Vec::new(),
        steps: Vec::new(),
        reason: None,
        cancel_requested: false,
        created_at: "2025-03-14T09:30:00Z".into(),
        ended_at: None,
    }
}

impl TestGateway {
    async fn store_bisect(&self, view: &BisectView, seq: i64) {
        sqlx::query("INSERT INTO bisects VALUES (?, ?, ?, ?, ?)")
            .bind(&view.id)
            .bind(seq)
            .bind(&view.status)
            .bind(seq)
            .bind(serde_json::to_string(view).unwrap())
            .execute(&self.db)
            .await
            .unwrap();
    }
}

fn request() -> Value {
    json!({
        "source": {"repo": "/fw"},
        "good": "v1",
        "bad": "main",
        "tasks": [{"id": "t", "scenario": "t.sh"}],
    })
}

#[tokio::test]
async fn a_bad_bisect_request_is_a_422_naming_the_field() {
    let gateway = TestGateway::start().await;
    let client = gateway.client();
    let cases: [(&str, Value, &str); 5] = [
        ("runs_per_step", json!(11), "runs_per_step:"),
        ("runs_per_step", json!(0), "runs_per_step:"),
        ("tasks", json!([]), "tasks:"),
        ("bad", json!("a..b"), "bad:"),
        ("good", json!("-x"), "good:"),
    ];
    for (field, value, prefix) in cases {
        let mut body = request();
        body[field] = value;
        let (status, answer) = json(client.post("/api/bisect").body_json(&body).send().await).await;
        assert_eq!(status, 422, "{field}: {answer}");
        assert_eq!(answer["error"], "invalid_field");
        assert!(
            answer["message"].as_str().unwrap().starts_with(prefix),
            "{answer}"
        );
    }
    let mut body = request();
    body["extra"] = json!(1);
    let (status, _) = json(client.post("/api/bisect").body_json(&body).send().await).await;
    assert_eq!(status, 400, "unknown fields are refused");
}

#[tokio::test]
async fn bisects_are_read_listed_newest_first_and_an_unknown_one_is_404() {
    let gateway = TestGateway::start().await;
    gateway.store_bisect(&bisect("b-old", "Found"), 1).await;
    gateway.store_bisect(&bisect("b-new", "Running"), 2).await;
    let client = gateway.client();
    let (status, body) = json(client.get("/api/bisect/b-old").send().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Found");
    assert_eq!(body.get("first_bad"), Some(&Value::Null));
    let (_, body) = json(client.get("/api/bisects").send().await).await;
    assert_eq!(body["bisects"][0]["id"], "b-new");
    assert_eq!(body["bisects"][1]["id"], "b-old");
    for path in ["/api/bisect/nope", "/api/bisect/a.b"] {
        let (status, body) = json(client.get(path).send().await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, _) = json(client.get("/api/bisects?status=Found").send().await).await;
    assert_eq!(status, 400, "the list takes no parameters");
}

#[tokio::test]
async fn cancelling_an_ended_bisect_is_a_409_and_an_unknown_one_404() {
    let gateway = TestGateway::start().await;
    gateway
        .store_bisect(&bisect("b-done", "Inconclusive"), 1)
        .await;
    let client = gateway.client();
    let (status, body) = json(client.post("/api/bisect/b-done/cancel").send().await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let (status, _) = json(client.post("/api/bisect/nope/cancel").send().await).await;
    assert_eq!(status, 404);
    let (status, _) = json(client.delete("/api/bisect/nope").send().await).await;
    assert_eq!(status, 404);
}
