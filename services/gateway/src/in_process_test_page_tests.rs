//! A test's page and the test list's pages in the fast tier: failures
//! grouped by their first line, the quarantine history with who asked, and
//! `limit` / `cursor` walking the list to its end.

use super::{json, TestGateway};

#[tokio::test]
async fn a_tests_history_groups_its_failures_and_lists_its_quarantines_with_who() {
    let gateway = TestGateway::start().await;
    gateway
        .store_runs("uart", "", &["FAIL", "PASS", "FAIL", "TIMEOUT"])
        .await;
    for (seq, message) in [
        (1, "expected 64 bytes\nat uart.c:12"),
        (3, "expected 64 bytes"),
    ] {
        sqlx::query("UPDATE test_runs SET message = ? WHERE seq = ?")
            .bind(message)
            .bind(seq)
            .execute(&gateway.db)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO test_quarantine_events (test_id, seq, quarantined, reason, by_whom, actor, at)
         SELECT id, 10, 1, 'FW-1312', 'user', 'team-fw', '2026-11-30T00:00:00Z' FROM tests
         UNION ALL
         SELECT id, 11, 0, NULL, NULL, 'ci', '2026-12-01T00:00:00Z' FROM tests",
    )
    .execute(&gateway.db)
    .await
    .unwrap();
    let client = gateway.client();
    let url = "/api/tests/history?repo=/fw&task=uart";
    let (status, body) = json(client.get(url).send().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["failures"][0]["first_line"], "expected 64 bytes");
    assert_eq!(body["failures"][0]["count"], 2);
    assert_eq!(body["failures"][0]["last_queue_id"], "q2");
    assert!(body["failures"][1]["first_line"].is_null(), "{body}");
    assert_eq!(body["failures"].as_array().unwrap().len(), 2);
    assert_eq!(body["runs"][1]["message"], "expected 64 bytes");
    let quarantines = body["quarantines"].as_array().unwrap();
    assert_eq!(quarantines.len(), 2);
    assert_eq!(quarantines[0]["quarantined"], false, "newest first");
    assert_eq!(quarantines[0]["actor"], "ci");
    assert_eq!(quarantines[1]["actor"], "team-fw");
    assert_eq!(quarantines[1]["reason"], "FW-1312");
    assert_eq!(quarantines[1]["by"], "user");
}

#[tokio::test]
async fn the_test_list_comes_in_pages_that_a_cursor_walks_to_the_end() {
    let gateway = TestGateway::start().await;
    for task in ["a", "b", "c", "d", "e"] {
        gateway.store_runs(task, "", &["PASS"]).await;
    }
    let client = gateway.client();
    let mut seen = Vec::new();
    let mut url = "/api/tests?limit=2".to_owned();
    loop {
        let (status, body) = json(client.get(&url).send().await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 5);
        for test in body["tests"].as_array().unwrap() {
            seen.push(test["task"].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => url = format!("/api/tests?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let (_, body) = json(client.get("/api/tests").send().await).await;
    assert_eq!(body["tests"].as_array().unwrap().len(), 5);
    assert!(body.get("next_cursor").is_none(), "{body}");
    for bad in ["limit=0", "limit=10001", "cursor=not%20base64"] {
        let (status, body) = json(client.get(format!("/api/tests?{bad}")).send().await).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = json(client.get("/api/tests?cursor=bm9wZQ").send().await).await;
    assert_eq!(status, 404, "a cursor this API did not give: {body}");
}
