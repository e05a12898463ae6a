//! What repository code can reach: no secret of the worker's, and nothing
//! it starts outlives a killed worker.

use std::time::{Duration, Instant};

use crate::stack::{queue, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(30);

/// Prints the task's environment, then the environment and command line of
/// every ancestor up to pid 1, as far as /proc lets it read them.
const SNOOP: &str = r#"echo "== env"; env
p=$$
while [ "$p" -gt 1 ]; do
  echo "== $p environ"; tr '\0' '\n' < /proc/$p/environ 2>&1
  echo "== $p cmdline"; tr '\0' ' ' < /proc/$p/cmdline 2>&1; echo
  p=$(awk '{print $4}' /proc/$p/stat)
done
"#;

#[tokio::test]
async fn a_task_sees_none_of_the_workers_secrets_in_its_environment_or_its_ancestors() {
    let from_env = "env-secret-7f3a9c2e41";
    let from_flag = "flag-secret-c0ffee5511";
    let token = "aws-secret-0123456789abcdef";
    let password_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(password_file.path(), "file-secret-99aa77\n").unwrap();
    // (service environment, worker arguments) of each run.
    type Secrets = (Vec<(String, String)>, Vec<String>);
    let configs: [Secrets; 3] = [
        (
            vec![
                ("TESTARENA_NATS_USER".into(), "worker".into()),
                ("TESTARENA_NATS_PASSWORD".into(), from_env.into()),
                ("AWS_SECRET_ACCESS_KEY".into(), token.into()),
            ],
            vec![],
        ),
        (
            vec![],
            vec![
                "--nats-user".into(),
                "worker".into(),
                "--nats-password".into(),
                from_flag.into(),
            ],
        ),
        (
            vec![],
            vec![
                "--nats-user".into(),
                "worker".into(),
                "--nats-password-file".into(),
                password_file.path().display().to_string(),
            ],
        ),
    ];
    let repo = GitRepo::new(&[("snoop.sh", SNOOP)]);
    for (n, (env, args)) in configs.into_iter().enumerate() {
        let stack = TestStack::start_with(StackOptions {
            worker_args: args,
            service_env: env,
            worker_config: format!(
                "pass_env = [\"PASSED_ON\"]\n{}",
                crate::stack::SHELL_PROFILE
            ),
            ..Default::default()
        })
        .await;
        let id = format!("snoop-{n}");
        stack
            .submit(&queue(&id, &repo.url(), &[("snoop", "snoop.sh")]))
            .await;
        let view = stack.wait_terminal(&id, T).await;
        assert_eq!(view["counts"]["pass"], 1, "{view}");
        let log = stack.text(&format!("/api/queue/{id}/log")).await;
        assert!(log.contains("== env"), "{log}");
        assert!(
            log.contains("cmdline"),
            "the task read its ancestors: {log}"
        );
        for secret in [from_env, from_flag, token, "file-secret-99aa77"] {
            assert!(!log.contains(secret), "{secret} leaked in run {n}:\n{log}");
        }
        let task_env = log.split("== env").nth(1).unwrap_or_default();
        let task_env = task_env.split("== ").next().unwrap_or_default();
        for line in task_env.lines().filter_map(|l| l.split_once("] ")) {
            let name = line.1.split('=').next().unwrap_or_default();
            let allowed = ["PATH", "HOME", "TERM", "TZ", "TMPDIR", "PWD", "SHLVL", "_"]
                .contains(&name)
                || name.starts_with("LC_")
                || name == "LANG"
                || name.starts_with("TESTARENA_")
                    && !name.contains("NATS")
                    && !name.contains("TOKEN")
                    && !name.contains("DATA_DIR")
                    && !name.contains("PREFIX");
            assert!(
                allowed || name.is_empty(),
                "{name} reached the task:\n{task_env}"
            );
        }
    }
}

/// Whether a process runs (a zombie waiting for its reaper does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_owned())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

fn pids_in(dir: &std::path::Path) -> Vec<i32> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("pid-"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A booted profile whose boot keeps the queue's port bound through a
/// child of its shell, as an emulator would. The first boot of a queue
/// hangs before it is ready when the repo holds `hang-boot`; the first run
/// of `hang.sh` hangs. Every process records its pid under `$PIDS`.
fn booted_profile(pids: &std::path::Path) -> String {
    format!(
        r#"
default_profile = "booted"
[profiles.booted]
boot = "sh boot.sh"
boot_ready = {{ log_regex = "^READY" }}
boot_ready_timeout_s = 20
task = "sh {{scenario}}"
env = {{ PIDS = "{}" }}
"#,
        pids.display()
    )
}

const BOOT: &str = r#"first=no
[ -e "$PIDS/booted-$TESTARENA_QUEUE_ID" ] || { first=yes; touch "$PIDS/booted-$TESTARENA_QUEUE_ID"; }
python3 -c '
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(os.environ["TESTARENA_PORT"]))); s.listen()
open(os.path.join(os.environ["PIDS"], "pid-%d" % os.getpid()), "w").write(str(os.getpid()))
if sys.argv[1] == "yes" and os.path.exists("hang-boot"):
    time.sleep(600)
print("READY on", os.environ["TESTARENA_PORT"], flush=True)
time.sleep(600)
' "$first" &
wait
"#;

const HANG: &str = r#"if [ ! -e "$PIDS/ran-$TESTARENA_QUEUE_ID" ]; then
  touch "$PIDS/ran-$TESTARENA_QUEUE_ID"
  sleep 600 & echo $! > "$PIDS/pid-$!"
  echo hanging; wait
fi
echo ok
"#;

/// Kills the worker once `phase` holds for queue `id` and checks that
/// every process the queue started is gone within 2 s; then a new worker
/// runs the redelivered attempt 2, whose boot binds its port again.
async fn kill_in(stack: &mut TestStack, pids: &std::path::Path, id: &str, phase: &str) {
    let deadline = Instant::now() + T;
    let expected = if phase == "boot" { 1 } else { 2 };
    let recorded = || {
        pids_in(pids)
            .into_iter()
            .filter(|&p| running(p))
            .collect::<Vec<_>>()
    };
    while recorded().len() < expected {
        assert!(Instant::now() < deadline, "{id}: the {phase} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = recorded();
    if phase == "boot" {
        let (_, view) = stack.get(&format!("/api/queue/{id}")).await;
        assert_ne!(view["tasks"][0]["status"], "Running", "{view}");
    }
    stack.kill_worker(0);
    let killed_at = Instant::now();
    while started.iter().any(|&p| running(p)) {
        assert!(
            killed_at.elapsed() < Duration::from_secs(2),
            "{id}: still running 2 s after the worker was killed in {phase}: {:?}",
            started.iter().filter(|&&p| running(p)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.restart_worker(0);
    let view = stack.wait_terminal(id, T).await;
    assert_eq!(view["status"], "Finished", "{view}");
    assert_eq!(view["attempt"], 2, "{view}");
    assert_eq!(view["counts"]["pass"], 1, "{view}");
    let log = stack.text(&format!("/api/queue/{id}/log")).await;
    assert!(log.contains("READY on"), "attempt 2 booted: {log}");
}

#[tokio::test]
async fn nothing_of_a_queue_runs_two_seconds_after_its_worker_is_killed() {
    let pids = tempfile::tempdir().unwrap();
    let mut stack = TestStack::start_with(StackOptions {
        workers: 1,
        worker_config: booted_profile(pids.path()),
        worker_args: vec!["--ack-wait-s".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let in_task = GitRepo::new(&[("boot.sh", BOOT), ("hang.sh", HANG)]);
    stack
        .submit(&queue("in-task", &in_task.url(), &[("hang", "hang.sh")]))
        .await;
    kill_in(&mut stack, pids.path(), "in-task", "task").await;

    for entry in std::fs::read_dir(pids.path()).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    let in_boot = GitRepo::new(&[("boot.sh", BOOT), ("hang-boot", ""), ("ok.sh", "echo ok\n")]);
    stack
        .submit(&queue("in-boot", &in_boot.url(), &[("ok", "ok.sh")]))
        .await;
    kill_in(&mut stack, pids.path(), "in-boot", "boot").await;
}
