//! Runs a board's commands (`power_on`, `power_off`, `health`, a profile's
//! `flash`) and a profile's `health` command: `sh -c`, stderr with stdout,
//! in its own process group, with the allow-listed environment, at most
//! `limit`. What the group leaves when the command ends is killed: a
//! command that must leave something running (a simulator powered on)
//! starts it in its own session (`setsid`). The output's tail comes back,
//! for the queue's log, the board's health result or an operator's reply.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::group_ledger::GroupLedger;
use crate::process_group::SHELL;

/// Output kept per command.
const OUTPUT_BYTES: usize = 16 * 1024;
/// How long output still open after the command ended is read.
const OUTPUT_LINGER: Duration = Duration::from_millis(300);

/// One board command, ready to run.
pub(crate) struct BoardCommand<'a> {
    /// The command line, placeholders already in.
    pub script: String,
    pub env: Vec<(String, String)>,
    pub cwd: &'a Path,
    pub ledger: &'a GroupLedger,
    pub limit: Duration,
}

/// How it ended: `Ok(output)` on exit 0, else why with the output.
pub(crate) type Ran = Result<String, String>;

impl BoardCommand<'_> {
    pub(crate) async fn run(self) -> Ran {
        let mut child = tokio::process::Command::new(SHELL)
            .arg("-c")
            .arg(format!("exec 2>&1\n{}", self.script))
            .current_dir(self.cwd)
            .env_clear()
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("could not start: {e}"))?;
        let pgid = child.id().map_or(0, |id| id as i32);
        self.ledger.opened(pgid);
        let output = Arc::new(Mutex::new(Vec::new()));
        let reader = child
            .stdout
            .take()
            .map(|out| tokio::spawn(read_tail(out, output.clone())));
        let waited = tokio::time::timeout(self.limit, child.wait()).await;
        if pgid > 0 {
            // SAFETY: kill(2) of the group this command led: whatever it left.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        self.ledger.closed(pgid);
        if let Some(mut reader) = reader {
            if tokio::time::timeout(OUTPUT_LINGER, &mut reader)
                .await
                .is_err()
            {
                reader.abort();
            }
        }
        let output =
            String::from_utf8_lossy(&output.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        match waited {
            Ok(Ok(status)) if status.success() => Ok(output),
            Ok(Ok(status)) => Err(with_output(format!("ended with {status}"), &output)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(with_output(
                format!("did not end within {}s", self.limit.as_secs()),
                &output,
            )),
        }
    }
}

async fn read_tail(mut out: tokio::process::ChildStdout, into: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = vec![0u8; 4096];
    while let Ok(n @ 1..) = out.read(&mut buffer).await {
        let mut kept = into.lock().unwrap_or_else(|e| e.into_inner());
        kept.extend_from_slice(&buffer[..n]);
        let over = kept.len().saturating_sub(OUTPUT_BYTES);
        kept.drain(..over);
    }
}

/// Pure: why, with the output's last line when it has one.
pub(crate) fn with_output(why: String, output: &str) -> String {
    match output.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(last) => format!("{why}: {}", last.trim()),
        None => why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_the_last_line_it_printed() {
        assert_eq!(
            with_output(
                "ended with exit status: 1".into(),
                "relay 3\nno such relay\n\n"
            ),
            "ended with exit status: 1: no such relay"
        );
        assert_eq!(with_output("ended".into(), " \n"), "ended");
    }

    #[tokio::test]
    async fn runs_a_command_and_keeps_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = GroupLedger::start(&dir.path().join("groups"), &[]).unwrap();
        let command = |script: &str, limit: u64| BoardCommand {
            script: script.into(),
            env: vec![("B".into(), "nucleo".into())],
            cwd: dir.path(),
            ledger: &ledger,
            limit: Duration::from_secs(limit),
        };
        assert_eq!(command("echo on $B", 5).run().await.unwrap(), "on nucleo\n");
        let err = command("echo no relay >&2; exit 3", 5)
            .run()
            .await
            .unwrap_err();
        assert!(err.contains("no relay"), "{err}");
        let err = command("sleep 5", 1).run().await.unwrap_err();
        assert!(err.starts_with("did not end within 1s"), "{err}");
    }
}
