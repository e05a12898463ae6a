//! Nothing a worker started outlives it. Every command runs in its own
//! process group; the worker tells a small reaper process (the same binary,
//! `reap-process-groups`) over a pipe which groups are alive. When the worker
//! dies — even by SIGKILL — the kernel closes the pipe, and the reaper kills
//! every group still listed, at once.
//!
//! The reaper mirrors its list in files under `<work dir>/process-groups/`
//! (one folder per worker process, one file per group), so a worker that
//! starts after both were killed reaps what they left. A process that leaves
//! its group (`setsid`, a daemon) escapes all of this; docs/operations.md says so.

use std::io::{BufRead, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

/// The worker's side: announces groups to the reaper. Cheap to clone; the
/// reaper exits (reaping what is left) when the last clone is dropped and
/// the worker exits.
#[derive(Clone, Default)]
pub(crate) struct GroupLedger {
    reaper: Option<Arc<Reaper>>,
}

struct Reaper {
    pipe: Mutex<ChildStdin>,
    // Held so the reaper is waited for, not left a zombie, while we live.
    _child: Mutex<Child>,
}

/// One line on the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Opened { pgid: i32, started: u64 },
    Closed { pgid: i32 },
}

impl Entry {
    fn to_line(&self) -> String {
        match self {
            Self::Opened { pgid, started } => format!("+{pgid} {started}\n"),
            Self::Closed { pgid } => format!("-{pgid}\n"),
        }
    }

    fn parse(line: &str) -> Option<Self> {
        let (sign, rest) = line.trim().split_at_checked(1)?;
        match sign {
            "+" => {
                let (pgid, started) = rest.split_once(' ')?;
                Some(Self::Opened {
                    pgid: pgid.parse().ok().filter(|p| *p > 1)?,
                    started: started.parse().ok()?,
                })
            }
            "-" => Some(Self::Closed {
                pgid: rest.parse().ok()?,
            }),
            _ => None,
        }
    }
}

impl GroupLedger {
    /// Reaps what dead workers left under `root`, then starts this worker's
    /// reaper: `reaper_command` is the program and its leading arguments;
    /// `--ledger <folder>` is appended.
    pub(crate) fn start(
        root: &Path,
        reaper_command: &[std::ffi::OsString],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        reap_leftovers(root);
        let Some((program, args)) = reaper_command.split_first() else {
            return Ok(Self::default());
        };
        let me = std::process::id() as i32;
        let folder = root.join(format!("{me}-{}", start_time(me).unwrap_or(0)));
        let mut child = Command::new(program)
            .args(args)
            .arg("--ledger")
            .arg(&folder)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            // Its own group: a Ctrl-C meant for the worker does not end it
            // before the worker has stopped its commands.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting the process-group reaper {program:?}"))?;
        let pipe = child.stdin.take().context("the reaper's stdin")?;
        Ok(Self {
            reaper: Some(Arc::new(Reaper {
                pipe: Mutex::new(pipe),
                _child: Mutex::new(child),
            })),
        })
    }

    pub(crate) fn opened(&self, pgid: i32) {
        let started = start_time(pgid).unwrap_or(0);
        self.send(Entry::Opened { pgid, started });
    }

    pub(crate) fn closed(&self, pgid: i32) {
        self.send(Entry::Closed { pgid });
    }

    fn send(&self, entry: Entry) {
        if let Some(reaper) = &self.reaper {
            // A line is far below PIPE_BUF: one write, never interleaved.
            let mut pipe = reaper.pipe.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = pipe.write_all(entry.to_line().as_bytes()) {
                tracing::warn!(error = %e, "the process-group reaper is gone");
            }
        }
    }
}

/// The reaper process: `testarena reap-process-groups --ledger <folder>`.
/// Mirrors the worker's announcements into `folder` and, once its stdin
/// closes, kills every group still open and removes the folder.
pub fn run_reaper(folder: &Path) -> anyhow::Result<()> {
    // SAFETY: setting a signal's disposition to SIG_IGN touches no memory.
    // The reaper outlives signals meant for the worker; it ends on EOF.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        match Entry::parse(&line) {
            Some(Entry::Opened { pgid, started }) => {
                let _ = std::fs::write(folder.join(pgid.to_string()), started.to_string());
            }
            Some(Entry::Closed { pgid }) => {
                let _ = std::fs::remove_file(folder.join(pgid.to_string()));
            }
            None => {}
        }
    }
    reap_folder(folder);
    Ok(())
}

/// Kills the groups listed in the folders of workers that are gone.
fn reap_leftovers(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(WorkerTag::parse) else {
            continue;
        };
        if !owner.is_alive() {
            reap_folder(&entry.path());
        }
    }
}

fn reap_folder(folder: &Path) {
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries.flatten() {
            let pgid = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok());
            let started = std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            if let (Some(pgid), Some(started)) = (pgid, started) {
                kill_group_if_ours(pgid, started);
            }
        }
    }
    let _ = std::fs::remove_dir_all(folder);
}

/// `<pid>-<start time>` of a worker process: the start time tells a live
/// worker from a new process that got the same pid.
struct WorkerTag {
    pid: i32,
    started: u64,
}

impl WorkerTag {
    fn parse(name: &str) -> Option<Self> {
        let (pid, started) = name.split_once('-')?;
        Some(Self {
            pid: pid.parse().ok()?,
            started: started.parse().ok()?,
        })
    }

    fn is_alive(&self) -> bool {
        start_time(self.pid) == Some(self.started)
    }
}

/// Kills group `pgid` unless its number now belongs to another process: a
/// live leader that started at another time than recorded.
fn kill_group_if_ours(pgid: i32, started: u64) {
    if should_kill(start_time(pgid), started) {
        // SAFETY: kill(2) on a process group; touches no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// The decision of [`kill_group_if_ours`]: `leader_now` is the start time of
/// the process whose pid is `pgid`, if one is alive.
fn should_kill(leader_now: Option<u64>, recorded: u64) -> bool {
    match leader_now {
        // The leader died (its group may live on) or is the one we started.
        None => true,
        Some(now) => now == recorded,
    }
}

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat`
/// field 22), or `None` when no such process is running.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; fields
    // after the last ')' are plain. Field 22 is the 20th after it.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_nonsense_is_ignored() {
        for entry in [
            Entry::Opened {
                pgid: 4242,
                started: 987654,
            },
            Entry::Closed { pgid: 4242 },
        ] {
            assert_eq!(Entry::parse(&entry.to_line()), Some(entry));
        }
        for line in ["", "+", "+12", "+x 1", "*12", "+1 5", "+-5 1"] {
            assert_eq!(Entry::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn a_group_is_killed_unless_its_number_went_to_a_newer_process() {
        assert!(should_kill(None, 100));
        assert!(should_kill(Some(100), 100));
        assert!(!should_kill(Some(250), 100));
    }

    #[test]
    fn reads_the_start_time_past_a_command_name_with_spaces() {
        let stat =
            "123 (sh -c (x) y) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200";
        assert_eq!(parse_start_time(stat), Some(98765));
        let zombie = stat.replace(") S ", ") Z ");
        assert_eq!(parse_start_time(&zombie), None);
    }

    #[test]
    fn a_live_worker_is_told_from_a_reused_pid() {
        let me = std::process::id() as i32;
        let started = start_time(me).unwrap();
        assert!(WorkerTag::parse(&format!("{me}-{started}"))
            .unwrap()
            .is_alive());
        assert!(!WorkerTag::parse(&format!("{me}-{}", started + 1))
            .unwrap()
            .is_alive());
        assert!(WorkerTag::parse("nonsense").is_none());
    }

    #[test]
    fn leftovers_of_a_dead_worker_are_killed_and_a_live_workers_kept() {
        let root = tempfile::tempdir().unwrap();
        let mut orphan = Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut kept = Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let record = |folder: &Path, child: &Child| {
            std::fs::create_dir_all(folder).unwrap();
            let pid = child.id() as i32;
            std::fs::write(
                folder.join(pid.to_string()),
                start_time(pid).unwrap().to_string(),
            )
            .unwrap();
        };
        // A worker that died: pid 1's start time is not 1.
        let dead = root.path().join("1-1");
        record(&dead, &orphan);
        let me = std::process::id() as i32;
        let live = root
            .path()
            .join(format!("{me}-{}", start_time(me).unwrap()));
        record(&live, &kept);

        reap_leftovers(root.path());

        use std::os::unix::process::ExitStatusExt;
        assert_eq!(orphan.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(!dead.exists());
        assert!(
            kept.try_wait().unwrap().is_none(),
            "a live worker's group is left alone"
        );
        assert!(live.exists());
        kept.kill().unwrap();
        kept.wait().unwrap();
    }
}
