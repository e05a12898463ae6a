//! Opened libgit2 repositories kept between checkouts. Opening one reads
//! its config files (its own, the user's, the system's), `HEAD`, and the
//! object database's folders: about 0.2 ms, twice per checkout (the mirror,
//! then the leased worktree), on the way to a queue's first task.
//!
//! A kept handle is used again only while its path is the same folder
//! (device, inode and birth time: a folder made anew may get the inode of
//! the one removed just before): a mirror or worktree removed and made anew — by this
//! worker's eviction, by `git worktree add` after a broken checkout, or by
//! another worker on the host — is opened afresh. libgit2 rereads refs,
//! `HEAD` and the index from disk when it uses them and rescans the object
//! database when an object is missing, so a kept handle sees fetches and
//! whatever a task did to its worktree.
//!
//! Every function blocks; callers run them on the blocking pool.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::Repository;

/// Handles kept at most (mirrors plus leased worktree slots); past it the
/// kept ones are dropped and opened again as needed.
const MAX_KEPT: usize = 64;

#[derive(Default)]
pub(crate) struct OpenRepos {
    kept: Mutex<HashMap<PathBuf, Kept>>,
}

struct Kept {
    repo: Repository,
    folder: FolderId,
}

/// Which folder a path named when its repository was opened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FolderId {
    dev: u64,
    ino: u64,
    born: std::time::SystemTime,
}

/// `None` where the file system keeps no birth time: nothing is kept there.
fn folder_id(path: &Path) -> Option<FolderId> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FolderId {
        dev: meta.dev(),
        ino: meta.ino(),
        born: meta.created().ok()?,
    })
}

impl OpenRepos {
    /// Runs `work` on the repository at `path`: a kept handle of that same
    /// folder, or one `open` makes. The handle is kept again only when
    /// `work` succeeded (an error may mean a broken repository).
    pub(crate) fn with<T, E: From<git2::Error>>(
        &self,
        path: &Path,
        open: impl FnOnce(&Path) -> Result<Repository, git2::Error>,
        work: impl FnOnce(&Repository) -> Result<T, E>,
    ) -> Result<T, E> {
        let folder = folder_id(path);
        let kept = self
            .lock()
            .remove(path)
            .filter(|k| Some(k.folder) == folder);
        let repo = match kept {
            Some(kept) => kept.repo,
            None => open(path)?,
        };
        let result = work(&repo);
        if let (Ok(_), Some(folder)) = (&result, folder) {
            let mut kept = self.lock();
            if kept.len() >= MAX_KEPT {
                kept.clear();
            }
            kept.insert(path.to_owned(), Kept { repo, folder });
        }
        result
    }

    /// Drops every kept handle (after an eviction removed folders: a kept
    /// handle holds its pack files open).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Kept>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static OPENED: Cell<usize> = const { Cell::new(0) };
    }

    fn counted_open(path: &Path) -> Result<Repository, git2::Error> {
        OPENED.with(|n| n.set(n.get() + 1));
        Repository::open(path)
    }

    fn head_is_unborn(repo: &Repository) -> Result<bool, git2::Error> {
        Ok(repo.head().is_err())
    }

    #[test]
    fn a_handle_is_kept_for_its_folder_and_reopened_when_the_folder_is_made_anew() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("repo");
        Repository::init(&path).unwrap();
        let repos = OpenRepos::default();
        for _ in 0..3 {
            assert!(repos.with(&path, counted_open, head_is_unborn).unwrap());
        }
        assert_eq!(OPENED.with(Cell::get), 1, "opened once, then kept");

        // Removed and made again at the same path: a new folder.
        std::fs::remove_dir_all(&path).unwrap();
        Repository::init(&path).unwrap();
        assert!(repos.with(&path, counted_open, head_is_unborn).unwrap());
        assert_eq!(OPENED.with(Cell::get), 2, "the old handle is not used");
    }

    #[test]
    fn a_handle_whose_work_failed_is_not_kept() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("repo");
        Repository::init(&path).unwrap();
        let repos = OpenRepos::default();
        let failed: Result<(), git2::Error> = repos.with(&path, counted_open, |_| {
            Err(git2::Error::from_str("broken"))
        });
        assert!(failed.is_err());
        repos.with(&path, counted_open, head_is_unborn).unwrap();
        assert_eq!(OPENED.with(Cell::get), 2);
    }

    #[test]
    fn a_missing_repository_is_an_error_not_a_kept_handle() {
        let root = tempfile::tempdir().unwrap();
        let repos = OpenRepos::default();
        let missing = repos.with(&root.path().join("nothing"), counted_open, head_is_unborn);
        assert!(missing.is_err());
    }
}
