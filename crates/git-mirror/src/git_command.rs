//! `git` run with an allow-listed environment: a service's own variables
//! (tokens, NATS credentials) never reach git or a hook it might run.
//!
//! A git whose caller goes away (a hook request the git host gave up on)
//! gets SIGTERM, not SIGKILL: git removes its `*.lock` files on SIGTERM,
//! while a killed fetch can leave one that fails every later fetch of
//! that mirror.

use std::path::Path;
use std::process::{Output, Stdio};

use tokio::process::Command;

/// What git may see of the service's environment: enough to find itself,
/// its config and a proxy or SSH setup; nothing else.
const GIT_ENV: [&str; 10] = [
    "PATH",
    "HOME",
    "GIT_ALLOW_PROTOCOL",
    "GIT_SSH_COMMAND",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSH_AUTH_SOCK",
];

pub(crate) async fn git(dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    let mut command = Command::new("git");
    command.env_clear();
    for key in GIT_ENV {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    output_or_terminate(command).await
}

/// The command's output; dropped before it ends, the process gets SIGTERM
/// (and tokio reaps it once it exits).
async fn output_or_terminate(mut command: Command) -> std::io::Result<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false)
        .spawn()?;
    let mut guard = TerminateOnDrop(child.id());
    let output = child.wait_with_output().await;
    guard.0 = None;
    output
}

struct TerminateOnDrop(Option<u32>);

impl Drop for TerminateOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) with a pid of our own unreaped child: it
            // cannot name another process before tokio reaps it.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_command_dropped_before_it_ends_gets_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("terminated");
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "trap 'touch {}; kill $!; exit 143' TERM; sleep 30 & wait",
            marker.display()
        ));
        let run = output_or_terminate(command);
        assert!(tokio::time::timeout(Duration::from_millis(300), run)
            .await
            .is_err());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !marker.exists() {
            assert!(std::time::Instant::now() < deadline, "no SIGTERM arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_command_that_ends_gives_its_output() {
        let mut command = Command::new("sh");
        command.arg("-c").arg("echo out; echo err >&2; exit 3");
        let output = output_or_terminate(command).await.unwrap();
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.code(), Some(3));
    }
}
