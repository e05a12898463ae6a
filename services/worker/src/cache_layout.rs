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
//! <cache>/builds/<key>/                   one build's outputs, at their checkout paths
//! <cache>/builds/<key>.partial            an entry being filled, renamed to <key> when done
//! <cache>/builds/<key>.lock               the entry's lock; its mtime is its last use
//! <cache>/ccache/                         the worker's CCACHE_DIR
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

/// The folder of every build cache entry.
pub(crate) fn builds_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("builds")
}

/// The entry of build cache key `key` (a hex digest, so a folder name).
pub(crate) fn build_entry(builds_dir: &Path, key: &str) -> PathBuf {
    builds_dir.join(key)
}

/// The file whose lock guards a build cache entry; its mtime is the
/// entry's last use.
pub(crate) fn build_entry_lock(entry: &Path) -> PathBuf {
    entry.with_extension("lock")
}

/// The entry a lock file of [`build_entry_lock`] guards.
pub(crate) fn build_entry_of_lock(lock: &Path) -> PathBuf {
    lock.with_extension("")
}

/// Where an entry is filled before it is renamed into place, so a
/// half-copied entry is never restored.
pub(crate) fn partial_build_entry(entry: &Path) -> PathBuf {
    entry.with_extension("partial")
}

/// `CCACHE_DIR` of every `ccache = true` build of this worker.
pub(crate) fn ccache_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("ccache")
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

/// Opens (creating) a file used for its advisory lock (a worktree slot's
/// also says whether its worktree is clean: worktree_lease.rs).
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

/// The `*.lock` files in `dir`; none if `dir` does not exist.
pub(crate) fn lock_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut locks = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if is_lock_file(&path) {
            locks.push(path);
        }
    }
    Ok(locks)
}

/// Removes a cache folder (a mirror, a pool, a build entry) if it is there.
pub(crate) fn remove_dir_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
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
    fn a_build_entry_its_lock_and_its_partial_copy_sit_side_by_side() {
        let builds = builds_dir(Path::new("/c"));
        assert_eq!(builds, Path::new("/c/builds"));
        let entry = build_entry(&builds, "ab12");
        let lock = build_entry_lock(&entry);
        assert_eq!(lock, Path::new("/c/builds/ab12.lock"));
        assert!(is_lock_file(&lock) && !is_lock_file(&entry));
        assert_eq!(build_entry_of_lock(&lock), entry);
        assert_eq!(
            partial_build_entry(&entry),
            Path::new("/c/builds/ab12.partial")
        );
        assert_eq!(ccache_dir(Path::new("/c")), Path::new("/c/ccache"));
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
