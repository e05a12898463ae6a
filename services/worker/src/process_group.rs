//! Runs one profile command (its program directly when the line needs no
//! shell, `sh -c` otherwise: plain_command.rs) in its own process group, forwarding
//! its output to the log. Stopping it (timeout, cancel, delete, shutdown, or
//! its own exit) signals the whole group: SIGTERM, then SIGKILL after a grace
//! period, so no emulator or helper it started outlives it.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use testarena_events::LogStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::group_ledger::GroupLedger;
use crate::line_marks::LineMarks;
use crate::log_batcher::LogSink;
use crate::output_lines::{forward_lines, LineTarget, LogBudget};
use crate::plain_command;
use crate::task_lines::TaskLines;

/// The shell every profile command runs in (POSIX puts it here).
pub(crate) const SHELL: &str = "/bin/sh";

/// How long output readers may run on after the group is gone.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct CommandSpec<'a> {
    pub script: String,
    pub cwd: &'a Path,
    pub env: Vec<(String, String)>,
    /// Log source tag: `build`, `boot`, `task:<id>`.
    pub source: String,
    pub log_cap_bytes: u64,
    /// Told of the group, so it dies with the worker (group_ledger.rs).
    pub ledger: GroupLedger,
    /// A task's failure and progress patterns; `None` for other commands.
    pub task_lines: Option<Arc<TaskLines>>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut,
    Cancelled,
}

pub(crate) struct ProcessGroup {
    child: Child,
    pgid: i32,
    readers: JoinSet<()>,
    source: String,
    budget: Arc<LogBudget>,
    marks: Arc<LineMarks>,
    sink: LogSink,
    grace: Duration,
    ledger: GroupLedger,
    /// Set once `stop` has ended the group; otherwise `Drop` kills it.
    stopped: bool,
}

impl ProcessGroup {
    pub(crate) fn spawn(
        spec: CommandSpec<'_>,
        sink: &LogSink,
        grace: Duration,
        tap: Option<mpsc::UnboundedSender<String>>,
    ) -> std::io::Result<Self> {
        let mut child = start(&spec)?;
        let pgid = child.id().map(|id| id as i32).unwrap_or(0);
        spec.ledger.opened(pgid);
        let budget = LogBudget::new(spec.log_cap_bytes);
        let marks = LineMarks::new(spec.task_lines.clone());
        let target = LineTarget {
            source: spec.source.clone(),
            sink: sink.clone(),
            budget: budget.clone(),
            marks: marks.clone(),
            tap,
        };
        let mut readers = JoinSet::new();
        if let Some(stdout) = child.stdout.take() {
            readers.spawn(forward_lines(stdout, LogStream::Stdout, target.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.spawn(forward_lines(stderr, LogStream::Stderr, target));
        }
        Ok(Self {
            child,
            pgid,
            readers,
            source: spec.source,
            budget,
            marks,
            sink: sink.clone(),
            grace,
            ledger: spec.ledger,
            stopped: false,
        })
    }

    /// Waits for the command to exit, for `timeout`, or for `cancel`; then
    /// makes sure nothing of its group is left and its output is logged.
    pub(crate) async fn wait(
        mut self,
        timeout: Option<Duration>,
        cancel: &CancellationToken,
    ) -> Exit {
        let exited = async {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, self.child.wait()).await.ok(),
                None => Some(self.child.wait().await),
            }
        };
        let exit = tokio::select! {
            status = exited => match status {
                Some(Ok(status)) => from_status(status),
                Some(Err(_)) => Exit::Signal(0),
                None => Exit::TimedOut,
            },
            _ = cancel.cancelled() => Exit::Cancelled,
        };
        self.stop().await;
        exit
    }

    /// The exit, if the command has already ended (for a boot process that
    /// must stay up).
    pub(crate) fn exited(&mut self) -> Option<Exit> {
        self.child.try_wait().ok().flatten().map(from_status)
    }

    /// Ends the group (SIGTERM, grace, SIGKILL) and drains its output.
    pub(crate) async fn stop(&mut self) {
        if self.exited().is_none() {
            // Stopped on purpose (teardown, cancel, timeout): what it
            // prints from now on is its shutdown, marked as such.
            self.marks.stopping();
        }
        signal_group(self.pgid, libc::SIGTERM);
        if tokio::time::timeout(self.grace, self.child.wait())
            .await
            .is_err()
        {
            self.sink
                .system(
                    &self.source,
                    format!(
                        "still running {}s after SIGTERM; sending SIGKILL",
                        self.grace.as_secs_f64()
                    ),
                )
                .await;
        }
        // Children of the command may ignore SIGTERM or outlive it: the group goes.
        signal_group(self.pgid, libc::SIGKILL);
        let _ = self.child.wait().await;
        self.ledger.closed(self.pgid);
        self.stopped = true;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while self.readers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.readers.abort_all();
        }
        let (lines, bytes) = self.budget.dropped();
        if lines > 0 {
            self.sink.metrics().dropped_lines.inc_by(lines);
            self.sink
                .system(
                    &self.source,
                    format!(
                        "[log cap of {} bytes reached: {lines} more lines ({bytes} bytes) were counted, not stored]",
                        self.budget.cap_bytes
                    ),
                )
                .await;
        }
    }
}

/// Starts the command: its program directly when the line needs no shell
/// (plain_command.rs), through `sh -c` otherwise — and when the program
/// cannot be started directly (a script without `#!`, which the shell runs
/// as a script).
fn start(spec: &CommandSpec<'_>) -> std::io::Result<Child> {
    if let Some(mut direct) = direct_command(spec) {
        if let Ok(child) = direct.spawn() {
            return Ok(child);
        }
    }
    // An absolute path: with a cleared environment, std spawns a program
    // it must look up in PATH with fork+exec instead of posix_spawn, which
    // copies the worker's page tables per command.
    let mut shell = Command::new(SHELL);
    shell.arg("-c").arg(&spec.script);
    in_group(&mut shell, spec).spawn()
}

/// The command's program by its path (posix_spawn, as for the shell) with
/// its words, when the line is plain and the program is found.
fn direct_command(spec: &CommandSpec<'_>) -> Option<Command> {
    let words = plain_command::plain_words(&spec.script)?;
    let path = spec.env.iter().find(|(k, _)| k == "PATH");
    let program = plain_command::program_path(&words[0], path.map(|(_, v)| v.as_str()), spec.cwd)?;
    let mut command = Command::new(program);
    command.arg0(&words[0]).args(&words[1..]);
    in_group(&mut command, spec);
    Some(command)
}

/// What every command gets: its folder, its environment, piped output, its
/// own process group.
fn in_group<'c>(command: &'c mut Command, spec: &CommandSpec<'_>) -> &'c mut Command {
    command
        .current_dir(spec.cwd)
        // Nothing of the worker's environment but what `spec.env` holds
        // (command_env.rs): repository code must not see its secrets.
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // A last resort if this value is dropped without `stop`.
        .kill_on_drop(true)
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // A run cut short (its future dropped) never reached `stop`.
        if !self.stopped {
            signal_group(self.pgid, libc::SIGKILL);
            self.ledger.closed(self.pgid);
        }
    }
}

/// In words, for messages (never Rust's debug form).
impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
            Exit::TimedOut => f.write_str("timed out"),
            Exit::Cancelled => f.write_str("cancelled"),
        }
    }
}

fn signal_group(pgid: i32, signal: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // touches no memory of ours. ESRCH (group gone) is fine.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

fn from_status(status: ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Signal(0),
    }
}
