//! Builds shared beyond one worker's disk: the shards of one queue build
//! once (one shard builds, the others restore its outputs, or end as its
//! build did), and a worker on another host restores a build it never ran
//! from the shared bucket, on a 3-node cluster; the bucket's bound evicts
//! whole builds, least recently used first.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::sharding::{sharded_queue, task_repo};
use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(120);

/// A profile whose build takes a second (so the shards meet at the build
/// stage), appends a line to `builds` (outside the checkout) and makes
/// `out/fw.bin`; each task checks the file is there. Workers carry the
/// label `host=<host>`.
fn profile(builds: &Path, build: &str, host: &str) -> String {
    format!(
        r#"
default_profile = "fw"
labels = ["host={host}"]
[profiles.fw]
build = "sleep 1 && {build} && echo built >> {builds}"
build_outputs = ["out/*.bin"]
task = "test -s out/fw.bin && sh {{scenario}}"
"#,
        builds = builds.display()
    )
}

const MAKE_FW: &str = "mkdir -p out && head -c 8192 /dev/urandom > out/fw.bin";

fn builds_run(builds: &Path) -> usize {
    std::fs::read_to_string(builds)
        .unwrap_or_default()
        .lines()
        .count()
}

fn build_stages(view: &Value) -> Vec<Value> {
    view["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stage"] == "build")
        .cloned()
        .collect()
}

/// The statuses of the build stages, sorted: `["ok", "shared"]`.
fn statuses(stages: &[Value]) -> Vec<String> {
    let mut statuses: Vec<String> = stages
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect();
    statuses.sort();
    statuses
}

/// With NATS's per-role users (deploy/nats/users.conf), so the claim and
/// the bucket are within the worker's rights.
#[tokio::test]
async fn the_shards_of_a_queue_build_once_and_the_others_share_it() {
    let counter = tempfile::tempdir().unwrap();
    let builds = counter.path().join("builds");
    let stack = TestStack::start_with(StackOptions {
        worker_config: profile(&builds, MAKE_FW, "a"),
        worker_args: vec!["--concurrency".into(), "2".into()],
        role_users: true,
        ..Default::default()
    })
    .await;
    let repo = task_repo(6, "");
    stack.submit(&sharded_queue("sh", &repo, 6, 2)).await;
    let view = stack.wait_terminal("sh", T).await;
    if view["verdict"] != "passed" {
        eprintln!("WORKERLOG {}", stack.service_log("worker-0"));
    }
    assert_eq!(view["verdict"], "passed", "{view:#}");
    assert_eq!(builds_run(&builds), 1, "one build for both shards");
    let stages = build_stages(&view);
    assert_eq!(statuses(&stages), ["ok", "shared"], "{view:#}");
    let builder = stages.iter().find(|s| s["status"] == "ok").unwrap();
    let shared = stages.iter().find(|s| s["status"] == "shared").unwrap();
    let message = shared["message"].as_str().unwrap();
    let expected = format!("build shared with shard {}:", builder["shard"]);
    assert!(
        message.starts_with(&expected) && message.ends_with("1 file); build skipped"),
        "{message}"
    );
    let events = stack.get("/api/queue/sh/events").await.1;
    let claims = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "build_claimed")
        .count();
    assert_eq!(claims, 1, "{events:#}");
}

#[tokio::test]
async fn a_failed_build_ends_every_shard_as_it_did() {
    let counter = tempfile::tempdir().unwrap();
    let builds = counter.path().join("builds");
    let failing = "echo compiler says no >&2 && echo built >> ../never && false";
    let stack = TestStack::start_with(StackOptions {
        worker_config: profile(&builds, failing, "a"),
        worker_args: vec!["--concurrency".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let repo = task_repo(4, "");
    stack.submit(&sharded_queue("bad", &repo, 4, 2)).await;
    let view = stack.wait_terminal("bad", T).await;
    assert_eq!(view["status"], "Error", "{view:#}");
    let stages = build_stages(&view);
    assert!(
        stages
            .iter()
            .all(|s| s["status"] == "failed" || s["status"] == "cancelled"),
        "no shard builds after the build failed: {view:#}"
    );
    let log = stack.text("/api/queue/bad/log").await;
    assert_eq!(
        log.matches("compiler says no").count(),
        1,
        "the build ran once: {log}"
    );
}

/// Two worker hosts (their own work dirs) on a 3-node cluster with 3
/// replicas: a build the first host ran is restored on the second from the
/// bucket, and the bucket's bound evicts whole builds, least recently
/// used first.
#[tokio::test]
async fn another_host_restores_a_build_from_the_bucket_on_a_three_node_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = testarena::nats_server::NatsCluster::start(dir.path(), 3).unwrap();
    let builds = dir.path().join("builds");
    // Room for two builds (archives of ~10 KB), not three.
    let args = ["--build-cache-bucket-gb", "0.0000224"];
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut stack = TestStack::start_with(StackOptions {
        worker_config: profile(&builds, MAKE_FW, "a"),
        worker_args: args.clone(),
        nats_url: Some(cluster.urls()),
        service_args: vec!["--replicas".into(), "3".into()],
        ..Default::default()
    })
    .await;
    stack.add_worker_with(&profile(&builds, MAKE_FW, "b"), &[]);
    stack
        .wait_for_path("/api/workers", T, |page| {
            page["workers"].as_array().is_some_and(|w| w.len() == 2)
        })
        .await;
    let repo = GitRepo::new(&[("t.sh", "echo ok\n")]);
    let on = |id: &str, host: &str, commit: &str| {
        let mut body = queue(id, &repo.url(), &[("t1", "t.sh")]);
        body["source"]["ref"] = json!(commit);
        body["requires"] = json!([format!("host={host}")]);
        body
    };
    let stage = |id: &'static str, host: &'static str, commit: String| {
        let (body, stack) = (on(id, host, &commit), &stack);
        async move {
            let (status, answer) = stack.submit(&body).await;
            assert!(status < 300, "{status} {answer:#}");
            let view = stack.wait_terminal(id, T).await;
            assert_eq!(view["verdict"], "passed", "{view:#}");
            build_stages(&view)[0].clone()
        }
    };
    let a = repo.commit(&[("a", "a")], "a");
    assert_eq!(stage("a-on-a", "a", a.clone()).await["status"], "ok");
    let b = repo.commit(&[("b", "b")], "b");
    assert_eq!(stage("b-on-a", "a", b.clone()).await["status"], "ok");
    // Host b never built A: it restores it from the bucket, which records
    // the use, so B is now the least recently used build there.
    let on_b = stage("a-on-b", "b", a.clone()).await;
    assert_eq!(on_b["status"], "cached", "{on_b:#}");
    let message = on_b["message"].as_str().unwrap();
    let prefix = "build outputs restored from the shared build cache (bucket ARENA_BUILDS, key ";
    assert!(message.starts_with(prefix), "{message}");
    let a_key = &message[prefix.len()..prefix.len() + 12];
    assert_eq!(builds_run(&builds), 2, "the second host did not build");

    let c = repo.commit(&[("c", "c")], "c");
    assert_eq!(stage("c-on-a", "a", c).await["status"], "ok");
    let log = stack.text("/api/queue/c-on-a/log").await;
    assert!(
        log.contains("1 least recently used builds evicted for room"),
        "{log}"
    );
    let kept = bucket_objects(&cluster.urls()).await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(
        kept.iter().any(|k| k.starts_with(a_key)),
        "A was used last: {kept:?}"
    );
    // B is gone whole: host b, which never had it, builds it.
    assert_eq!(stage("b-on-b", "b", b).await["status"], "ok");
    assert_eq!(builds_run(&builds), 4);
}

async fn bucket_objects(urls: &str) -> Vec<String> {
    let client = async_nats::connect(urls.split(',').next().unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let bucket = js.get_object_store("ARENA_BUILDS").await.unwrap();
    let mut list = bucket.list().await.unwrap();
    let mut names = Vec::new();
    while let Some(info) = list.next().await {
        names.push(info.unwrap().name);
    }
    names
}
