//! The integrations' routes in the fast tier: hook signatures (right,
//! wrong, missing, per service), hooks that start nothing, a repository
//! run's refused requests, and the merged JUnit report. Nothing here
//! reaches git or NATS: each case is decided before either.

use std::path::Path;

use serde_json::{json, Value};
use testarena_integrations::GatewayFile;

use super::{json, view, TestGateway};
use crate::hooks::signature::sign;
use crate::hooks::HookService;

const REPO: &str = "https://github.com/Codertocat/Hello-World.git";

/// `[[repos]]` for the fixtures' repositories, each with its own secret;
/// GitHub's only runs `main` (its push fixture pushes `master`).
fn gateway_file() -> GatewayFile {
    let text = format!(
        r#"
[[repos]]
url = "{REPO}"
webhook_secret_file = "github"
refs = ["main"]

[[repos]]
url = "http://example.com/mike/diaspora.git"
webhook_secret_file = "gitlab"

[[repos]]
url = "http://localhost:3000/gitea/webhooks.git"
webhook_secret_file = "gitea"
"#
    );
    GatewayFile::parse(&text, Path::new("/etc/gateway.toml"), |file| {
        Ok(format!("secret of {}", file.display()))
    })
    .unwrap()
}

fn secret(service: HookService) -> String {
    format!("secret of /etc/{}", service.name())
}

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/hooks/", $name)).to_vec()
    };
}

async fn deliver(
    gateway: &TestGateway,
    service: HookService,
    event: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> (u16, Value) {
    let client = gateway.client();
    let mut request = client
        .post(format!("/api/hooks/{}", service.name()))
        .header("content-type", "application/json")
        .header(service.event_header(), event)
        .header(
            service.delivery_header(),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        );
    if let Some(signature) = signature {
        request = request.header(crate::hooks::signature::header(service), signature);
    }
    json(request.body(body).send().await).await
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_401_for_every_service() {
    let gateway = TestGateway::start_with(gateway_file()).await;
    let cases = [
        (HookService::Github, "push", fixture!("github_push.json")),
        (
            HookService::Gitlab,
            "Push Hook",
            fixture!("gitlab_push.json"),
        ),
        (HookService::Gitea, "push", fixture!("gitea_push.json")),
    ];
    for (service, event, body) in cases {
        let (status, answer) = deliver(&gateway, service, event, body.clone(), None).await;
        assert_eq!(status, 401, "{service:?}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("missing"),
            "{answer}"
        );
        let wrong = sign(service, &body, "not the secret");
        let (status, answer) = deliver(&gateway, service, event, body.clone(), Some(wrong)).await;
        assert_eq!(status, 401, "{service:?}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("does not match"),
            "{answer}"
        );
        // Signed for another body: the signature covers the bytes that came.
        let other = sign(service, b"{}", &secret(service));
        if service != HookService::Gitlab {
            let (status, _) = deliver(&gateway, service, event, body, Some(other)).await;
            assert_eq!(status, 401, "{service:?}");
        }
    }
}

#[tokio::test]
async fn without_configured_repositories_every_hook_is_401() {
    let gateway = TestGateway::start().await;
    let body = fixture!("github_ping.json");
    let signature = sign(HookService::Github, &body, "anything");
    let (status, answer) =
        deliver(&gateway, HookService::Github, "ping", body, Some(signature)).await;
    assert_eq!(status, 401);
    assert!(
        answer["message"].as_str().unwrap().contains("--config"),
        "{answer}"
    );
}

#[tokio::test]
async fn signed_hooks_that_start_nothing_answer_200_and_say_why() {
    let gateway = TestGateway::start_with(gateway_file()).await;
    let github = |body: &[u8]| {
        Some(sign(
            HookService::Github,
            body,
            &secret(HookService::Github),
        ))
    };
    let ping = fixture!("github_ping.json");
    let (status, answer) = deliver(
        &gateway,
        HookService::Github,
        "ping",
        ping.clone(),
        github(&ping),
    )
    .await;
    assert_eq!(
        (status, answer["ignored"].as_str().unwrap().contains("ping")),
        (200, true),
        "{answer}"
    );
    // `refs = ["main"]`: the fixture pushes master.
    let push = fixture!("github_push.json");
    let (status, answer) = deliver(
        &gateway,
        HookService::Github,
        "push",
        push.clone(),
        github(&push),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["ignored"]
            .as_str()
            .unwrap()
            .contains("refs/heads/master"),
        "{answer}"
    );
    let closed = fixture!("github_pull_request_closed.json");
    let (status, answer) = deliver(
        &gateway,
        HookService::Github,
        "pull_request",
        closed.clone(),
        github(&closed),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["ignored"].as_str().unwrap().contains("closed"),
        "{answer}"
    );
    let mut deleted: Value = serde_json::from_slice(&fixture!("gitea_push.json")).unwrap();
    deleted["after"] = json!("0000000000000000000000000000000000000000");
    let deleted = serde_json::to_vec(&deleted).unwrap();
    let signature = sign(HookService::Gitea, &deleted, &secret(HookService::Gitea));
    let (status, answer) = deliver(
        &gateway,
        HookService::Gitea,
        "push",
        deleted,
        Some(signature),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["ignored"].as_str().unwrap().contains("deleted"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_hook_for_another_repository_or_not_json_is_refused() {
    let gateway = TestGateway::start_with(gateway_file()).await;
    // Signed with the GitLab repository's token, naming another project.
    let mut body: Value = serde_json::from_slice(&fixture!("gitlab_push.json")).unwrap();
    body["project"]["git_http_url"] = json!("http://example.com/other/repo.git");
    let body = serde_json::to_vec(&body).unwrap();
    let token = Some(secret(HookService::Gitlab));
    let (status, answer) = deliver(
        &gateway,
        HookService::Gitlab,
        "Push Hook",
        body,
        token.clone(),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("other/repo"),
        "{answer}"
    );
    let (status, _) = deliver(
        &gateway,
        HookService::Gitlab,
        "Push Hook",
        b"{not json".to_vec(),
        token,
    )
    .await;
    assert_eq!(status, 400);
    let client = gateway.client();
    let response = client
        .post("/api/hooks/github")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await;
    response.assert_status(poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_repository_run_names_the_bad_field() {
    let gateway = TestGateway::start().await;
    let client = gateway.client();
    let cases = [
        (json!({"repo": "-x", "ref": "main"}), 422, "repo"),
        (json!({"repo": "/srv/fw", "ref": "a..b"}), 422, "ref"),
        (json!({"repo": "/srv/fw"}), 400, "ref"),
        (
            json!({"repo": "/srv/fw", "ref": "main", "wait": true}),
            400,
            "wait",
        ),
    ];
    for (body, expected, field) in cases {
        let (status, answer) =
            json(client.post("/api/repos/run").body_json(&body).send().await).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn the_junit_report_is_xml_and_an_unknown_queue_is_404() {
    let gateway = TestGateway::start().await;
    let mut queue = view("fw-1");
    queue.tasks = serde_json::from_value(json!([{
        "id": "uart", "scenario": "scenarios/uart.scn", "status": "Finished",
        "result": "FAIL", "message": "<boom>",
    }]))
    .unwrap();
    gateway.store_view(&queue, 1).await;
    let client = gateway.client();
    let response = client.get("/api/queue/fw-1/junit.xml").send().await;
    response.assert_status_is_ok();
    response.assert_content_type("application/xml");
    let text = response.0.into_body().into_string().await.unwrap();
    assert!(
        text.contains(r#"<failure message="&lt;boom&gt;">&lt;boom&gt;</failure>"#),
        "{text}"
    );
    let (status, _) = json(client.get("/api/queue/nope/junit.xml").send().await).await;
    assert_eq!(status, 404);
}
