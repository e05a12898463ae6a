//! Where the worker's git cache keeps things on disk. The code that fills
//! the cache (`git_mirror`) and the code that empties it (`cache_eviction`)
//! both ask this module, so they agree on the layout without depending on
//! each other:
//!
//! ```text
//! <cache>/mirrors/<name>.git              bare mirror of one repository URL
//! <cache>/mirrors/<name>.partial          a clone under way, renamed to .git when done
//! <cache>/mirrors/<name>.lock             the mirror's lock on the host; its mtime is its last use
//! <cache>/worktrees/<name>.git/<n>        worktree slot n of that mirror
//! <cache>/worktrees/<name>.git/<n>.lock   the slot's lease
//! ```

use std::path::{Path, PathBuf};

/// The folder of every mirror.
pub(crate) fn mirrors_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("mirrors")
}

/// The folder of every mirror's worktree pool.
pub(crate) fn worktrees_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("worktrees")
}

/// A stable, readable directory name for a URL: its last path segment plus
/// an FNV-1a hash of the whole URL.
pub(crate) fn mirror_name(url: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in url.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    let stem: String = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    format!("{stem}-{hash:016x}.git")
}

/// The file whose lock guards `mirror` on the host.
pub(crate) fn mirror_lock(mirror: &Path) -> PathBuf {
    mirror.with_extension("lock")
}

/// The mirror a lock file of [`mirror_lock`] guards.
pub(crate) fn mirror_of_lock(lock: &Path) -> PathBuf {
    lock.with_extension("git")
}

/// Where `mirror` is cloned before it is renamed into place, so a
/// half-finished clone never looks like a mirror.
pub(crate) fn partial_clone(mirror: &Path) -> PathBuf {
    mirror.with_extension("partial")
}

/// The pool of worktrees of the mirror named `mirror_name`.
pub(crate) fn worktree_pool(worktrees_dir: &Path, mirror_name: &str) -> PathBuf {
    worktrees_dir.join(mirror_name)
}

/// Worktree slot `slot` of `pool`.
pub(crate) fn slot_dir(pool: &Path, slot: usize) -> PathBuf {
    pool.join(slot.to_string())
}

/// The file whose lock leases slot `slot` of `pool`.
pub(crate) fn slot_lock(pool: &Path, slot: usize) -> PathBuf {
    pool.join(format!("{slot}.lock"))
}

/// Whether `path` is one of the cache's lock files (a mirror's or a slot's).
pub(crate) fn is_lock_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "lock")
}

/// Opens (creating) a file used only for its advisory lock.
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_names_are_stable_and_distinct() {
        let a = mirror_name("https://example.com/team/fw.git");
        assert!(a.starts_with("fw-"), "{a}");
        assert_eq!(a, mirror_name("https://example.com/team/fw.git"));
        assert_ne!(a, mirror_name("https://example.com/other/fw.git"));
    }

    #[test]
    fn a_mirror_its_lock_and_its_partial_clone_sit_side_by_side() {
        let mirrors = mirrors_dir(Path::new("/c"));
        let mirror = mirrors.join(mirror_name("git@host:team/fw"));
        let lock = mirror_lock(&mirror);
        assert!(is_lock_file(&lock));
        assert_eq!(lock.parent(), Some(mirrors.as_path()));
        assert_eq!(mirror_of_lock(&lock), mirror);
        assert_eq!(partial_clone(&mirror).parent(), Some(mirrors.as_path()));
        assert_ne!(partial_clone(&mirror), mirror);
        assert!(!is_lock_file(&mirror) && !is_lock_file(&partial_clone(&mirror)));
    }

    #[test]
    fn a_worktree_slot_and_its_lease_are_in_the_mirrors_pool() {
        let name = mirror_name("/repo");
        let pool = worktree_pool(&worktrees_dir(Path::new("/c")), &name);
        assert_eq!(pool, Path::new("/c/worktrees").join(&name));
        assert_eq!(slot_dir(&pool, 3), pool.join("3"));
        assert_eq!(slot_lock(&pool, 3), pool.join("3.lock"));
        assert!(is_lock_file(&slot_lock(&pool, 3)) && !is_lock_file(&slot_dir(&pool, 3)));
    }
}
