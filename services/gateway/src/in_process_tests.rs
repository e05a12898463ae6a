//! The fast tier: handlers and their parameters through poem's `TestClient`,
//! in-process, on a real SQLite view database in a temp dir. NATS is not
//! there (the client points at a closed loopback port), so what these tests
//! cover is what a request can decide without the broker: validation,
//! reads, the 405/415/413 edges and the 202 decision. Everything that
//! publishes is in `tests/it`, against a real nats-server.

use std::sync::Arc;
use std::time::Duration;

use poem::test::TestClient;
use poem::Endpoint;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use testarena_events::{ArenaNames, Counts, Priority, QueueStatus, QueueView, SourceView};
use tokio_util::sync::CancellationToken;

use crate::api::model::{SourceBody, SubmitRequest, TaskBody};
use crate::api::submit::{respond, SubmitResponse};
use crate::state::AppState;
use crate::submission::Submission;
use crate::ApiAuth;
use testarena_views::{AppliedWatch, Views};

struct TestGateway {
    _dir: tempfile::TempDir,
    db: SqlitePool,
    state: Arc<AppState>,
    shutdown: CancellationToken,
}

impl TestGateway {
    async fn start() -> Self {
        Self::start_with(Default::default()).await
    }

    /// With `--config`'s repositories: the gateway_file the hook routes read.
    async fn start_with(gateway_file: testarena_integrations::GatewayFile) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("views.sqlite");
        let db = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&db_path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::migrate!("../../migrations").run(&db).await.unwrap();
        // Port 9 (discard) is closed on loopback: the client stays disconnected.
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect("nats://127.0.0.1:9")
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let views = Views::open_lazy(&db_path);
        let names = ArenaNames::new("arena");
        let (applied, _task) = AppliedWatch::start(
            &client,
            names.applied_subject("local"),
            views.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let (registry, _registry_task) = crate::registry_watch::RegistryWatch::start(
            async_nats::jetstream::new(client.clone()),
            names.clone(),
            shutdown.clone(),
        );
        let state = Arc::new(AppState {
            events: testarena_events::EventLog::new(
                client.clone(),
                async_nats::jetstream::new(client.clone()),
                names.clone(),
            ),
            registry,
            worker_memory: Duration::from_secs(24 * 3600),
            js: async_nats::jetstream::new(client.clone()),
            client,
            names,
            views,
            applied,
            projector_stall: Default::default(),
            data_dir: dir.path().join("queues"),
            submit_wait: Duration::from_millis(150),
            extra_metrics: None,
            flaky_flip_rate: testarena_events::DEFAULT_FLAKY_FLIP_RATE,
            shutdown: shutdown.clone(),
            gateway_file: Arc::new(gateway_file),
            mirrors: testarena_git_mirror::Mirrors::new(dir.path().join("mirrors")),
        });
        Self {
            _dir: dir,
            db,
            state,
            shutdown,
        }
    }

    fn client(&self) -> TestClient<impl Endpoint> {
        TestClient::new(crate::app(
            self.state.clone(),
            ApiAuth::default(),
            "",
            "/repo",
        ))
    }

    /// Stores a view row as the projector would, and its applied offset.
    async fn store(&self, id: &str, submitted_seq: i64) {
        self.store_view(&view(id), submitted_seq).await;
    }

    async fn store_view(&self, view: &QueueView, submitted_seq: i64) {
        let id = view.id.as_str();
        sqlx::query("INSERT INTO queues VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(submitted_seq)
            .bind(view.status.as_str())
            .bind(&view.submitted_at)
            .bind(submitted_seq)
            .bind(serde_json::to_string(&view).unwrap())
            .execute(&self.db)
            .await
            .unwrap();
        sqlx::query("INSERT OR REPLACE INTO projector_offsets VALUES ('events', ?)")
            .bind(submitted_seq)
            .execute(&self.db)
            .await
            .unwrap();
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn view(id: &str) -> QueueView {
    QueueView {
        id: id.into(),
        status: QueueStatus::Waiting,
        source: SourceView {
            repo: "https://git.example/fw.git".into(),
            git_ref: "main".into(),
        },
        commit: None,
        commit_context: None,
        profile: None,
        requires: Vec::new(),
        priority: Priority::Normal,
        owner: "anonymous".into(),
        position: None,
        waiting_reason: None,
        worker_available: None,
        attempt: 0,
        worker: None,
        submitted_at: "2026-01-01T00:00:00Z".into(),
        started_at: None,
        finished_at: None,
        reason: None,
        verdict: None,
        cancel_requested: false,
        shards: Vec::new(),
        counts: Counts::default(),
        stages: vec![],
        tasks: vec![],
        artifacts: vec![],
        firmware: None,
        firmware_budget: None,
        bisect: None,
        rerun_of: None,
        log_expired_at: None,
    }
}

async fn json(response: poem::test::TestResponse) -> (u16, Value) {
    let status = response.0.status().as_u16();
    let text = response.0.into_body().into_string().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn a_queue_is_read_with_its_nulls_and_an_unknown_one_is_404() {
    let gateway = TestGateway::start().await;
    gateway.store("fw-1", 1).await;
    let client = gateway.client();
    let (status, body) = json(client.get("/api/queue/fw-1").send().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "fw-1");
    // Present and null, as the document's `nullable` says.
    assert_eq!(body.get("commit"), Some(&Value::Null));
    assert_eq!(body.get("started_at"), Some(&Value::Null));
    let (status, body) = json(client.get("/api/queue/nope").send().await).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn per_page_and_page_are_checked_and_pages_are_newest_first() {
    let gateway = TestGateway::start().await;
    for (n, id) in ["a", "b", "c"].iter().enumerate() {
        gateway.store(id, n as i64 + 1).await;
    }
    let client = gateway.client();
    let (status, body) = json(client.get("/api/queues?per_page=2&page=1").send().await).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!((ids, &body["total"]), (vec!["c", "b"], &Value::from(3)));
    let (_, body) = json(client.get("/api/queues?per_page=2&page=2").send().await).await;
    assert_eq!(body["queues"][0]["id"], "a");
    let (_, body) = json(client.get("/api/queues").send().await).await;
    assert_eq!(body["per_page"], 50, "the default");
    for bad in [
        "per_page=0",
        "per_page=201",
        "per_page=abc",
        "page=0",
        "status=Sleeping",
    ] {
        let (status, body) = json(client.get(format!("/api/queues?{bad}")).send().await).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "bad_request", "{bad}");
    }
    let (status, body) = json(client.get("/api/queues?status=Waiting").send().await).await;
    assert_eq!((status, &body["total"]), (200, &Value::from(3)));
}

#[tokio::test]
async fn the_list_leaves_bisect_steps_out_unless_asked() {
    let gateway = TestGateway::start().await;
    gateway.store_view(&view("mine"), 1).await;
    let mut step = view("b1-s1");
    step.bisect = Some("b1".into());
    gateway.store_view(&step, 2).await;
    let client = gateway.client();
    let ids = |body: &Value| -> Vec<String> {
        body["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected, total) in [
        ("", vec!["mine"], 1),
        ("?bisect=exclude", vec!["mine"], 1),
        ("?bisect=include", vec!["b1-s1", "mine"], 2),
        ("?bisect=only", vec!["b1-s1"], 1),
    ] {
        let (status, body) = json(client.get(format!("/api/queues{query}")).send().await).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(
            (ids(&body), &body["total"]),
            (
                expected.iter().map(|s| s.to_string()).collect(),
                &Value::from(total)
            ),
            "{query}"
        );
    }
    let (status, _) = json(client.get("/api/queues?bisect=some").send().await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_list_filters_by_repo_ref_commit_profile_and_text_and_rejects_unknown_parameters() {
    let gateway = TestGateway::start().await;
    let queue =
        |id: &str, repo: &str, git_ref: &str, commit: Option<&str>, profile: Option<&str>| {
            let mut v = view(id);
            v.source.repo = repo.into();
            v.source.git_ref = git_ref.into();
            v.commit = commit.map(Into::into);
            v.profile = profile.map(Into::into);
            v
        };
    let fw = "https://git.example/fw.git";
    let rows = [
        queue("nightly-1", fw, "main", Some("abc123"), Some("qemu-arm")),
        queue("pr-7", fw, "pr/7", Some("abd999"), None),
        queue(
            "other",
            "https://git.example/boot%_x.git",
            "main",
            None,
            Some("esp-idf"),
        ),
    ];
    for (n, row) in rows.iter().enumerate() {
        gateway.store_view(row, n as i64 + 1).await;
    }
    let client = gateway.client();
    let ids = |body: &Value| -> Vec<String> {
        body["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        ("repo=https://git.example/fw.git", vec!["pr-7", "nightly-1"]),
        ("repo=fw.git", vec!["pr-7", "nightly-1"]),
        ("repo=boot%25_", vec!["other"]),
        ("repo=boot%25x", vec![]),
        ("ref=main", vec!["other", "nightly-1"]),
        ("ref=mai", vec![]),
        ("commit=ab", vec!["pr-7", "nightly-1"]),
        ("commit=abc", vec!["nightly-1"]),
        ("commit=bc", vec![]),
        ("profile=qemu-arm", vec!["nightly-1"]),
        ("q=PR", vec!["pr-7"]),
        ("q=d99", vec!["pr-7"]),
        ("q=main&repo=fw", vec!["nightly-1"]),
        ("ref=main&status=Running", vec![]),
    ] {
        let (status, body) = json(client.get(format!("/api/queues?{query}")).send().await).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body), expected, "{query}");
        assert_eq!(body["total"], expected.len(), "{query}");
    }
    for (path, name) in [
        ("/api/queues?stauts=Running", "stauts"),
        ("/api/queues?page=1&owner=me", "owner"),
        ("/api/queue/nightly-1/log?ofset=3", "ofset"),
        ("/api/queue/nightly-1/log/stream?last_id=3", "last_id"),
    ] {
        let (status, body) = json(client.get(path).send().await).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["message"].as_str().unwrap().starts_with(name),
            "{body}"
        );
    }
}

#[tokio::test]
async fn log_limit_and_offset_are_checked_and_respected() {
    let gateway = TestGateway::start().await;
    gateway.store("fw-1", 1).await;
    let folder = gateway.state.data_dir.join("fw-1");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join(testarena_events::QUEUE_LOG_FILE),
        "[build] one\n[build] two\n",
    )
    .unwrap();
    let client = gateway.client();
    let response = client
        .get("/api/queue/fw-1/log?offset=8&limit=4")
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_header("x-next-offset", "12");
    response.assert_header("x-log-size", "24");
    response.assert_text("one\n").await;
    for bad in [
        "limit=0",
        "limit=8388609",
        "offset=-1",
        "offset=1000000000000001",
    ] {
        let (status, body) = json(
            client
                .get(format!("/api/queue/fw-1/log?{bad}"))
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn last_event_id_past_any_number_is_a_client_error_not_a_crash() {
    let gateway = TestGateway::start().await;
    gateway.store("fw-1", 1).await;
    let client = gateway.client();
    // `u64::MAX + 1` used to overflow; now the document bounds the id.
    let (status, body) = json(
        client
            .get("/api/queue/fw-1/log/stream")
            .header("Last-Event-ID", u64::MAX.to_string())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Last-Event-ID"),
        "{body}"
    );
    let (status, _) = json(
        client
            .get(format!(
                "/api/queue/fw-1/log/stream?last_event_id={}",
                u64::MAX
            ))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn wrong_method_content_type_and_size_are_documented_json_errors() {
    let gateway = TestGateway::start().await;
    let client = gateway.client();
    let response = client.put("/api/queue/fw-1").send().await;
    response.assert_status(poem::http::StatusCode::METHOD_NOT_ALLOWED);
    response.assert_header("allow", "DELETE, GET");
    let (status, body) = json(
        client
            .post("/api/queue")
            .content_type("text/plain")
            .body("{}")
            .send()
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 << 20));
    let (status, body) = json(
        client
            .post("/api/queue")
            .content_type("application/json")
            .body(big)
            .send()
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn a_write_whose_view_does_not_catch_up_in_time_answers_202_with_its_sequence() {
    let gateway = TestGateway::start().await;
    let submission = Submission::parse(
        SubmitRequest {
            id: Some("late".into()),
            source: SourceBody {
                repo: "https://git.example/fw.git".into(),
                git_ref: "main".into(),
            },
            profile: None,
            tasks: vec![TaskBody {
                id: "t".into(),
                scenario: "s.scn".into(),
                timeout_s: None,
                retries: None,
            }],
            requires: Vec::new(),
            priority: None,
            owner: None,
            shards: None,
        },
        testarena_events::Owner::anonymous(),
    )
    .unwrap();
    // The projector has applied nothing: sequence 7 never shows up.
    let answer = respond(&gateway.state, &submission, 7, SubmitResponse::Created).await;
    match answer {
        Ok(SubmitResponse::Accepted(accepted)) => {
            assert_eq!((accepted.0.id.as_str(), accepted.0.seq), ("late", 7))
        }
        other => panic!("expected 202, got {other:?}"),
    }
    // Once the projector has applied it, the same wait answers with the view.
    gateway.store("late", 7).await;
    let answer = respond(&gateway.state, &submission, 7, SubmitResponse::Created).await;
    assert!(
        matches!(answer, Ok(SubmitResponse::Created(_))),
        "{answer:?}"
    );
}

impl TestGateway {
    /// Stores a test's runs as the projector would: `results` oldest first,
    /// each on commit `c<n>` of queue `q<n>`, try 1, and its figures over
    /// the default window.
    async fn store_runs(&self, task: &str, case: &str, results: &[&str]) {
        sqlx::query(
            "INSERT INTO tests (repo, profile, task, case_name) VALUES ('/fw', '', ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(task)
        .bind(case)
        .execute(&self.db)
        .await
        .unwrap();
        for (n, result) in results.iter().enumerate() {
            sqlx::query(
                "INSERT INTO test_runs (test_id, seq, try, queue_id, commit_sha, attempt, result, duration_ms, at)
                 SELECT id, ?, 1, ?, ?, 1, ?, ?, '2026-11-29T00:00:00Z' FROM tests
                  WHERE task = ? AND case_name = ?",
            )
            .bind(n as i64 + 1)
            .bind(format!("q{n}"))
            .bind(format!("c{n}"))
            .bind(result)
            .bind(10 * (n as i64 + 1))
            .bind(task)
            .bind(case)
            .execute(&self.db)
            .await
            .unwrap();
        }
        let newest_first: Vec<testarena_events::TestRun> = results
            .iter()
            .enumerate()
            .rev()
            .take(testarena_events::DEFAULT_WINDOW as usize)
            .map(|(n, result)| testarena_events::TestRun {
                queue_id: format!("q{n}"),
                commit: Some(format!("c{n}")),
                attempt: 1,
                try_number: 1,
                result: (*result).to_owned(),
                duration_ms: 10 * (n as u64 + 1),
                at: "2026-11-29T00:00:00Z".into(),
                bisect: None,
                tries: Vec::new(),
                message: None,
            })
            .collect();
        let figures = testarena_events::window_figures(&newest_first);
        sqlx::query("UPDATE tests SET summary_json = ? WHERE task = ? AND case_name = ?")
            .bind(serde_json::to_string(&figures).unwrap())
            .bind(task)
            .bind(case)
            .execute(&self.db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn tests_are_listed_with_their_state_over_the_window_and_filtered() {
    let gateway = TestGateway::start().await;
    gateway.store_runs("boot", "", &["PASS"; 40]).await;
    let mut flaky = vec!["PASS"; 34];
    flaky.extend(["FAIL", "PASS", "FAIL", "PASS", "FAIL", "PASS"]);
    gateway.store_runs("uart", "", &flaky).await;
    gateway
        .store_runs("uart", "echo.long", &["PASS", "FAIL", "FAIL", "FAIL"])
        .await;
    let client = gateway.client();
    let (status, body) = json(client.get("/api/tests").send().await).await;
    assert_eq!(status, 200, "{body}");
    let tests = body["tests"].as_array().unwrap();
    let states: Vec<(&str, &str, &str, u64)> = tests
        .iter()
        .map(|t| {
            (
                t["task"].as_str().unwrap(),
                t["case"].as_str().unwrap_or("-"),
                t["state"].as_str().unwrap(),
                t["runs"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("boot", "-", "passing", 30),
            ("uart", "-", "flaky", 30),
            ("uart", "echo.long", "failing", 4)
        ]
    );
    assert_eq!(tests[1]["flip_rate"], 6.0 / 29.0, "6 changes in 30 runs");
    assert_eq!(tests[0]["recent"].as_array().unwrap().len(), 30);
    // Over 3 runs the flaky one flips 2 of 2 times; `state` and `q` filter.
    let (_, body) = json(client.get("/api/tests?window=3&state=flaky").send().await).await;
    assert_eq!(body["tests"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["tests"][0]["flip_rate"], 1.0);
    let (_, body) = json(client.get("/api/tests?q=ECHO").send().await).await;
    assert_eq!(body["tests"][0]["case"], "echo.long", "{body}");
    // The stored window's state filter is SQL's: `uart` flips at 6/29, at or
    // above the gateway's rate (0.2), so it is flaky, not passing.
    for (state, listed) in [
        ("flaky", ["uart", "-"]),
        ("passing", ["boot", "-"]),
        ("failing", ["uart", "echo.long"]),
    ] {
        let (_, body) = json(client.get(format!("/api/tests?state={state}")).send().await).await;
        let tests = body["tests"].as_array().unwrap();
        let names: Vec<[&str; 2]> = tests
            .iter()
            .map(|t| {
                [
                    t["task"].as_str().unwrap(),
                    t["case"].as_str().unwrap_or("-"),
                ]
            })
            .collect();
        assert_eq!(names, [listed], "{state}: {body}");
        assert_eq!(
            (&body["total"], &body["total_capped"]),
            (&1.into(), &false.into())
        );
    }
    for bad in ["window=0", "window=1001", "state=broken", "nope=1"] {
        let (status, body) = json(client.get(format!("/api/tests?{bad}")).send().await).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn one_tests_history_is_newest_first_and_an_unknown_test_is_404() {
    let gateway = TestGateway::start().await;
    gateway
        .store_runs("boot", "", &["PASS", "FAIL", "PASS"])
        .await;
    // A bisect step's failed run, newest of all: kept apart, left out.
    sqlx::query(
        "INSERT INTO test_runs (test_id, seq, try, queue_id, commit_sha, attempt, result, duration_ms, at, bisect_id)
         SELECT id, 9, 1, 'b1-s1', 'c9', 1, 'FAIL', 5, '2026-11-29T00:00:00Z', 'b1' FROM tests WHERE task = 'boot'",
    )
    .execute(&gateway.db)
    .await
    .unwrap();
    let client = gateway.client();
    let (status, body) = json(
        client
            .get("/api/tests/history?repo=/fw&task=boot")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let queues: Vec<&str> = body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["queue_id"].as_str().unwrap())
        .collect();
    assert_eq!(queues, ["q2", "q1", "q0"]);
    assert_eq!(body["runs"][0]["try"], 1);
    assert_eq!(body["test"]["state"], "flaky");
    assert_eq!(
        (&body["test"]["runs"], &body["test"]["last_result"]),
        (&serde_json::json!(3), &serde_json::json!("PASS")),
        "{body}"
    );
    assert_eq!(body["bisect_runs"][0]["queue_id"], "b1-s1", "{body}");
    assert_eq!(body["bisect_runs"][0]["bisect"], "b1");
    assert_eq!(body["test"]["failure_note"]["kind"], "flaky");
    let (status, _) = json(
        client
            .get("/api/tests/history?repo=/fw&task=nope")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = json(
        client
            .get("/api/tests/history?repo=/fw&task=a.b")
            .send()
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_request")),
        "the document's pattern: {body}"
    );
    let (status, body) = json(
        client
            .get("/api/tests/history?repo=ext::sh&task=a")
            .send()
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_field")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().starts_with("repo:"),
        "{body}"
    );
}

#[tokio::test]
async fn the_artifact_list_is_the_views_and_an_unlisted_name_is_404() {
    let gateway = TestGateway::start().await;
    let mut stored = view("arts");
    stored.artifacts = vec![testarena_events::ArtifactView {
        name: "t1/out.txt".into(),
        size: 3,
        sha256: "0".repeat(64),
        task: Some("t1".into()),
    }];
    gateway.store_view(&stored, 1).await;
    let client = gateway.client();
    let (status, body) = json(client.get("/api/queue/arts/artifacts").send().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"artifacts": [
            {"name": "t1/out.txt", "size": 3, "sha256": "0".repeat(64), "task": "t1"}
        ]})
    );
    let (status, body) = json(
        client
            .get("/api/queue/arts/artifacts/t1%2Fother.txt")
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].as_str().unwrap().contains("t1/other.txt"));
    let (status, _) = json(client.get("/api/queue/nope/artifacts").send().await).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn sizes_are_one_per_commit_newest_first_for_a_repo_and_profile() {
    let gateway = TestGateway::start().await;
    // c2 is the later commit (depth 9) though c1 was measured again after it.
    let rows = [
        ("q1", "/r", "fw", "c1", 100, 1, 5),
        ("q2", "/r", "fw", "c2", 120, 2, 9),
        ("q3", "/r", "fw", "c1", 101, 3, 5),
        ("q4", "/r", "other", "c1", 500, 4, 5),
        ("q5", "/elsewhere", "fw", "c1", 900, 5, 5),
    ];
    for (queue, repo, profile, commit, text, seq, depth) in rows {
        let symbols = format!(r#"[{{"name":"main","size":{text}}}]"#);
        sqlx::query(
            "INSERT INTO firmware_sizes (queue_id, repo, profile, commit_sha, text, data, bss,
                                         measured_at, seq, commit_depth, flash_budget, symbols_json)
             VALUES (?, ?, ?, ?, ?, 4, 8, 'at', ?, ?, 1000, ?)",
        )
        .bind(queue)
        .bind(repo)
        .bind(profile)
        .bind(commit)
        .bind(text)
        .bind(seq)
        .bind(depth)
        .bind(symbols)
        .execute(&gateway.db)
        .await
        .unwrap();
    }
    let client = gateway.client();
    let (status, body) = json(client.get("/api/sizes?repo=/r&profile=fw").send().await).await;
    assert_eq!(status, 200, "{body}");
    let shown: Vec<(&str, &str, u64)> = body["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["commit"].as_str().unwrap(),
                s["queue_id"].as_str().unwrap(),
                s["text"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [("c2", "q2", 120), ("c1", "q3", 101)],
        "commit order"
    );
    assert_eq!(body["sizes"][0]["first_parent_depth"], 9);
    assert_eq!(body["sizes"][0]["flash_budget"], 1000);
    let (status, diff) = json(client.get("/api/queue/q2/size-diff").send().await).await;
    assert_eq!(status, 404, "no view of q2 here: {diff}");
    gateway.store("q2", 2).await;
    let (status, diff) = json(client.get("/api/queue/q2/size-diff").send().await).await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(
        diff["base"]["queue_id"], "q3",
        "the latest measure of the commit before"
    );
    assert_eq!(
        (&diff["text"], &diff["growers"][0]["delta"]),
        (&serde_json::json!(19), &serde_json::json!(19))
    );
    let (_, sources) = json(client.get("/api/sizes/sources").send().await).await;
    assert_eq!(sources["sources"][0]["repo"], "/elsewhere", "{sources}");
    assert_eq!(sources["sources"].as_array().unwrap().len(), 3);
    let (_, body) = json(client.get("/api/sizes?repo=/r").send().await).await;
    assert_eq!(body["sizes"].as_array().unwrap().len(), 3, "{body}");
    let (status, body) = json(client.get("/api/sizes?profile=fw").send().await).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = json(client.get("/api/sizes?repo=/r&colour=red").send().await).await;
    assert_eq!(status, 400, "{body}");
}

#[path = "in_process_bisect_tests.rs"]
mod bisect;

#[path = "in_process_log_tests.rs"]
mod log_lines;

#[path = "in_process_test_page_tests.rs"]
mod test_page;

#[path = "in_process_list_tests.rs"]
mod queue_list;

#[path = "in_process_hook_tests.rs"]
mod hooks;

#[path = "in_process_board_tests.rs"]
mod boards;
