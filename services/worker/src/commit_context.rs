//! What a checked-out commit is, read from the mirror with libgit2: its
//! subject, author, date and first-parent depth (commits before it on its
//! first-parent chain). The depth gives commits their order along a branch
//! to readers without git: the gateway's Sizes page orders by it.
//!
//! Walking a long history costs one object lookup per commit, so the depth
//! of each commit checked out is kept (bounded), and a later walk stops at
//! the first commit it knows: a branch that moved on walks only its new
//! commits. A SHA names its whole history, so one table serves every
//! mirror.
//!
//! Every function blocks; callers run them on the blocking pool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use git2::{Oid, Repository};
use testarena_events::{rfc3339_of_millis, CommitContext, MAX_COMMIT_SUBJECT};

use crate::open_repos::OpenRepos;

/// Depths kept at most; past it the table starts over.
const MAX_KNOWN: usize = 4096;

/// First-parent depths of commits checked out before, by SHA.
#[derive(Default)]
pub(crate) struct KnownDepths {
    depths: Mutex<HashMap<Oid, u64>>,
}

impl KnownDepths {
    fn get(&self, oid: Oid) -> Option<u64> {
        self.lock().get(&oid).copied()
    }

    fn keep(&self, oid: Oid, depth: u64) {
        let mut depths = self.lock();
        if depths.len() >= MAX_KNOWN {
            depths.clear();
        }
        depths.insert(oid, depth);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Oid, u64>> {
        // A panic while holding it leaves a plain map: still usable.
        self.depths.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The context of commit `sha` in the bare mirror at `mirror`.
pub(crate) fn read_commit_context(
    repos: &OpenRepos,
    mirror: &Path,
    sha: &str,
    known: &KnownDepths,
) -> Result<CommitContext, git2::Error> {
    let oid = Oid::from_str(sha)?;
    repos.with(
        mirror,
        |p| Repository::open_bare(p),
        |repo| {
            let commit = repo.find_commit(oid)?;
            let depth = first_parent_depth(
                oid,
                |at| Ok::<_, git2::Error>(repo.find_commit(at)?.parent_ids().next()),
                |at| known.get(at),
            )?;
            known.keep(oid, depth);
            let author = commit.author();
            let seconds = u64::try_from(author.when().seconds()).unwrap_or(0);
            Ok(CommitContext {
                subject: subject_line(&String::from_utf8_lossy(commit.message_bytes())),
                author: format!(
                    "{} <{}>",
                    String::from_utf8_lossy(author.name_bytes()),
                    String::from_utf8_lossy(author.email_bytes())
                ),
                date: rfc3339_of_millis(seconds.saturating_mul(1000)),
                first_parent_depth: depth,
            })
        },
    )
}

/// Pure: commits before `start` on its first-parent chain, walking
/// `first_parent` until a root or a commit whose depth `known` gives.
fn first_parent_depth<E>(
    start: Oid,
    mut first_parent: impl FnMut(Oid) -> Result<Option<Oid>, E>,
    known: impl Fn(Oid) -> Option<u64>,
) -> Result<u64, E> {
    let (mut at, mut steps) = (start, 0u64);
    loop {
        if let Some(depth) = known(at) {
            return Ok(depth + steps);
        }
        match first_parent(at)? {
            Some(parent) => (at, steps) = (parent, steps + 1),
            None => return Ok(steps),
        }
    }
}

/// Pure: a message's first line, trimmed, at most [`MAX_COMMIT_SUBJECT`]
/// bytes (cut at a character boundary).
fn subject_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    let mut end = line.len().min(MAX_COMMIT_SUBJECT);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    /// A chain 0 ← 1 ← … ← 9 (0 the root).
    fn parent(at: Oid) -> Result<Option<Oid>, ()> {
        Ok(at.as_bytes()[0].checked_sub(1).map(oid))
    }

    #[test]
    fn depth_counts_first_parents_and_stops_at_a_known_commit() {
        assert_eq!(first_parent_depth(oid(9), parent, |_| None), Ok(9));
        assert_eq!(first_parent_depth(oid(0), parent, |_| None), Ok(0));
        let walked = std::cell::Cell::new(0);
        let counted = |at| {
            walked.set(walked.get() + 1);
            parent(at)
        };
        let known = |at: Oid| (at == oid(7)).then_some(7);
        assert_eq!(first_parent_depth(oid(9), counted, known), Ok(9));
        assert_eq!(walked.get(), 2, "only the commits after the known one");
    }

    #[test]
    fn a_subject_is_the_first_line_cut_at_a_character() {
        assert_eq!(subject_line("fix: uart\n\nbody\n"), "fix: uart");
        assert_eq!(subject_line(""), "");
        let long = "é".repeat(150);
        let cut = subject_line(&long);
        assert!(cut.len() <= MAX_COMMIT_SUBJECT && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_real_commit_reads_with_its_author_date_and_depth() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
                .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        git(&["init", "-q", "--bare"]);
        let commit = |message: &str, parent: Option<&str>| {
            let tree = git(&["hash-object", "-t", "tree", "-w", "/dev/null"]);
            let mut args = vec!["-c", "user.name=Ann", "-c", "user.email=a@x", "commit-tree"];
            args.extend(["-m", message, &tree]);
            if let Some(parent) = parent {
                args.extend(["-p", parent]);
            }
            git(&args)
        };
        let first = commit("first", None);
        let second = commit("second\n\nmore", Some(&first));
        let (repos, known) = (OpenRepos::default(), KnownDepths::default());
        let read = read_commit_context(&repos, dir.path(), &second, &known).unwrap();
        assert_eq!(read.subject, "second");
        assert_eq!(read.author, "Ann <a@x>");
        assert_eq!(read.date, "2026-01-02T03:04:05Z");
        assert_eq!(read.first_parent_depth, 1);
        assert!(read_commit_context(&repos, dir.path(), &"0".repeat(40), &known).is_err());
    }
}
