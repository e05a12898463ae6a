//! A worktree slot of a mirror's pool, leased by one queue at a time with a
//! file lock, and what that lock file says of the worktree. When a queue
//! ends, its worktree is made exactly its commit again, and the lock file
//! says `clean <sha>`: the next queue of that commit checks out nothing,
//! and one of another commit writes what differs without first looking for
//! leftovers — that work is off the way to the next queue's first task.
//! Leasing empties the mark before the queue changes anything, so a queue
//! that dies mid-run leaves no mark and the next one cleans in full.
//!
//! Every function blocks; callers run them on the blocking pool.

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use crate::cache_layout::{self, open_lock_file};
use crate::git_local::pinned_commit;

/// A leased slot: held until `file` is dropped.
pub(crate) struct Lease {
    pub file: File,
    pub dir: PathBuf,
    /// The commit the worktree was left clean at, if its last queue said so.
    pub clean_at: Option<String>,
}

/// The first slot of `pool` (of `slots`) that nobody holds; `None` when all
/// are held.
pub(crate) fn lease_worktree(pool: &Path, slots: usize) -> std::io::Result<Option<Lease>> {
    std::fs::create_dir_all(pool)?;
    for slot in 0..slots {
        let mut file = open_lock_file(&cache_layout::slot_lock(pool, slot))?;
        match file.try_lock() {
            Ok(()) => {
                let clean_at = take_clean_mark(&mut file)?;
                let dir = cache_layout::slot_dir(pool, slot);
                return Ok(Some(Lease {
                    file,
                    dir,
                    clean_at,
                }));
            }
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Ok(None)
}

/// Says in the lease's lock file that its worktree is exactly `sha`.
pub(crate) fn mark_clean(lease: &File, sha: &str) -> std::io::Result<()> {
    lease.set_len(0)?;
    lease.write_all_at(clean_mark(sha).as_bytes(), 0)
}

/// Reads the mark and empties the file: from now on the worktree may change.
fn take_clean_mark(file: &mut File) -> std::io::Result<Option<String>> {
    let mut text = String::new();
    // Not UTF-8: not a mark of ours.
    if file.read_to_string(&mut text).is_err() || text.is_empty() {
        return Ok(None);
    }
    file.set_len(0)?;
    Ok(parse_clean_mark(&text).map(str::to_owned))
}

fn clean_mark(sha: &str) -> String {
    format!("clean {sha}\n")
}

fn parse_clean_mark(text: &str) -> Option<&str> {
    pinned_commit(text.strip_prefix("clean ")?.strip_suffix('\n')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_mark_says_a_full_sha_and_nothing_else_counts() {
        assert_eq!(parse_clean_mark(&clean_mark(SHA)), Some(SHA));
        for text in [
            "",
            "clean \n",
            "clean abc\n",
            &format!("clean {SHA}"),
            "dirty",
        ] {
            assert_eq!(parse_clean_mark(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_lease_takes_the_mark_so_a_run_that_dies_leaves_none() {
        let root = tempfile::tempdir().unwrap();
        let pool = root.path().join("pool");
        let first = lease_worktree(&pool, 4).unwrap().unwrap();
        assert_eq!(first.clean_at, None, "a new slot has no mark");
        mark_clean(&first.file, SHA).unwrap();
        let slot = first.dir.clone();
        drop(first);

        let again = lease_worktree(&pool, 4).unwrap().unwrap();
        assert_eq!(again.dir, slot, "the free slot is taken again");
        assert_eq!(again.clean_at.as_deref(), Some(SHA));
        drop(again); // died mid-run: no new mark
        let after = lease_worktree(&pool, 4).unwrap().unwrap();
        assert_eq!(after.clean_at, None);
    }

    #[test]
    fn a_held_slot_is_skipped_and_all_held_is_none() {
        let root = tempfile::tempdir().unwrap();
        let pool = root.path().join("pool");
        let one = lease_worktree(&pool, 2).unwrap().unwrap();
        let two = lease_worktree(&pool, 2).unwrap().unwrap();
        assert_ne!(one.dir, two.dir);
        assert!(lease_worktree(&pool, 2).unwrap().is_none());
    }
}
