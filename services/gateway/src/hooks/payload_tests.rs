//! The payloads each service documents (tests/fixtures/hooks), read.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/fixtures/hooks/", $name))
    };
}

fn ran(event: Result<HookEvent, PayloadError>) -> HookRun {
    match event.unwrap() {
        HookEvent::Run(run) => run,
        HookEvent::Ignored(why) => panic!("ignored: {why}"),
    }
}

fn ignored(event: Result<HookEvent, PayloadError>) -> String {
    match event.unwrap() {
        HookEvent::Ignored(why) => why,
        HookEvent::Run(run) => panic!("ran {run:?}"),
    }
}

#[test]
fn github_push_and_pull_request_run_at_their_commit() {
    let push = ran(read(
        HookService::Github,
        Some("push"),
        fixture!("github_push.json"),
    ));
    assert_eq!(
        push.clone_url,
        "https://github.com/Codertocat/Hello-World.git"
    );
    assert_eq!(push.filter_ref, "refs/heads/master");
    assert_eq!(push.commit, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    let body = fixture!("github_pull_request_synchronize.json");
    let pr = ran(read(HookService::Github, Some("pull_request"), body));
    assert_eq!(pr.commit, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(pr.filter_ref, "refs/heads/master");
}

#[test]
fn github_ping_a_deleted_ref_and_a_closed_pull_request_start_nothing() {
    assert!(ignored(read(
        HookService::Github,
        Some("ping"),
        fixture!("github_ping.json")
    ))
    .contains("ping"));
    let deleted = ignored(read(
        HookService::Github,
        Some("push"),
        fixture!("github_push_tag_deleted.json"),
    ));
    assert!(deleted.contains("refs/tags/simple-tag"), "{deleted}");
    let closed = fixture!("github_pull_request_closed.json");
    assert!(ignored(read(HookService::Github, Some("pull_request"), closed)).contains("closed"));
    assert!(ignored(read(HookService::Github, Some("issues"), b"{}")).contains("issues"));
    assert!(ignored(read(HookService::Github, None, b"{}")).contains("start nothing"));
}

#[test]
fn gitlab_push_and_merge_request_run_at_their_commit() {
    let push = ran(read(
        HookService::Gitlab,
        Some("Push Hook"),
        fixture!("gitlab_push.json"),
    ));
    assert_eq!(push.clone_url, "http://example.com/mike/diaspora.git");
    assert_eq!(push.commit, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    let body = fixture!("gitlab_merge_request.json");
    let mr = ran(read(HookService::Gitlab, Some("Merge Request Hook"), body));
    assert_eq!(mr.clone_url, "http://example.com/gitlabhq/gitlab-test.git");
    assert_eq!(mr.filter_ref, "refs/heads/master");
    let mut merged: Value = serde_json::from_slice(body).unwrap();
    merged["object_attributes"]["action"] = "merge".into();
    let merged = serde_json::to_vec(&merged).unwrap();
    assert!(ignored(read(
        HookService::Gitlab,
        Some("Merge Request Hook"),
        &merged
    ))
    .contains("merge"));
    let mut deleted: Value = serde_json::from_slice(fixture!("gitlab_push.json")).unwrap();
    deleted["checkout_sha"] = Value::Null;
    deleted["after"] = "0000000000000000000000000000000000000000".into();
    let deleted = serde_json::to_vec(&deleted).unwrap();
    assert!(ignored(read(HookService::Gitlab, Some("Push Hook"), &deleted)).contains("deleted"));
}

#[test]
fn gitea_push_and_pull_request_run_at_their_commit() {
    let push = ran(read(
        HookService::Gitea,
        Some("push"),
        fixture!("gitea_push.json"),
    ));
    assert_eq!(push.clone_url, "http://localhost:3000/gitea/webhooks.git");
    assert_eq!(push.filter_ref, "refs/heads/develop");
    let pr = ran(read(
        HookService::Gitea,
        Some("pull_request"),
        fixture!("gitea_pull_request.json"),
    ));
    assert_eq!(pr.commit, "bffeb74224043ba2feb48d137756c8a9331c449a");
    assert_eq!(pr.filter_ref, "refs/heads/master");
}

#[test]
fn hostile_bodies_are_refused_with_what_is_missing() {
    assert!(matches!(
        read(HookService::Github, Some("push"), b"not json"),
        Err(PayloadError::NotJson(_))
    ));
    assert!(matches!(
        read(HookService::Github, Some("push"), b"[]"),
        Err(PayloadError::Missing { .. })
    ));
    let no_sha =
        br#"{"ref":"refs/heads/main","after":"--upload-pack=x","repository":{"clone_url":"/a"}}"#;
    let err = read(HookService::Github, Some("push"), no_sha).unwrap_err();
    assert!(err.to_string().contains("commit"), "{err}");
    let no_url = br#"{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}"#;
    let err = read(HookService::Gitea, Some("push"), no_url).unwrap_err();
    assert!(err.to_string().contains("clone_url"), "{err}");
}
