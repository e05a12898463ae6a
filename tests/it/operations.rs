//! Operating it: Prometheus metrics that move as a queue runs, and a
//! 3-node JetStream cluster that loses its stream leader mid-queue.

use std::time::Duration;

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_change_as_a_queue_runs() {
    let port = testarena::nats_server::free_port().unwrap();
    let stack = TestStack::start_with(StackOptions {
        worker_args: vec!["--metrics-listen".into(), format!("127.0.0.1:{port}")],
        ..Default::default()
    })
    .await;
    let before = stack.text("/metrics").await;
    assert_eq!(
        metric(&before, "testarena_queues{status=\"Finished\"}"),
        None
    );
    let repo = GitRepo::new(&[("ok.sh", "echo fine\n"), ("bad.sh", "exit 1\n")]);
    stack
        .submit(&queue(
            "m1",
            &repo.url(),
            &[("a", "ok.sh"), ("b", "ok.sh"), ("c", "bad.sh")],
        ))
        .await;
    stack.wait_terminal("m1", Duration::from_secs(30)).await;

    let after = stack.text("/metrics").await;
    assert_eq!(
        metric(&after, "testarena_queues{status=\"Finished\"}"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        metric(&after, "testarena_tasks{result=\"PASS\"}"),
        Some(2.0),
        "{after}"
    );
    assert_eq!(
        metric(&after, "testarena_tasks{result=\"FAIL\"}"),
        Some(1.0),
        "{after}"
    );
    assert!(
        metric(&after, "testarena_projector_lag_events").is_some(),
        "{after}"
    );
    assert_eq!(
        metric(&after, "testarena_queues_waiting_dispatch"),
        Some(0.0),
        "{after}"
    );

    let worker = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&worker, "testarena_worker_tasks_total{result=\"PASS\"}"),
        Some(2.0),
        "{worker}"
    );
    assert_eq!(
        metric(&worker, "testarena_worker_busy_slots"),
        Some(0.0),
        "{worker}"
    );
    assert_eq!(
        metric(&worker, "testarena_worker_slots"),
        Some(1.0),
        "{worker}"
    );
    assert!(
        metric(&worker, "testarena_worker_log_lines_total").unwrap_or(0.0) >= 2.0,
        "{worker}"
    );
    assert!(
        worker.contains("testarena_worker_stage_duration_seconds_bucket"),
        "{worker}"
    );
    assert!(
        worker.contains("testarena_worker_task_duration_seconds_count{result=\"PASS\"} 2"),
        "{worker}"
    );
}

#[tokio::test]
async fn a_queue_survives_losing_the_stream_leader_of_a_three_node_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.keep();
    let mut cluster = testarena::nats_server::NatsCluster::start(&dir, 3).unwrap();
    let stack = TestStack::start_with(StackOptions {
        nats_url: Some(cluster.urls()),
        service_args: vec!["--replicas".into(), "3".into()],
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[(
        "count.sh",
        "for i in $(seq 1 40); do echo tick $i; sleep 0.05; done\n",
    )]);
    stack
        .submit(&queue(
            "ha",
            &repo.url(),
            &[("a", "count.sh"), ("b", "count.sh")],
        ))
        .await;
    stack
        .wait_for("ha", Duration::from_secs(60), |v| {
            v["tasks"][0]["status"] == "Running"
        })
        .await;

    let client = async_nats::connect(cluster.urls().split(',').next().unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut events = js.get_stream("ARENA_EVENTS").await.unwrap();
    let info = events.info().await.unwrap();
    assert_eq!(info.config.num_replicas, 3);
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .expect("the stream has a leader");
    let index = cluster.index_of(&leader).expect("leader is one of ours");
    cluster.nodes[index].kill();

    let view = stack.wait_terminal("ha", Duration::from_secs(90)).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["counts"]["pass"], 2, "{view}");
    assert_eq!(
        view["attempt"], 1,
        "the worker rode out the failover without a redelivery: {view}"
    );
    // Every log line exactly once in the view, every event once.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = stack.text("/api/queue/ha/log").await;
        let ticks = log.lines().filter(|l| l.contains("] tick ")).count();
        if ticks >= 80 {
            for i in 1..=40 {
                let line = format!("tick {i}");
                assert_eq!(
                    log.lines().filter(|l| l.ends_with(&line)).count(),
                    2,
                    "{line} once per task:\n{log}"
                );
            }
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "log incomplete after the failover: {ticks} ticks\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A read right after the failover may still find the new leader
    // settling: the events must be whole once it answers.
    let events = stack
        .wait_for_path("/api/queue/ha/events", Duration::from_secs(30), |v| {
            v["events"].is_array()
        })
        .await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "submitted").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "finished").count(), 1);
    assert_eq!(
        kinds.iter().filter(|k| **k == "task_finished").count(),
        2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn up_prints_its_addresses_once_ready_and_logs_without_colour_to_a_file() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let nats_port = testarena::nats_server::free_port().unwrap();
    let http_port = testarena::nats_server::free_port().unwrap();
    let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
    let mut up = std::process::Command::new(crate::stack::BIN)
        .args(["up", "--nats-listen", &format!("127.0.0.1:{nats_port}")])
        .args(["--listen", &format!("127.0.0.1:{http_port}")])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = up.stdout.take().unwrap();
    let banner: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(5)
            .map(|l| l.unwrap())
            .collect()
    })
    .await
    .unwrap();
    let ready = reqwest::get(format!("http://127.0.0.1:{http_port}/readyz"))
        .await
        .map(|r| r.status().as_u16());
    unsafe {
        libc::kill(up.id() as i32, libc::SIGTERM);
    }
    let _ = up.wait();
    assert_eq!(banner[0], "TestArena is up", "{banner:?}");
    assert_eq!(ready.ok(), Some(200), "ready when it says so");
    assert!(
        banner[1].contains(&format!("http://127.0.0.1:{http_port}/")),
        "{banner:?}"
    );
    assert!(banner[2].ends_with("/docs"), "{banner:?}");
    assert!(
        banner[3].contains(&format!("nats://127.0.0.1:{nats_port}")),
        "{banner:?}"
    );
    assert_eq!(
        banner[4],
        format!("  export TESTARENA_SERVER=http://127.0.0.1:{http_port}   # for the CLI")
    );
    let written = std::fs::read_to_string(dir.path().join("up.log")).unwrap();
    assert!(written.contains("INFO"), "{written}");
    assert!(
        !written.contains('\u{1b}'),
        "no colour codes in a log file:\n{written}"
    );
}
