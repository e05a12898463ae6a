//! Removes mirrors (with their worktrees) that no queue has used for a
//! while, so a worker host that builds many repositories does not grow
//! without bound. "Used" is the modification time of the mirror's lock
//! file, which every checkout touches. A mirror is removed only while this
//! sweep holds its lock and the lock of every worktree slot, so nothing in
//! use — by this process or another worker on the host — is touched; one
//! in use is left for the next sweep.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cache_layout::{
    lock_files_in, mirror_of_lock, open_lock_file, partial_clone, remove_dir_if_there,
    worktree_pool,
};

/// The mirrors removed, by folder name.
pub(crate) fn evict_unused(
    mirrors: &Path,
    worktrees: &Path,
    max_age: Duration,
) -> std::io::Result<Vec<String>> {
    let Some(cutoff) = SystemTime::now().checked_sub(max_age) else {
        return Ok(Vec::new());
    };
    let mut evicted = Vec::new();
    for lock in lock_files_in(mirrors)? {
        let mirror = mirror_of_lock(&lock);
        let Some(name) = mirror.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if std::fs::metadata(&lock)?.modified()? >= cutoff || !mirror.exists() {
            continue;
        }
        // The lock file stays: a worker that opened it just now must find
        // the same file, or two could clone the mirror at once.
        let held = open_lock_file(&lock)?;
        if held.try_lock().is_err() {
            continue;
        }
        let pool = worktree_pool(worktrees, &name);
        let Some(_slots) = lock_every_slot(&pool)? else {
            continue;
        };
        remove_dir_if_there(&pool)?;
        remove_dir_if_there(&mirror)?;
        remove_dir_if_there(&partial_clone(&mirror))?;
        evicted.push(name);
    }
    Ok(evicted)
}

/// Locks of every worktree slot in `pool`, or `None` if a queue holds one.
fn lock_every_slot(pool: &Path) -> std::io::Result<Option<Vec<std::fs::File>>> {
    let mut held = Vec::new();
    for path in lock_files_in(pool)? {
        let file = open_lock_file(&path)?;
        if file.try_lock().is_err() {
            return Ok(None);
        }
        held.push(file);
    }
    Ok(Some(held))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    /// A mirror folder, its lock file last used `age` ago, and a worktree
    /// pool with one slot.
    fn cached(root: &Path, stem: &str, age: Duration) -> (PathBuf, PathBuf) {
        let (mirrors, worktrees) = (root.join("mirrors"), root.join("worktrees"));
        let mirror = mirrors.join(format!("{stem}.git"));
        std::fs::create_dir_all(mirror.join("objects")).unwrap();
        let lock = mirrors.join(format!("{stem}.lock"));
        let file = open_lock_file(&lock).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        let pool = worktrees.join(format!("{stem}.git"));
        std::fs::create_dir_all(pool.join("0")).unwrap();
        open_lock_file(&pool.join("0.lock")).unwrap();
        (mirror, pool)
    }

    #[test]
    fn only_mirrors_unused_for_the_age_and_not_in_use_go() {
        let root = tempfile::tempdir().unwrap();
        let (mirrors, worktrees) = (root.path().join("mirrors"), root.path().join("worktrees"));
        let (old, old_pool) = cached(root.path(), "old", 30 * DAY);
        let (recent, recent_pool) = cached(root.path(), "recent", DAY);
        let (fetching, _) = cached(root.path(), "fetching", 30 * DAY);
        let (running, running_pool) = cached(root.path(), "running", 30 * DAY);
        // Held as a worker holds them: the mirror's lock while it fetches,
        // a slot's lock while a queue runs in that worktree.
        let mirror_lock = open_lock_file(&mirrors.join("fetching.lock")).unwrap();
        mirror_lock.lock().unwrap();
        let slot_lock = open_lock_file(&running_pool.join("0.lock")).unwrap();
        slot_lock.lock().unwrap();

        let evicted = evict_unused(&mirrors, &worktrees, 14 * DAY).unwrap();

        assert_eq!(evicted, ["old.git"]);
        assert!(!old.exists() && !old_pool.exists());
        assert!(mirrors.join("old.lock").exists(), "the lock file stays");
        assert!(recent.exists() && recent_pool.exists());
        assert!(fetching.exists() && running.exists() && running_pool.exists());
        // Once nothing holds them, they go too.
        drop((mirror_lock, slot_lock));
        let mut evicted = evict_unused(&mirrors, &worktrees, 14 * DAY).unwrap();
        evicted.sort();
        assert_eq!(evicted, ["fetching.git", "running.git"]);
    }

    #[test]
    fn an_empty_or_missing_cache_is_fine() {
        let root = tempfile::tempdir().unwrap();
        let none = evict_unused(&root.path().join("m"), &root.path().join("w"), DAY).unwrap();
        assert!(none.is_empty());
    }
}
