//! The queue list's pages by cursor in the fast tier: each answer's
//! `next_cursor` leads to the next page to the end, `page` still works, and
//! a cursor the API did not give is a 404.

use serde_json::Value;

use super::{json, TestGateway};

fn ids(body: &Value) -> Vec<String> {
    body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn next_cursors_lead_through_the_list_to_its_end() {
    let gateway = TestGateway::start().await;
    for (n, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        gateway.store(id, n as i64 + 1).await;
    }
    let client = gateway.client();
    let (status, first) = json(client.get("/api/queues?per_page=2").send().await).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), ["e", "d"]);
    assert_eq!(
        (&first["total"], &first["total_capped"], &first["page"]),
        (&Value::from(5), &Value::from(false), &Value::from(1))
    );
    let mut seen = ids(&first);
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let path = format!("/api/queues?per_page=2&cursor={cursor}");
        let (status, body) = json(client.get(path).send().await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["page"], Value::Null, "a page by cursor has no number");
        assert_eq!(
            body["total"], 5,
            "the total is the filter's, whatever the page"
        );
        seen.extend(ids(&body));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["e", "d", "c", "b", "a"]);
    // A cursor keeps its place when newer queues arrive.
    gateway.store("f", 6).await;
    let path = format!(
        "/api/queues?per_page=2&cursor={}",
        first["next_cursor"].as_str().unwrap()
    );
    let (_, body) = json(client.get(path).send().await).await;
    assert_eq!(ids(&body), ["c", "b"]);
    // The old way still pages.
    let (_, body) = json(client.get("/api/queues?per_page=2&page=3").send().await).await;
    assert_eq!(ids(&body), ["b", "a"]);
}

#[tokio::test]
async fn a_cursor_the_api_did_not_give_is_a_404_and_one_beside_a_page_wins() {
    let gateway = TestGateway::start().await;
    for (n, id) in ["a", "b", "c"].iter().enumerate() {
        gateway.store(id, n as i64 + 1).await;
    }
    let client = gateway.client();
    let (_, body) = json(client.get("/api/queues?per_page=3").send().await).await;
    assert_eq!(body["next_cursor"], Value::Null, "one page, no next");
    let (_, first) = json(client.get("/api/queues?per_page=1").send().await).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let path = format!("/api/queues?per_page=1&page=3&cursor={cursor}");
    let (status, body) = json(client.get(path).send().await).await;
    assert_eq!((status, ids(&body)), (200, vec!["b".to_owned()]), "{body}");
    for (query, status, says) in [
        ("cursor=bm90LWEtY3Vyc29y", 404, "no page at this cursor"),
        ("cursor=0", 404, "no page at this cursor"),
        ("cursor=a%20b", 400, "cursor"),
    ] {
        let (got, body) = json(client.get(format!("/api/queues?{query}")).send().await).await;
        assert_eq!(got, status, "{query}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
}
