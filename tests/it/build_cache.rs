//! The build cache ("build once, test many"): a real worker, real git
//! repositories, real make and cc. A requeued commit restores its
//! `build_outputs` and skips the build; another commit or another build
//! command builds again; the size bound evicts the least recently used
//! entry; two queues filling one key at once leave it whole; `ccache = true`
//! hits on a commit that changed one file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(90);

/// Three C files, each its own object, linked into `build/app`, which
/// prints the words of `src/*.c` it was built from.
const MAKEFILE: &str = "SRCS := $(wildcard src/*.c)\nOBJS := $(SRCS:src/%.c=build/%.o)\n\
build/app: $(OBJS)\n\tcc -o $@ $(OBJS)\n\techo built > build/version.txt\n\
build/%.o: src/%.c\n\t@mkdir -p build\n\tcc -O1 -c $< -o $@\n";

const MAIN_C: &str = "#include <stdio.h>\nconst char *a(void);\nconst char *b(void);\n\
int main(void) { printf(\"%s %s\\n\", a(), b()); return 0; }\n";

/// The task checks the binary the build (or the cache) left in the checkout.
fn task(expected: &str) -> String {
    format!("out=$(./build/app) && echo \"app says: $out\" && test \"$out\" = \"{expected}\"\n")
}

fn c_repo() -> GitRepo {
    GitRepo::new(&[
        ("Makefile", MAKEFILE),
        ("src/main.c", MAIN_C),
        ("src/a.c", "const char *a(void) { return \"one\"; }\n"),
        ("src/b.c", "const char *b(void) { return \"two\"; }\n"),
        ("t.sh", &task("one two")),
    ])
}

/// A profile caching `build/app`; its build also appends a line to
/// `builds` (outside the checkout), so the test counts the builds that ran.
fn c_profile(builds: &Path, build: &str, ccache: bool) -> String {
    format!(
        r#"
default_profile = "c"
[profiles.c]
build = "{build} && echo built >> {builds}"
build_outputs = ["build/app", "build/version.txt"]
artifacts = ["build/version.txt"]
elf = "build/app"
ccache = {ccache}
task = "sh {{scenario}}"
"#,
        builds = builds.display()
    )
}

fn builds_run(builds: &Path) -> usize {
    std::fs::read_to_string(builds)
        .unwrap_or_default()
        .lines()
        .count()
}

fn build_stage(view: &Value) -> &Value {
    view["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stage"] == "build"))
        .unwrap_or_else(|| panic!("no build stage in {view:#}"))
}

async fn run(stack: &TestStack, id: &str, repo: &GitRepo) -> Value {
    stack
        .submit(&queue(id, &repo.url(), &[("t1", "t.sh")]))
        .await;
    let view = stack.wait_terminal(id, T).await;
    assert_eq!(view["verdict"], "passed", "{view:#}");
    view
}

fn worker_cache(stack: &TestStack, worker: usize) -> PathBuf {
    stack.dir.path().join(format!("worker-{worker}/cache"))
}

#[tokio::test]
async fn a_requeued_commit_restores_its_outputs_and_skips_the_build() {
    let counter = tempfile::tempdir().unwrap();
    let builds = counter.path().join("builds");
    let stack = TestStack::start_with(StackOptions {
        worker_config: c_profile(&builds, "make -s", false),
        ..Default::default()
    })
    .await;
    let repo = c_repo();

    let cold = run(&stack, "cold", &repo).await;
    assert_eq!(build_stage(&cold)["status"], "ok", "{cold:#}");
    assert_eq!(builds_run(&builds), 1);

    let again = run(&stack, "again", &repo).await;
    let stage = build_stage(&again);
    assert_eq!(stage["status"], "cached", "{again:#}");
    let message = stage["message"].as_str().unwrap();
    assert!(
        message.starts_with("build outputs restored from the cache (key ")
            && message.ends_with(", 2 files); build skipped"),
        "{message}"
    );
    assert_eq!(builds_run(&builds), 1, "the build command did not run");
    let log = stack.text("/api/queue/again/log").await;
    assert!(log.contains(message), "{log}");
    assert!(log.contains("app says: one two"), "{log}");
    // The artifact and the ELF measurement read the restored files.
    let names: Vec<&str> = again["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["build/version.txt"], "{again:#}");
    assert_eq!(again["firmware"], cold["firmware"], "{again:#}");
    assert!(again["firmware"]["text"].as_u64().unwrap() > 0, "{again:#}");

    // Another commit builds again.
    repo.commit(
        &[
            ("src/b.c", "const char *b(void) { return \"three\"; }\n"),
            ("t.sh", &task("one three")),
        ],
        "b says three",
    );
    let changed = run(&stack, "changed", &repo).await;
    assert_eq!(build_stage(&changed)["status"], "ok", "{changed:#}");
    assert_eq!(builds_run(&builds), 2);
}

#[tokio::test]
async fn another_build_command_builds_again() {
    let counter = tempfile::tempdir().unwrap();
    let builds = counter.path().join("builds");
    let mut stack = TestStack::start_with(StackOptions {
        worker_config: c_profile(&builds, "make -s", false),
        ..Default::default()
    })
    .await;
    let repo = c_repo();
    run(&stack, "first", &repo).await;
    assert_eq!(builds_run(&builds), 1);

    // The same worker (same work dir, same cache), its profile changed.
    stack.terminate_worker(0);
    std::fs::write(
        stack.dir.path().join("worker.toml"),
        c_profile(&builds, "make -s -j2", false),
    )
    .unwrap();
    stack.restart_worker(0);
    let other = run(&stack, "other-command", &repo).await;
    assert_eq!(build_stage(&other)["status"], "ok", "{other:#}");
    assert_eq!(builds_run(&builds), 2);
    let again = run(&stack, "same-again", &repo).await;
    assert_eq!(build_stage(&again)["status"], "cached", "{again:#}");
    assert_eq!(builds_run(&builds), 2);
}

/// Each commit's build keeps one 41-byte file; 100 bytes hold two.
const SHA_PROFILE: &str = r#"
default_profile = "sha"
[profiles.sha]
build = "mkdir -p out && git rev-parse HEAD > out/sha.txt"
build_outputs = ["out/sha.txt"]
task = "test \"$(cat out/sha.txt)\" = \"$(git rev-parse HEAD)\""
scenario_kind = "name"
"#;

#[tokio::test]
async fn past_the_size_bound_the_least_recently_used_entry_is_evicted() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: SHA_PROFILE.into(),
        // 100 bytes, in GiB; no shared bucket, which would restore B.
        worker_args: vec![
            "--build-cache-max-gb".into(),
            "0.0000000932".into(),
            "--build-cache-bucket-gb".into(),
            "0".into(),
        ],
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[("a.txt", "a")]);
    let stage_of = |view: &Value| build_stage(view)["status"].as_str().unwrap().to_owned();
    let a = repo.commit(&[], "a");
    let submit = |id: &str, sha: &str| {
        let mut body = queue(id, &repo.url(), &[("t1", "x")]);
        body["source"]["ref"] = sha.into();
        body
    };
    let stage = |id: &'static str, sha: String| {
        let body = submit(id, &sha);
        let stack = &stack;
        async move {
            stack.submit(&body).await;
            let view = stack.wait_terminal(id, T).await;
            assert_eq!(view["verdict"], "passed", "{view:#}");
            stage_of(&view)
        }
    };
    assert_eq!(stage("a1", a.clone()).await, "ok");
    let b = repo.commit(&[], "b");
    assert_eq!(stage("b1", b.clone()).await, "ok");
    // A is used again: B is now the least recently used.
    assert_eq!(stage("a2", a.clone()).await, "cached");
    let c = repo.commit(&[], "c");
    assert_eq!(stage("c1", c.clone()).await, "ok");
    let log = stack.text("/api/queue/c1/log").await;
    assert!(
        log.contains("1 least recently used entries evicted for room"),
        "{log}"
    );
    assert_eq!(stage("a3", a).await, "cached", "A was used more recently");
    assert_eq!(stage("b2", b).await, "ok", "B was evicted");
}

#[tokio::test]
async fn two_queues_filling_one_key_at_once_leave_it_whole() {
    let counter = tempfile::tempdir().unwrap();
    let builds = counter.path().join("builds");
    let started = counter.path().join("started");
    std::fs::create_dir_all(&started).unwrap();
    // Each build waits until both have begun: both queues miss and fill
    // the same key side by side.
    let barrier = format!(
        "touch {dir}/{{queue_id}} && while [ $(ls {dir} | wc -l) -lt 2 ]; do sleep 0.05; done && make -s",
        dir = started.display()
    );
    let stack = TestStack::start_with(StackOptions {
        worker_config: c_profile(&builds, &barrier, false),
        worker_args: vec!["--concurrency".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let repo = c_repo();
    for id in ["pair-1", "pair-2"] {
        stack
            .submit(&queue(id, &repo.url(), &[("t1", "t.sh")]))
            .await;
    }
    let mut kept = Vec::new();
    for id in ["pair-1", "pair-2"] {
        let view = stack.wait_terminal(id, T).await;
        assert_eq!(view["verdict"], "passed", "{view:#}");
        assert_eq!(build_stage(&view)["status"], "ok", "{view:#}");
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        kept.push(log.contains("build outputs kept in the cache"));
        assert!(
            kept.last() == Some(&true) || log.contains("were already in the cache"),
            "{log}"
        );
    }
    assert_eq!(builds_run(&builds), 2, "both built");
    assert_eq!(
        kept.iter().filter(|k| **k).count(),
        1,
        "one entry: {kept:?}"
    );
    let builds_dir = worker_cache(&stack, 0).join("builds");
    let partials: Vec<_> = std::fs::read_dir(&builds_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");

    let third = run(&stack, "third", &repo).await;
    assert_eq!(build_stage(&third)["status"], "cached", "{third:#}");
    let log = stack.text("/api/queue/third/log").await;
    assert!(log.contains("app says: one two"), "{log}");
}

/// `ccache` hits of the worker's CCACHE_DIR, from `ccache --print-stats`.
fn ccache_hits(ccache_dir: &Path) -> u64 {
    let out = std::process::Command::new("ccache")
        .arg("--print-stats")
        .env("CCACHE_DIR", ccache_dir)
        .output()
        .expect("ccache runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(name, _)| *name == "direct_cache_hit" || *name == "preprocessed_cache_hit")
        .map(|(_, n)| n.trim().parse::<u64>().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn with_ccache_a_commit_changing_one_file_hits_for_the_others() {
    let counter = tempfile::tempdir().unwrap();
    let builds = counter.path().join("builds");
    let stack = TestStack::start_with(StackOptions {
        worker_config: c_profile(&builds, "make -s", true),
        ..Default::default()
    })
    .await;
    let repo = c_repo();
    run(&stack, "cc-cold", &repo).await;
    let ccache_dir = worker_cache(&stack, 0).join("ccache");
    assert!(ccache_dir.is_dir(), "CCACHE_DIR is the worker's own");
    assert_eq!(ccache_hits(&ccache_dir), 0);

    repo.commit(
        &[
            ("src/b.c", "const char *b(void) { return \"three\"; }\n"),
            ("t.sh", &task("one three")),
        ],
        "b says three",
    );
    let changed = run(&stack, "cc-changed", &repo).await;
    assert_eq!(build_stage(&changed)["status"], "ok", "{changed:#}");
    assert_eq!(builds_run(&builds), 2);
    // main.c and a.c come from ccache; b.c changed and compiles.
    assert_eq!(ccache_hits(&ccache_dir), 2);
}
