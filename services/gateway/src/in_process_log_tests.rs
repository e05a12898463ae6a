//! The log by line number in the fast tier: a range of lines and a search
//! over the whole stored log, their numbers, and the 400s for bad input.

use super::{json, TestGateway};

/// A queue whose stored log has `lines` numbered task lines after a build line.
async fn queue_with_log(gateway: &TestGateway, id: &str, lines: usize) {
    gateway.store(id, 1).await;
    let folder = gateway.state.data_dir.join(id);
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = String::from("[s1 build!] \u{1b}[31mwarning\u{1b}[0m: unused\n");
    for n in 1..=lines {
        text.push_str(&format!("[task:t] line {n:05} says hello\n"));
    }
    std::fs::write(folder.join(testarena_events::QUEUE_LOG_FILE), text).unwrap();
}

#[tokio::test]
async fn a_range_of_lines_comes_with_numbers_sources_and_the_total() {
    let gateway = TestGateway::start().await;
    queue_with_log(&gateway, "fw-1", 20_000).await;
    let client = gateway.client();
    let (status, body) = json(
        client
            .get("/api/queue/fw-1/log/lines?from_line=1&limit=2")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_lines"], 20_001);
    let first = &body["lines"][0];
    assert_eq!(first["line"], 1);
    assert_eq!(first["source"], "build");
    assert_eq!(first["stream"], "stderr");
    assert_eq!(first["shard"], 1);
    assert_eq!(first["text"], "\u{1b}[31mwarning\u{1b}[0m: unused");
    assert_eq!(body["lines"][1]["text"], "line 00001 says hello");
    let (_, body) = json(
        client
            .get("/api/queue/fw-1/log/lines?from_line=20001&limit=5")
            .send()
            .await,
    )
    .await;
    assert_eq!(body["lines"].as_array().unwrap().len(), 1);
    assert_eq!(body["lines"][0]["text"], "line 20000 says hello");
    assert!(body["lines"][0].get("shard").is_none(), "{body}");
    for bad in ["from_line=0", "limit=0", "limit=10001", "from_line=x"] {
        let url = format!("/api/queue/fw-1/log/lines?{bad}");
        let (status, body) = json(client.get(url).send().await).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = json(client.get("/api/queue/nope/log/lines").send().await).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_search_covers_the_whole_log_and_a_bad_regex_is_a_400_naming_it() {
    let gateway = TestGateway::start().await;
    queue_with_log(&gateway, "fw-1", 20_000).await;
    let client = gateway.client();
    let (status, body) = json(
        client
            .get("/api/queue/fw-1/log/search?q=LINE%2000001%20SAYS")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matches"], 1);
    assert_eq!(body["total_lines"], 20_001);
    assert_eq!(body["hits"][0]["line"], 2);
    assert_eq!(body["hits"][0]["source"], "task:t");
    let (_, body) = json(
        client
            .get("/api/queue/fw-1/log/search?q=warning:&limit=5")
            .send()
            .await,
    )
    .await;
    assert_eq!(
        body["hits"][0]["line"], 1,
        "colour escapes are not searched"
    );
    let (_, body) = json(
        client
            .get("/api/queue/fw-1/log/search?q=%5Eline%201999%5Cd&regex=true&limit=3")
            .send()
            .await,
    )
    .await;
    assert_eq!(body["matches"], 10);
    assert_eq!(body["hits"].as_array().unwrap().len(), 3);
    assert_eq!(body["hits"][0]["line"], 19_991);
    let (status, body) = json(
        client
            .get("/api/queue/fw-1/log/search?q=(open&regex=true")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("q: not a valid regular expression"),
        "{message}"
    );
    for bad in ["q=", "limit=1", "q=a&limit=0", "q=a&regex=maybe", "q=a%0Ab"] {
        let url = format!("/api/queue/fw-1/log/search?{bad}");
        let (status, body) = json(client.get(url).send().await).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn an_expired_queue_keeps_its_view_while_its_log_and_artifacts_answer_410() {
    let gateway = TestGateway::start().await;
    let mut expired = super::view("old");
    expired.status = testarena_events::QueueStatus::Finished;
    expired.log_expired_at = Some("2026-03-01T00:00:00Z".into());
    gateway.store_view(&expired, 1).await;
    let client = gateway.client();
    let (status, body) = json(client.get("/api/queue/old").send().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["log_expired_at"], "2026-03-01T00:00:00Z");
    for path in [
        "/api/queue/old/log",
        "/api/queue/old/log/lines",
        "/api/queue/old/log/search?q=x",
        "/api/queue/old/log/stream",
        "/api/queue/old/artifacts",
        "/api/queue/old/artifacts/fw.elf",
    ] {
        let (status, body) = json(client.get(path).send().await).await;
        assert_eq!(status, 410, "{path}: {body}");
        assert_eq!(body["error"], "expired", "{path}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("\"old\"") && message.contains("2026-03-01T00:00:00Z"),
            "{message}"
        );
    }
    // A retained queue's log is there as before.
    queue_with_log(&gateway, "kept", 3).await;
    let (status, _) = json(client.get("/api/queue/kept/log/lines").send().await).await;
    assert_eq!(status, 200);
}
