//! Bisect end to end: a real repository of 16 commits where commit 9
//! ("change 9") breaks the test, a stack with one shell worker, and the
//! gateway's driver searching with ordinary step queues.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::stack::{GitRepo, TestStack};

const T: Duration = Duration::from_secs(120);
const CULPRIT: usize = 9;
/// Passes unless the checkout says BUG.
const TEST: &str = "! grep -q BUG state.txt\n";

/// Commits 0..16 on `main`; from `culprit` on `state.txt` says BUG.
/// `extra(i)`: more files of commit `i`. The SHAs, oldest first.
fn repository(
    culprit: usize,
    extra: impl Fn(usize) -> Vec<(&'static str, String)>,
) -> (GitRepo, Vec<String>) {
    let files = |i: usize| {
        let state = if i >= culprit { "BUG\n" } else { "ok\n" };
        let mut files = vec![("state.txt", state.to_owned()), ("t.sh", TEST.to_owned())];
        files.extend(extra(i));
        files
    };
    let repo = GitRepo::new(&as_strs(&files(0)));
    let head = crate::stack::git(repo.dir.path(), &["rev-parse", "HEAD"]);
    let mut shas = vec![head.trim().to_owned()];
    for i in 1..16 {
        shas.push(repo.commit(&as_strs(&files(i)), &format!("change {i}")));
    }
    (repo, shas)
}

fn as_strs<'a>(files: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    files.iter().map(|(p, c)| (*p, c.as_str())).collect()
}

fn request(id: &str, repo: &GitRepo, good: Option<&str>) -> Value {
    let mut body = json!({
        "id": id,
        "source": {"repo": repo.url()},
        "bad": "main",
        "tasks": [{"id": "t", "scenario": "t.sh"}],
    });
    if let Some(good) = good {
        body["good"] = good.into();
    }
    body
}

async fn start(stack: &TestStack, body: &Value) {
    let (status, answer) = stack
        .request(reqwest::Method::POST, "/api/bisect", Some(body))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "Running", "{answer}");
}

async fn ended(stack: &TestStack, id: &str) -> Value {
    stack
        .wait_for_path(&format!("/api/bisect/{id}"), T, |v| {
            v["status"] != "Running"
        })
        .await
}

fn step<'a>(view: &'a Value, commit: &str, phase: &str) -> &'a Value {
    view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["commit"] == commit && s["phase"] == phase)
        .unwrap_or_else(|| panic!("no {phase} step of {commit}: {view:#}"))
}

fn step_queues(view: &Value) -> Vec<String> {
    view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["queues"].as_array().unwrap().iter())
        .map(|q| q.as_str().unwrap().to_owned())
        .collect()
}

fn assert_found(view: &Value, shas: &[String]) {
    assert_eq!(view["status"], "Found", "{view:#}");
    assert_eq!(
        view["first_bad"]["commit"],
        shas[CULPRIT].as_str(),
        "{view:#}"
    );
    assert_eq!(view["first_bad"]["subject"], format!("change {CULPRIT}"));
    assert_eq!(view["first_bad"]["author"], "t <t@t>");
    // Confirmed: the culprit failed and its parent passed once more.
    assert_eq!(step(view, &shas[CULPRIT], "confirm")["verdict"], "fail");
    assert_eq!(step(view, &shas[CULPRIT - 1], "confirm")["verdict"], "pass");
}

#[tokio::test]
async fn a_bisect_finds_the_culprit_confirms_it_and_a_rebuild_gives_the_same_view() {
    let mut stack = TestStack::start().await;
    let (repo, shas) = repository(CULPRIT, |_| Vec::new());
    start(&stack, &request("b-found", &repo, Some(&shas[0]))).await;
    let view = ended(&stack, "b-found").await;
    assert_found(&view, &shas);
    assert_eq!(view["good"], shas[0].as_str());
    assert_eq!(view["bad"], shas[15].as_str());
    assert_eq!(view["commits"].as_array().unwrap().len(), 16);
    // Each step is an ordinary queue, linked to its bisect, at its commit.
    let queue_id = &step(&view, &shas[CULPRIT], "test")["queues"][0];
    let (status, queue) = stack
        .get(&format!("/api/queue/{}", queue_id.as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(queue["bisect"], "b-found", "{queue:#}");
    assert_eq!(queue["commit"], shas[CULPRIT].as_str(), "{queue:#}");
    step_queues_stay_out_of_the_list_and_the_tests_state(&stack, &repo, &view).await;
    // A profile no worker offers is refused up front, like a submit's.
    let mut unroutable = request("b-nowhere", &repo, None);
    unroutable["profile"] = "nowhere".into();
    let (status, answer) = stack
        .request(reqwest::Method::POST, "/api/bisect", Some(&unroutable))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().starts_with("profile"),
        "{answer}"
    );
    let (status, list) = stack.get("/api/bisects").await;
    assert_eq!(status, 200);
    assert_eq!(list["bisects"][0]["id"], "b-found");
    // Ended: a cancel is refused like a queue's.
    let (status, _) = stack
        .request(reqwest::Method::POST, "/api/bisect/b-found/cancel", None)
        .await;
    assert_eq!(status, 409);

    stack.stop_gateway_side();
    let live = crate::projection::bisects_snapshot(&stack.data_dir());
    let rebuilt = crate::projection::bisects_snapshot(&stack.rebuild_into("rebuilt"));
    assert_eq!(live.len(), 1);
    assert_eq!(live, rebuilt, "the bisect view differs after --rebuild");
}

/// The list leaves step queues out unless asked; the test's runs in them
/// are kept apart with their bisect, and say nothing of its state.
async fn step_queues_stay_out_of_the_list_and_the_tests_state(
    stack: &TestStack,
    repo: &GitRepo,
    view: &Value,
) {
    let steps = step_queues(view).len();
    let (_, list) = stack.get("/api/queues").await;
    assert_eq!(list["total"], 0, "no ordinary queue ran: {list:#}");
    let (_, list) = stack.get("/api/queues?bisect=only&per_page=200").await;
    assert_eq!(list["total"], steps, "{list:#}");
    let url = reqwest::Url::parse_with_params(
        "http://gateway/api/tests/history",
        &[("repo", repo.url().as_str()), ("task", "t")],
    )
    .unwrap();
    let (status, history) = stack
        .get(&format!("{}?{}", url.path(), url.query().unwrap()))
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["runs"], json!([]), "{history:#}");
    assert_eq!(
        (&history["test"]["runs"], &history["test"]["state"]),
        (&json!(0), &json!("new")),
        "bisect runs are left out: {history:#}"
    );
    let bisect_runs = history["bisect_runs"].as_array().unwrap();
    assert!(!bisect_runs.is_empty(), "{history:#}");
    assert!(
        bisect_runs.iter().all(|r| r["bisect"] == "b-found"),
        "{history:#}"
    );
}

#[tokio::test]
async fn a_good_that_fails_and_a_walk_back_are_told_apart() {
    let stack = TestStack::start().await;
    // Without good: bad~1, ~2, ~4 fail, bad~8 (commit 7) passes and is good.
    let (repo, shas) = repository(CULPRIT, |_| Vec::new());
    start(&stack, &request("b-walk", &repo, None)).await;
    let view = ended(&stack, "b-walk").await;
    assert_found(&view, &shas);
    assert_eq!(view["good"], shas[7].as_str(), "{view:#}");
    assert!(view["good_ref"].is_null());
    // A good that fails: nothing to search.
    start(&stack, &request("b-bad-good", &repo, Some(&shas[CULPRIT]))).await;
    let view = ended(&stack, "b-bad-good").await;
    assert_eq!(view["status"], "Inconclusive", "{view:#}");
    assert!(
        view["reason"].as_str().unwrap().starts_with("good "),
        "{view:#}"
    );
    assert!(view["first_bad"].is_null());
    // A ref that does not exist ends in Error, saying which.
    start(&stack, &request("b-no-ref", &repo, Some("no-such-tag"))).await;
    let view = ended(&stack, "b-no-ref").await;
    assert_eq!(view["status"], "Error", "{view:#}");
    assert!(
        view["reason"].as_str().unwrap().contains("no-such-tag"),
        "{view:#}"
    );
}

#[tokio::test]
async fn a_commit_that_does_not_build_is_skipped_and_a_flaky_step_goes_by_majority() {
    let stack = TestStack::start().await;
    let markers = tempfile::tempdir().unwrap();
    // The search's first halving is commit 7: its build fails.
    let (broken, shas) = repository(CULPRIT, |i| match i {
        7 => vec![("build.sh", "exit 1\n".to_owned())],
        8 => vec![("build.sh", "exit 0\n".to_owned())],
        _ => Vec::new(),
    });
    start(&stack, &request("b-skip", &broken, Some(&shas[0]))).await;
    // Commit 7 passes, but its first run fails (a marker outside the repo).
    let flaky_test = format!(
        "mkdir {}/first 2>/dev/null && exit 1\n{TEST}",
        markers.path().display()
    );
    let (flaky, flaky_shas) = repository(CULPRIT, move |i| match i {
        7 => vec![("t.sh", flaky_test.clone())],
        8 => vec![("t.sh", TEST.to_owned())],
        _ => Vec::new(),
    });
    let mut body = request("b-flaky", &flaky, Some(&flaky_shas[0]));
    body["runs_per_step"] = 2.into();
    start(&stack, &body).await;

    let view = ended(&stack, "b-skip").await;
    assert_found(&view, &shas);
    assert_eq!(
        step(&view, &shas[7], "test")["verdict"],
        "skipped",
        "{view:#}"
    );

    let view = ended(&stack, "b-flaky").await;
    assert_found(&view, &flaky_shas);
    let mixed = step(&view, &flaky_shas[7], "test");
    assert_eq!(mixed["verdict"], "flaky", "{view:#}");
    assert_eq!(mixed["majority"], "pass", "{view:#}");
    assert_eq!(
        mixed["queues"].as_array().unwrap().len(),
        4,
        "rerun to 2n runs"
    );
    assert_eq!(
        step(&view, &flaky_shas[15], "test")["queues"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_scheduler_killed_mid_bisect_the_other_finishes_it_and_no_step_is_queued_twice() {
    let mut stack = TestStack::start().await;
    stack.start_another_scheduler();
    let (repo, shas) = repository(CULPRIT, |_| vec![("t.sh", format!("sleep 0.5\n{TEST}"))]);
    start(&stack, &request("b-restart", &repo, Some(&shas[0]))).await;
    stack
        .wait_for_path("/api/bisect/b-restart", T, |v| {
            v["steps"].as_array().is_some_and(|s| s.len() >= 3)
        })
        .await;
    stack.kill_scheduler(0);
    // The projector too, later: the driver waits for the views to come back.
    stack
        .wait_for_path("/api/bisect/b-restart", T, |v| {
            v["steps"].as_array().is_some_and(|s| s.len() >= 5)
        })
        .await;
    stack.restart_projector();
    let view = ended(&stack, "b-restart").await;
    assert_found(&view, &shas);
    let queues = step_queues(&view);
    let unique: HashSet<&String> = queues.iter().collect();
    assert_eq!(unique.len(), queues.len(), "a queue listed twice: {view:#}");
    let (_, list) = stack
        .get("/api/queues?q=b-restart&per_page=100&bisect=only")
        .await;
    assert_eq!(
        list["total"].as_u64().unwrap() as usize,
        queues.len(),
        "every submitted step queue is one of the bisect's steps: {list:#}"
    );
}

#[tokio::test]
async fn two_schedulers_drive_one_bisect_without_queueing_a_step_twice() {
    let mut stack = TestStack::start().await;
    stack.start_another_scheduler();
    let (repo, shas) = repository(CULPRIT, |_| Vec::new());
    let mut body = request("b-two", &repo, Some(&shas[0]));
    body["runs_per_step"] = 2.into();
    start(&stack, &body).await;
    let view = ended(&stack, "b-two").await;
    assert_found(&view, &shas);
    for step in view["steps"].as_array().unwrap() {
        assert_eq!(step["queues"].as_array().unwrap().len(), 2, "{step}");
    }
    let queues = step_queues(&view);
    let (_, list) = stack
        .get("/api/queues?q=b-two&per_page=100&bisect=only")
        .await;
    assert_eq!(
        list["total"].as_u64().unwrap() as usize,
        queues.len(),
        "{list:#}"
    );
    let actions = |log: &str| log.matches("bisect driver").count();
    assert!(
        actions(&stack.service_log("scheduler")) > 0
            && actions(&stack.service_log("scheduler-2")) > 0,
        "both schedulers drove it"
    );
}

#[tokio::test]
async fn a_cancel_stops_the_running_step_and_ends_cancelled() {
    let stack = TestStack::start().await;
    let (repo, shas) = repository(CULPRIT, |_| vec![("t.sh", "sleep 30\n".to_owned())]);
    start(&stack, &request("b-cancel", &repo, Some(&shas[0]))).await;
    let view = stack
        .wait_for_path("/api/bisect/b-cancel", T, |v| {
            v["steps"].as_array().is_some_and(|s| !s.is_empty())
        })
        .await;
    let running = step_queues(&view)[0].clone();
    stack
        .wait_for(&running, T, |v| v["status"] == "Running")
        .await;
    let (status, _) = stack
        .request(reqwest::Method::POST, "/api/bisect/b-cancel/cancel", None)
        .await;
    assert_eq!(status, 200);
    let view = ended(&stack, "b-cancel").await;
    assert_eq!(view["status"], "Cancelled", "{view:#}");
    for queue in step_queues(&view) {
        let queue = stack.wait_terminal(&queue, T).await;
        assert_eq!(queue["status"], "Cancelled", "{queue:#}");
    }
    let (status, _) = stack
        .request(reqwest::Method::DELETE, "/api/bisect/b-cancel", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = stack.get("/api/bisect/b-cancel").await;
    assert_eq!(status, 404);
}

/// A TAP producer's two cases: `crc` fails from commit 4, `uart` from the
/// culprit (9). By task the search would stop at 4; by case `uart`, at 9.
const TWO_CASES: &str = "echo 1..2\n\
if grep -q BAD crc.txt; then echo 'not ok 1 - crc'; else echo 'ok 1 - crc'; fi\n\
if grep -q BUG state.txt; then echo 'not ok 2 - uart'; else echo 'ok 2 - uart'; fi\n";

#[tokio::test]
async fn by_case_the_search_follows_that_case_and_not_the_task() {
    let config = format!(
        "{}\n[profiles.sh.cases]\nformat = \"tap\"\n",
        crate::stack::SHELL_PROFILE
    );
    let stack = TestStack::start_with(crate::stack::StackOptions {
        worker_config: config,
        ..Default::default()
    })
    .await;
    let (repo, shas) = repository(CULPRIT, |i| {
        let crc = if i >= 4 { "BAD\n" } else { "ok\n" };
        vec![("t.sh", TWO_CASES.to_owned()), ("crc.txt", crc.to_owned())]
    });
    let mut body = request("b-case", &repo, Some(&shas[0]));
    body["case"] = "uart".into();
    start(&stack, &body).await;
    let view = ended(&stack, "b-case").await;
    assert_eq!(view["status"], "Found", "{view:#}");
    assert_eq!(view["case"], "uart");
    assert_eq!(view["first_bad"]["commit"], shas[CULPRIT], "{view:#}");
    // Commit 4 on (crc failing) the task fails, but the steps pass there.
    let decided: Vec<(&str, &str)> = view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| Some((s["commit"].as_str()?, s["verdict"].as_str()?)))
        .collect();
    for (commit, verdict) in decided {
        let index = shas.iter().position(|s| s == commit).unwrap();
        let expected = if index >= CULPRIT { "fail" } else { "pass" };
        assert_eq!(verdict, expected, "commit {index}: {view:#}");
    }
}
