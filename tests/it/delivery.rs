//! Work distribution and crash recovery across real worker processes.

use std::collections::HashMap;
use std::time::Duration;

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);

async fn started_events(stack: &TestStack, id: &str) -> Vec<serde_json::Value> {
    let (_, events) = stack.get(&format!("/api/queue/{id}/events")).await;
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "started")
        .cloned()
        .collect()
}

#[tokio::test]
async fn two_workers_share_the_load_without_running_a_queue_twice() {
    let stack = TestStack::start_with(StackOptions {
        workers: 2,
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[("nap.sh", "sleep 0.3; echo done\n")]);
    let ids: Vec<String> = (0..8).map(|i| format!("share-{i}")).collect();
    for id in &ids {
        let (status, _) = stack
            .submit(&queue(id, &repo.url(), &[("nap", "nap.sh")]))
            .await;
        assert_eq!(status, 201);
    }
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["status"], "Finished");
        assert_eq!(view["attempt"], 1, "{view}");
        let started = started_events(&stack, id).await;
        assert_eq!(
            started.len(),
            1,
            "queue {id} ran more than once: {started:?}"
        );
        *per_worker
            .entry(view["worker"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        per_worker.len(),
        2,
        "both workers took queues: {per_worker:?}"
    );
}

#[tokio::test]
async fn a_killed_worker_queue_is_redelivered_and_runs_again_as_attempt_2() {
    let mut stack = TestStack::start_with(StackOptions {
        workers: 1,
        worker_args: vec!["--ack-wait-s".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[
        ("long.sh", "echo long; sleep 4\n"),
        ("quick.sh", "echo quick\n"),
    ]);
    stack
        .submit(&queue(
            "crash",
            &repo.url(),
            &[("long", "long.sh"), ("quick", "quick.sh")],
        ))
        .await;
    stack
        .wait_for("crash", T, |v| v["tasks"][0]["status"] == "Running")
        .await;
    stack.kill_worker(0);
    stack.add_worker();
    let view = stack.wait_terminal("crash", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["attempt"], 2, "{view}");
    assert_eq!(view["worker"], "worker-1");
    assert_eq!(view["counts"]["pass"], 2);
    assert_eq!(started_events(&stack, "crash").await.len(), 2);
}

/// JetStream delivers a dispatch again to the worker still running it (as
/// a cluster's consumer whose leader moved does): here the test naks the
/// run's own delivery, seen by its in-progress ack. The worker keeps the
/// run it has; the queue runs once, as attempt 1, each line once.
#[tokio::test]
async fn a_dispatch_delivered_again_to_the_worker_still_running_it_keeps_that_run() {
    use futures_util::StreamExt as _;
    let stack = TestStack::start_with(StackOptions {
        workers: 1,
        worker_args: ["--ack-wait-s", "3", "--concurrency", "2"]
            .map(str::to_owned)
            .to_vec(),
        ..Default::default()
    })
    .await;
    let client = stack.nats_client().await;
    let mut acks = client.subscribe("$JS.ACK.>").await.unwrap();
    let numbered = "for i in $(seq 1 40); do echo n $i; sleep 0.1; done\n";
    let repo = GitRepo::new(&[("n.sh", numbered)]);
    stack
        .submit(&queue("again", &repo.url(), &[("n", "n.sh")]))
        .await;
    // The run's first in-progress ack names its delivery of the dispatch.
    let progress = tokio::time::timeout(T, async {
        loop {
            let ack = acks.next().await.expect("the ack subscription");
            let consumer = ack.subject.split('.').nth(3).unwrap_or_default();
            if consumer.ends_with("worker-0") && &ack.payload[..] == b"+WPI" {
                return ack.subject;
            }
        }
    })
    .await
    .expect("the run sends an in-progress ack");
    client.publish(progress, "-NAK".into()).await.unwrap();
    client.flush().await.unwrap();

    let view = stack.wait_terminal("again", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["attempt"], 1, "{view}");
    assert_eq!(started_events(&stack, "again").await.len(), 1);
    let log = stack.text("/api/queue/again/log").await;
    for n in 1..=40 {
        let line = format!("n {n}");
        let count = log.lines().filter(|l| l.ends_with(&line)).count();
        assert_eq!(count, 1, "`{line}` once:\n{log}");
    }
    let worker = stack.service_log("worker-0");
    assert!(worker.contains("kept that run"), "{worker}");
}

#[tokio::test]
async fn a_queue_whose_workers_keep_dying_ends_in_error_after_the_attempts() {
    let mut stack = TestStack::start_with(StackOptions {
        workers: 1,
        worker_args: vec![
            "--ack-wait-s".into(),
            "1".into(),
            "--max-attempts".into(),
            "2".into(),
        ],
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[("long.sh", "sleep 20\n")]);
    stack
        .submit(&queue("doomed", &repo.url(), &[("long", "long.sh")]))
        .await;
    for attempt in 1..=2u64 {
        stack
            .wait_for("doomed", T, |v| {
                v["attempt"] == attempt && v["tasks"][0]["status"] == "Running"
            })
            .await;
        stack.kill_worker(attempt as usize - 1);
        stack.add_worker();
    }
    let view = stack.wait_terminal("doomed", T).await;
    assert_eq!(view["status"], "Error", "{view}");
    assert!(
        view["reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts"),
        "{view}"
    );
}

#[tokio::test]
async fn a_worker_stopped_with_sigterm_hands_its_queue_back() {
    let mut stack = TestStack::start_with(StackOptions {
        workers: 1,
        worker_args: vec!["--shutdown-grace-s".into(), "1".into()],
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[
        ("long.sh", "echo long; sleep 8\n"),
        ("quick.sh", "echo quick\n"),
    ]);
    stack
        .submit(&queue(
            "handback",
            &repo.url(),
            &[("long", "long.sh"), ("quick", "quick.sh")],
        ))
        .await;
    stack
        .wait_for("handback", T, |v| v["tasks"][0]["status"] == "Running")
        .await;
    stack.terminate_worker(0);
    stack.add_worker();
    let view = stack.wait_terminal("handback", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["attempt"], 2, "handed back, then run again: {view}");
    assert_eq!(view["worker"], "worker-1");
}

#[tokio::test]
async fn one_worker_runs_queues_concurrently_each_in_its_own_workspace_and_port() {
    let stack = TestStack::start_with(StackOptions {
        workers: 1,
        worker_args: vec!["--concurrency".into(), "3".into()],
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[(
        "where.sh",
        "echo port=$TESTARENA_PORT dir=$TESTARENA_WORKDIR; sleep 1.5\n",
    )]);
    let ids = ["c1", "c2", "c3"];
    for id in ids {
        stack
            .submit(&queue(id, &repo.url(), &[("w", "where.sh")]))
            .await;
    }
    // All three run at the same time.
    let deadline = std::time::Instant::now() + T;
    loop {
        let (_, page) = stack.get("/api/queues?status=Running").await;
        if page["total"] == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never three at once: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut ports, mut dirs) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    for id in ids {
        assert_eq!(stack.wait_terminal(id, T).await["status"], "Finished");
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        let line = log.lines().find(|l| l.contains("port=")).unwrap();
        let port = line
            .split("port=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned();
        let dir = line.split("dir=").nth(1).unwrap().to_owned();
        assert!(ports.insert(port), "two queues got one port: {line}");
        assert!(dirs.insert(dir), "two queues shared a workspace: {line}");
    }
    let later = "c4";
    stack
        .submit(&queue(later, &repo.url(), &[("w", "where.sh")]))
        .await;
    stack.wait_terminal(later, T).await;
    let log = stack.text(&format!("/api/queue/{later}/log")).await;
    assert!(
        log.contains("already in the mirror") && !log.contains("cloning"),
        "a mirrored repo is reused, not cloned: {log}"
    );
}

#[tokio::test]
async fn a_reused_checkout_holds_exactly_the_next_commit_and_nothing_a_queue_left() {
    let stack = TestStack::start().await;
    // The task fails if anything of an earlier queue is still there, then
    // leaves an untracked file, an ignored file, an ignored folder, a
    // repository of its own and a changed tracked file, deletes a tracked
    // file, and switches its worktree to the branch the next commit goes to.
    let task = |expected: &str| {
        format!(
            "echo dir=$TESTARENA_WORKDIR\n\
             test ! -e leftover && test ! -e out.bin && test ! -e build && test ! -e nested \\\n\
               && test -f keep.txt && grep -qx {expected} tracked.txt\n\
             ok=$?\n\
             git checkout -q main\n\
             echo junk > leftover; echo junk > out.bin; echo changed > tracked.txt; rm keep.txt\n\
             mkdir -p build/obj && echo o > build/obj/a.o\n\
             git init -q nested && echo n > nested/file\n\
             exit $ok\n"
        )
    };
    let (task_one, task_two) = (task("one"), task("two"));
    let repo = GitRepo::new(&[
        ("t.sh", task_one.as_str()),
        ("tracked.txt", "one\n"),
        ("keep.txt", "kept\n"),
        (".gitignore", "out.bin\nbuild/\n"),
    ]);
    stack
        .submit(&queue("reuse1", &repo.url(), &[("t", "t.sh")]))
        .await;
    let first = stack.wait_terminal("reuse1", T).await;
    assert_eq!(first["tasks"][0]["result"], "PASS", "{first}");
    let sha = repo.commit(
        &[("t.sh", task_two.as_str()), ("tracked.txt", "two\n")],
        "two",
    );
    stack
        .submit(&queue("reuse2", &repo.url(), &[("t", "t.sh")]))
        .await;
    let second = stack.wait_terminal("reuse2", T).await;
    assert_eq!(second["commit"], sha.as_str());
    assert_eq!(second["tasks"][0]["result"], "PASS", "{second}");
    let dir_of = |log: String| {
        log.lines()
            .find_map(|l| l.split("dir=").nth(1).map(str::to_owned))
            .expect("the task printed its workdir")
    };
    let (dir1, dir2) = (
        dir_of(stack.text("/api/queue/reuse1/log").await),
        dir_of(stack.text("/api/queue/reuse2/log").await),
    );
    assert_eq!(
        dir1, dir2,
        "the second queue reused the first one's worktree"
    );
}

#[tokio::test]
async fn a_queue_of_the_same_commit_finds_nothing_the_queue_before_left() {
    let stack = TestStack::start().await;
    // Fails on anything of an earlier queue, then leaves an untracked file,
    // an ignored one and a changed tracked file: the worktree is cleaned
    // when that queue ends, and the next queue of this commit checks out
    // nothing more (worktree_lease.rs).
    let task = "echo dir=$TESTARENA_WORKDIR\n\
                test ! -e leftover && test ! -e out.bin && grep -qx one tracked.txt\n\
                ok=$?\n\
                echo junk > leftover; echo junk > out.bin; echo changed > tracked.txt\n\
                exit $ok\n";
    let repo = GitRepo::new(&[
        ("t.sh", task),
        ("tracked.txt", "one\n"),
        (".gitignore", "out.bin\n"),
    ]);
    let mut dirs = Vec::new();
    for id in ["same1", "same2", "same3"] {
        stack
            .submit(&queue(id, &repo.url(), &[("t", "t.sh")]))
            .await;
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["tasks"][0]["result"], "PASS", "{id}: {view}");
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        let dir = log
            .lines()
            .find_map(|l| l.split("dir=").nth(1).map(str::to_owned));
        dirs.push(dir.expect("the task printed its workdir"));
    }
    assert!(
        dirs.windows(2).all(|w| w[0] == w[1]),
        "one worktree, reused: {dirs:?}"
    );
}

/// The mirror worker-0 keeps of the one repository its queues used.
fn only_mirror(stack: &TestStack) -> std::path::PathBuf {
    let mirrors = stack.dir.path().join("worker-0/cache/mirrors");
    std::fs::read_dir(&mirrors)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "git"))
        .expect("the repository has a mirror")
}

#[tokio::test]
async fn a_worktree_left_broken_by_a_killed_git_is_made_anew() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("t.sh", "test -f t.sh\n")]);
    stack
        .submit(&queue("broken1", &repo.url(), &[("t", "t.sh")]))
        .await;
    assert_eq!(
        stack.wait_terminal("broken1", T).await["status"],
        "Finished"
    );
    // What a git killed in the middle of a checkout leaves behind: the
    // worktree's index lock, which makes every later checkout there fail.
    let mirror = only_mirror(&stack);
    let admin = mirror.join("worktrees/0");
    assert!(
        admin.is_dir(),
        "the queue's worktree is registered in {mirror:?}"
    );
    std::fs::write(admin.join("index.lock"), "").unwrap();

    stack
        .submit(&queue("broken2", &repo.url(), &[("t", "t.sh")]))
        .await;
    let view = stack.wait_terminal("broken2", T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["tasks"][0]["result"], "PASS", "{view}");
    let log = stack.text("/api/queue/broken2/log").await;
    assert!(log.contains("making it anew"), "{log}");
}

#[tokio::test]
async fn a_queue_waiting_behind_others_uses_a_fetch_begun_after_its_submission() {
    let repo = GitRepo::new(&[("slow.sh", "sleep 0.5\n")]);
    // A URL git rewrites to the local repo, so the worker cannot read the
    // repository's refs directly and must fetch, as from a remote host.
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("[url \"{}\"]\n\tinsteadOf = remote-fw:\n", repo.url()),
    )
    .unwrap();
    let stack = TestStack::start_with(StackOptions {
        service_env: vec![(
            "GIT_CONFIG_GLOBAL".into(),
            config.path().display().to_string(),
        )],
        ..Default::default()
    })
    .await;
    let remote = "remote-fw:";
    // One worker, one queue at a time: b and c wait in the stream while a
    // runs; they are submitted once a has begun, so after a's clone.
    stack
        .submit(&queue("fa", remote, &[("s", "slow.sh")]))
        .await;
    stack
        .wait_for("fa", T, |v| v["tasks"][0]["status"] == "Running")
        .await;
    for id in ["fb", "fc"] {
        stack.submit(&queue(id, remote, &[("s", "slow.sh")])).await;
    }
    for id in ["fa", "fb", "fc"] {
        assert_eq!(stack.wait_terminal(id, T).await["status"], "Finished");
    }
    // b's fetch began when the stream already held c: it saw every commit
    // c could mean, so c does not fetch again. b was submitted after a's
    // clone began, so it had to fetch.
    let b = stack.text("/api/queue/fb/log").await;
    let c = stack.text("/api/queue/fc/log").await;
    assert!(b.contains("fetching"), "{b}");
    assert!(
        c.contains("using that fetch") && !c.contains("fetching"),
        "{c}"
    );
}

#[tokio::test]
async fn a_mirror_unused_for_the_max_age_is_removed_when_a_worker_starts() {
    let mut stack = TestStack::start().await;
    let repo = GitRepo::new(&[("t.sh", "true\n")]);
    stack
        .submit(&queue("evict1", &repo.url(), &[("t", "t.sh")]))
        .await;
    assert_eq!(stack.wait_terminal("evict1", T).await["status"], "Finished");
    stack.terminate_worker(0);

    // Last used 30 days ago (the default age is 14 days).
    let mirror = only_mirror(&stack);
    let lock = mirror.with_extension("lock");
    let pool = stack
        .dir
        .path()
        .join("worker-0/cache/worktrees")
        .join(mirror.file_name().unwrap());
    assert!(mirror.is_dir() && pool.is_dir());
    let month_ago = std::time::SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(month_ago)
        .unwrap();

    stack.restart_worker(0);
    let deadline = std::time::Instant::now() + T;
    while mirror.exists() || pool.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{mirror:?} is still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next queue of the repository clones it again.
    stack
        .submit(&queue("evict2", &repo.url(), &[("t", "t.sh")]))
        .await;
    assert_eq!(stack.wait_terminal("evict2", T).await["status"], "Finished");
    let log = stack.text("/api/queue/evict2/log").await;
    assert!(log.contains("cloning"), "{log}");
}

#[tokio::test]
async fn a_full_sha_the_mirror_has_is_served_without_a_fetch_and_a_new_one_is_fetched() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("which.sh", "echo one\n")]);
    let first = crate::stack::git(repo.dir.path(), &["rev-parse", "HEAD"])
        .trim()
        .to_owned();
    stack
        .submit(&queue("clone", &repo.url(), &[("w", "which.sh")]))
        .await;
    stack.wait_terminal("clone", T).await;
    let second = repo.commit(&[("which.sh", "echo two\n")], "second");

    let submit_at = |id: &str, sha: &str| {
        let mut body = queue(id, &repo.url(), &[("w", "which.sh")]);
        body["source"]["ref"] = sha.into();
        body
    };
    stack.submit(&submit_at("pinned", &first)).await;
    let view = stack.wait_terminal("pinned", T).await;
    assert_eq!(view["commit"], first.as_str(), "{view}");
    let log = stack.text("/api/queue/pinned/log").await;
    assert!(log.contains("is already in the mirror"), "{log}");
    assert!(!log.contains("fetching"), "{log}");
    assert!(log.contains("[task:w] one"), "{log}");

    // A SHA the mirror has not seen yet is fetched, never refused.
    stack.submit(&submit_at("newer", &second)).await;
    let view = stack.wait_terminal("newer", T).await;
    assert_eq!(view["commit"], second.as_str(), "{view}");
    let log = stack.text("/api/queue/newer/log").await;
    assert!(log.contains("fetching"), "{log}");
    assert!(log.contains("[task:w] two"), "{log}");
}

#[tokio::test]
async fn a_branch_of_a_repository_on_this_host_is_read_without_a_fetch_and_never_stale() {
    let stack = TestStack::start().await;
    let repo = GitRepo::new(&[("which.sh", "echo one\n")]);
    stack
        .submit(&queue("l1", &repo.url(), &[("w", "which.sh")]))
        .await;
    stack.wait_terminal("l1", T).await;
    stack
        .submit(&queue("l2", &repo.url(), &[("w", "which.sh")]))
        .await;
    stack.wait_terminal("l2", T).await;
    let log = stack.text("/api/queue/l2/log").await;
    assert!(log.contains("already in the mirror; no fetch"), "{log}");
    // A commit pushed since: the branch moved, so it is fetched.
    let second = repo.commit(&[("which.sh", "echo two\n")], "second");
    stack
        .submit(&queue("l3", &repo.url(), &[("w", "which.sh")]))
        .await;
    let view = stack.wait_terminal("l3", T).await;
    assert_eq!(view["commit"], second.as_str(), "{view}");
    let log = stack.text("/api/queue/l3/log").await;
    assert!(
        log.contains("fetching") && log.contains("[task:w] two"),
        "{log}"
    );
}
