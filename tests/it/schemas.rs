//! What the services emit validates against the JSON Schemas in `schemas/`,
//! the contract for subscribers in other languages.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;
use serde_json::Value;

use crate::stack::{queue, GitRepo, StackOptions, TestStack, SHELL_PROFILE};

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

pub(crate) fn validator(relative: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(schemas_dir().join(relative)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{relative} is not a valid schema: {e}"))
}

pub(crate) fn check(validator: &jsonschema::Validator, what: &str, instance: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema: {errors:?}\n{instance:#}"
    );
}

pub(crate) async fn read_all(stack: &TestStack, stream: &str) -> Vec<Value> {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let stream = js.get_stream(stream).await.unwrap();
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut out = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(500), messages.next()).await
    {
        out.push(serde_json::from_slice(&message.payload).unwrap());
        if message.info().unwrap().pending == 0 {
            break;
        }
    }
    out
}

#[tokio::test]
async fn every_event_and_log_batch_the_services_emit_matches_its_schema() {
    // A second profile stores a build artifact and measures an ELF (the
    // host's own `true`: any ELF has section sizes).
    let stack = TestStack::start_with(StackOptions {
        worker_config: format!(
            "{SHELL_PROFILE}\n[profiles.fw]\nbuild = \"mkdir -p out && cp /bin/true out/fw.elf\"\nbuild_outputs = [\"out/fw.elf\"]\nartifacts = [\"out/*.elf\"]\nelf = \"out/fw.elf\"\nsize_budget = {{ flash_bytes = 100000000 }}\ntask = \"sh {{scenario}}\"\n"
        ),
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[
        ("pass.sh", "echo ok; printf '<testsuite><testcase name=\"a\"/><testcase name=\"b\"><failure/></testcase></testsuite>' > \"$TESTARENA_RESULT_DIR/junit.xml\"\n"),
        ("slow.sh", "sleep 30\n"),
        ("bad.sh", "exit 1\n"),
    ]);
    stack
        .submit(&queue("ok", &repo.url(), &[("a", "pass.sh")]))
        .await;
    stack.wait_terminal("ok", Duration::from_secs(30)).await;
    let mut measured = queue("fw", &repo.url(), &[("a", "pass.sh")]);
    measured["profile"] = "fw".into();
    stack.submit(&measured).await;
    let view = stack.wait_terminal("fw", Duration::from_secs(30)).await;
    assert!(view["firmware"]["text"].as_u64().unwrap() > 0, "{view:#}");
    // The same commit again: its build restored from the cache (`cached`).
    measured["id"] = "fw-cached".into();
    stack.submit(&measured).await;
    let view = stack
        .wait_terminal("fw-cached", Duration::from_secs(30))
        .await;
    assert_eq!(view["stages"][1]["status"], "cached", "{view:#}");
    stack
        .submit(&queue("stop", &repo.url(), &[("s", "slow.sh")]))
        .await;
    stack
        .wait_for("stop", Duration::from_secs(30), |v| {
            v["tasks"][0]["status"] == "Running"
        })
        .await;
    stack
        .request(reqwest::Method::POST, "/api/queue/stop/cancel", None)
        .await;
    stack.wait_terminal("stop", Duration::from_secs(30)).await;
    stack
        .request(reqwest::Method::DELETE, "/api/queue/stop", None)
        .await;
    // A sharded queue: its shards claim tasks and say when they are done.
    let mut sharded = queue(
        "sharded",
        &repo.url(),
        &[("a", "pass.sh"), ("b", "pass.sh")],
    );
    sharded["shards"] = 2.into();
    stack.submit(&sharded).await;
    let view = stack
        .wait_terminal("sharded", Duration::from_secs(30))
        .await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    // A sharded queue that builds: a shard claims the build (`build_claimed`).
    let commit = repo.commit(&[("new.txt", "a commit no build cache has")], "new");
    let mut fw_sharded = queue(
        "fw-sharded",
        &repo.url(),
        &[("a", "pass.sh"), ("b", "pass.sh")],
    );
    fw_sharded["profile"] = "fw".into();
    fw_sharded["shards"] = 2.into();
    fw_sharded["source"]["ref"] = commit.into();
    stack.submit(&fw_sharded).await;
    let view = stack
        .wait_terminal("fw-sharded", Duration::from_secs(30))
        .await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    let mut bad = queue("bad-ref", &repo.url(), &[("a", "pass.sh")]);
    bad["source"]["ref"] = "no-such-branch".into();
    stack.submit(&bad).await;
    stack
        .wait_terminal("bad-ref", Duration::from_secs(30))
        .await;

    // A retried task (its tries) and a quarantine set and lifted.
    let mut retried = queue("retried", &repo.url(), &[("r", "bad.sh")]);
    retried["tasks"][0]["retries"] = 1.into();
    stack.submit(&retried).await;
    stack
        .wait_terminal("retried", Duration::from_secs(30))
        .await;
    let test = serde_json::json!({"repo": repo.url(), "task": "r", "case": "x.y", "reason": "r"});
    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let (status, body) = stack
            .request(method, "/api/tests/quarantine", Some(&test))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // A bisect without good (walk-back, confirmation, Found), and one
    // cancelled and deleted.
    let history = GitRepo::new(&[("t.sh", "exit 0\n")]);
    history.commit(&[("t.sh", "exit 1\n")], "break t");
    history.commit(&[("other.txt", "x\n")], "later");
    let bisect = serde_json::json!({"id": "b1", "source": {"repo": history.url()}, "bad": "main",
        "tasks": [{"id": "t", "scenario": "t.sh"}]});
    let (status, body) = stack
        .request(reqwest::Method::POST, "/api/bisect", Some(&bisect))
        .await;
    assert_eq!(status, 201, "{body}");
    let found = stack
        .wait_for_path("/api/bisect/b1", Duration::from_secs(60), |v| {
            v["status"] != "Running"
        })
        .await;
    assert_eq!(found["status"], "Found", "{found:#}");
    let mut cancelled = bisect.clone();
    cancelled["id"] = "b2".into();
    stack
        .request(reqwest::Method::POST, "/api/bisect", Some(&cancelled))
        .await;
    let (status, body) = stack
        .request(reqwest::Method::POST, "/api/bisect/b2/cancel", None)
        .await;
    assert_eq!(status, 200, "{body}");
    stack
        .wait_for_path("/api/bisect/b2", Duration::from_secs(60), |v| {
            v["status"] == "Cancelled"
        })
        .await;
    let (status, _) = stack
        .request(reqwest::Method::DELETE, "/api/bisect/b2", None)
        .await;
    assert_eq!(status, 200);

    let any = validator("event.json");
    let events = read_all(&stack, "ARENA_EVENTS").await;
    let mut seen = std::collections::BTreeSet::new();
    let mut seen_tests = std::collections::BTreeSet::new();
    let mut seen_bisects = std::collections::BTreeSet::new();
    for event in &events {
        let kind = event["type"].as_str().unwrap().to_owned();
        if event.get("bisect_id").is_some() {
            check(&validator(&format!("bisect/{kind}.json")), &kind, event);
            seen_bisects.insert(kind);
            continue;
        }
        // Board events carry `worker` too: `board` tells them apart.
        if event.get("queue_id").is_none() && event.get("board").is_some() {
            check(&validator(&format!("boards/{kind}.json")), &kind, event);
            continue;
        }
        if event.get("queue_id").is_none() && event.get("worker").is_some() {
            check(&validator(&format!("workers/{kind}.json")), &kind, event);
            continue;
        }
        if event.get("test").is_some() {
            check(&validator(&format!("tests/{kind}.json")), &kind, event);
            seen_tests.insert(kind);
            continue;
        }
        check(&any, "event", event);
        check(&validator(&format!("events/{kind}.json")), &kind, event);
        seen.insert(kind);
    }
    for kind in testarena_events::EventBody::KINDS {
        assert!(seen.contains(kind), "the scenario emitted no {kind} event");
    }
    for kind in testarena_events::TestEventBody::KINDS {
        assert!(
            seen_tests.contains(kind),
            "the scenario emitted no {kind} test event"
        );
    }
    for kind in testarena_events::BisectEventBody::KINDS {
        assert!(
            seen_bisects.contains(kind),
            "the scenario emitted no {kind} bisect event"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "submitted" && e["bisect"] == "b1"),
        "a step queue's submitted names its bisect"
    );
    assert!(
        events
            .iter()
            .any(|e| e["tries"].as_array().is_some_and(|t| t.len() == 2)),
        "a task_finished with its tries"
    );
    let junit = events
        .iter()
        .find(|e| e["type"] == "task_finished" && e["junit"].is_object())
        .expect("a task_finished with JUnit counts");
    assert_eq!(junit["junit"]["failures"], 1);
    assert_eq!(junit["junit"]["failed_cases"][0], "b");

    let batch_schema = validator("log_batch.json");
    let batches = read_all(&stack, "ARENA_LOGS").await;
    assert!(!batches.is_empty());
    for batch in &batches {
        check(&batch_schema, "log batch", batch);
    }
}

#[test]
fn the_schema_examples_validate_and_parse_as_wire_types() {
    for entry in std::fs::read_dir(schemas_dir().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        // `<kind>.<variant>.json` is another example of `<kind>`.
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let name = stem.split('.').next().unwrap_or_default().to_owned();
        let example: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if name == "log_batch" {
            check(&validator("log_batch.json"), &name, &example);
            serde_json::from_value::<testarena_events::LogBatch>(example).unwrap();
        } else if let Some(kind) = name.strip_prefix("bisect_") {
            check(&validator(&format!("bisect/{kind}.json")), &name, &example);
            serde_json::from_value::<testarena_events::BisectEvent>(example).unwrap();
        } else if let Some(kind) = name.strip_prefix("board_") {
            check(&validator(&format!("boards/{kind}.json")), &name, &example);
            serde_json::from_value::<testarena_events::BoardEvent>(example).unwrap();
        } else if let Some(kind) = name.strip_prefix("worker_") {
            check(&validator(&format!("workers/{kind}.json")), &name, &example);
            serde_json::from_value::<testarena_events::WorkerEvent>(example).unwrap();
        } else if let Some(kind) = name.strip_prefix("test_") {
            check(&validator(&format!("tests/{kind}.json")), &name, &example);
            serde_json::from_value::<testarena_events::TestEvent>(example).unwrap();
        } else {
            check(&validator(&format!("events/{name}.json")), &name, &example);
            serde_json::from_value::<testarena_events::Event>(example).unwrap();
        }
    }
}

#[test]
fn every_board_event_kind_has_a_schema_its_events_match() {
    use testarena_events::{BoardEvent, BoardEventBody, BoardName, PowerAction, QueueId};

    let queue = QueueId::parse("fw-nucleo-1187").unwrap();
    let bodies = [
        BoardEventBody::Leased {
            queue: queue.clone(),
            shard: Some(1),
        },
        BoardEventBody::Leased {
            queue: queue.clone(),
            shard: None,
        },
        BoardEventBody::Released { queue: Some(queue) },
        BoardEventBody::Released { queue: None },
        BoardEventBody::Reserved {
            until: "2026-12-07T16:30:00.000Z".into(),
            until_ms: 1_796_661_000_000,
            reason: "debugging the UART".into(),
        },
        BoardEventBody::Expired {
            until_ms: 1_796_659_200_000,
        },
        BoardEventBody::Power {
            action: PowerAction::Cycle,
            ok: true,
            message: "board nucleo-1: power cycle done".into(),
        },
        BoardEventBody::Power {
            action: PowerAction::Off,
            ok: false,
            message: String::new(),
        },
        BoardEventBody::Quarantined {
            reason: testarena_events::bounded_reason(&"boot failed ".repeat(200)),
        },
        BoardEventBody::Readmitted {},
        BoardEventBody::Offline {
            reason: "its serial cannot be opened: /dev/ttyACM0: No such file".into(),
        },
    ];
    let mut seen = std::collections::BTreeSet::new();
    for body in bodies {
        let kind = body.kind();
        let board = BoardName::parse("nucleo-1").unwrap();
        let event = BoardEvent::new("bench-1", board, "ada", body);
        let json: Value = serde_json::from_slice(&event.to_json()).unwrap();
        check(&validator(&format!("boards/{kind}.json")), kind, &json);
        seen.insert(kind);
    }
    // A new variant needs a schema (and a case above).
    for kind in BoardEventBody::KINDS {
        assert!(
            schemas_dir().join(format!("boards/{kind}.json")).is_file(),
            "schemas/boards/{kind}.json is missing"
        );
        assert!(seen.contains(kind), "no {kind} board event checked here");
    }
}
