//! The build cache on the worker's disk: a successful build's
//! `build_outputs` copied into an entry of its key, and copied back into a
//! later checkout of the same key. An entry is filled in a `.partial`
//! folder and renamed into place, so a restore never sees half of one; its
//! lock file (held while it is filled, restored or removed) keeps two
//! queues and the eviction from stepping on each other, on this worker and
//! on any other worker sharing the work dir. The decisions are in
//! `build_cache`; the layout is `cache_layout`'s.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::artifact_files::{build_artifacts, files_under};
use crate::blocking::blocking;
use crate::build_archive;
use crate::build_cache::{to_evict, Bounds, BuildKey, Entry};
use crate::cache_layout::{
    build_entry, build_entry_lock, build_entry_of_lock, builds_dir, lock_files_in, open_lock_file,
    partial_build_entry, remove_dir_if_there,
};

/// What storing a build's outputs did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A new entry of this many files; `evicted` made room for it.
    New { files: usize, evicted: Vec<String> },
    /// Another queue of the same key stored it first.
    AlreadyThere,
    /// The globs matched no file: nothing to keep.
    NothingMatched,
}

/// The worker's build cache.
#[derive(Debug, Clone)]
pub(crate) struct BuildCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl BuildCache {
    pub(crate) fn new(cache_dir: &Path, max_bytes: u64) -> Self {
        Self {
            dir: builds_dir(cache_dir),
            max_bytes,
        }
    }

    /// Copies the entry of `key` into `checkout`, each file at its path;
    /// the number of files, or `None` when there is no entry.
    pub(crate) async fn restore(
        &self,
        key: &BuildKey,
        checkout: &Path,
    ) -> std::io::Result<Option<usize>> {
        let (entry, checkout) = (build_entry(&self.dir, key.as_str()), checkout.to_owned());
        blocking(move || restore(&entry, &checkout)).await?
    }

    /// Keeps the files `globs` match in `checkout` under `key`, then
    /// evicts what the size bound asks for.
    pub(crate) async fn store(
        &self,
        key: &BuildKey,
        checkout: &Path,
        globs: &[String],
    ) -> std::io::Result<Stored> {
        let entry = build_entry(&self.dir, key.as_str());
        let (checkout, globs) = (checkout.to_owned(), globs.to_vec());
        let (dir, max_bytes) = (self.dir.clone(), self.max_bytes);
        blocking(move || {
            let stored = store(&entry, &checkout, &globs)?;
            let Stored::New { files, .. } = stored else {
                return Ok(stored);
            };
            let bounds = Bounds {
                max_bytes,
                max_age: None,
            };
            let evicted = evict(&dir, bounds)?;
            Ok(Stored::New { files, evicted })
        })
        .await?
    }

    /// Writes the entry of `key` into the file `archive` (build_archive.rs),
    /// for the shared bucket; the number of files, `None` without an entry.
    pub(crate) async fn pack(
        &self,
        key: &BuildKey,
        archive: &Path,
    ) -> std::io::Result<Option<usize>> {
        let (entry, archive) = (build_entry(&self.dir, key.as_str()), archive.to_owned());
        blocking(move || {
            let _lock = lock_entry(&entry)?;
            if !entry.is_dir() {
                return Ok(None);
            }
            build_archive::pack(&entry, &archive).map(Some)
        })
        .await?
    }

    /// Makes the entry of `key` from the file `archive` another host packed
    /// (kept as it is when this cache has it already) and restores it into
    /// `checkout`; then evicts what the size bound asks for. The number of
    /// files restored, `None` when the entry was gone before the restore.
    pub(crate) async fn restore_archive(
        &self,
        key: &BuildKey,
        archive: &Path,
        checkout: &Path,
    ) -> std::io::Result<Option<usize>> {
        let entry = build_entry(&self.dir, key.as_str());
        let (archive, checkout) = (archive.to_owned(), checkout.to_owned());
        let (dir, max_bytes) = (self.dir.clone(), self.max_bytes);
        blocking(move || {
            install(&entry, &archive)?;
            let restored = restore(&entry, &checkout)?;
            let bounds = Bounds {
                max_bytes,
                max_age: None,
            };
            evict(&dir, bounds)?;
            Ok(restored)
        })
        .await?
    }

    /// Removes entries unused for `max_age`, and the least recently used
    /// ones past the size bound; the keys removed.
    pub(crate) async fn evict(&self, max_age: Option<Duration>) -> std::io::Result<Vec<String>> {
        let dir = self.dir.clone();
        let bounds = Bounds {
            max_bytes: self.max_bytes,
            max_age,
        };
        blocking(move || evict(&dir, bounds)).await?
    }
}

fn restore(entry: &Path, checkout: &Path) -> std::io::Result<Option<usize>> {
    if !entry.is_dir() {
        return Ok(None);
    }
    let lock = lock_entry(entry)?;
    // Evicted while this waited for the lock.
    if !entry.is_dir() {
        return Ok(None);
    }
    let files = files_under(entry, None);
    let root = checkout.canonicalize()?;
    for file in &files {
        let target = checkout.join(&file.name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
            inside(&root, parent)?;
        }
        // A build of the worktree's previous queue may have left a file
        // there, perhaps read-only: replace it, never write through it.
        remove_file_if_there(&target)?;
        std::fs::copy(&file.path, &target)?;
    }
    lock.set_modified(SystemTime::now())?;
    Ok(Some(files.len()))
}

/// Refuses a folder that resolves outside the checkout: a repository can
/// commit a symbolic link where a restored file's folder should be.
fn inside(root: &Path, folder: &Path) -> std::io::Result<()> {
    if folder.canonicalize()?.starts_with(root) {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "{} leads outside the checkout (a symbolic link); not restoring through it",
        folder.display()
    )))
}

/// A new entry (nothing evicted yet), or why nothing was stored.
fn store(entry: &Path, checkout: &Path, globs: &[String]) -> std::io::Result<Stored> {
    let root = checkout.canonicalize()?;
    // Only files really in the checkout: a glob may match through a
    // committed symbolic link to a folder elsewhere on the host.
    let files: Vec<_> = build_artifacts(checkout, globs)
        .into_iter()
        .filter(|f| f.path.parent().is_some_and(|p| inside(&root, p).is_ok()))
        .collect();
    if files.is_empty() {
        return Ok(Stored::NothingMatched);
    }
    let lock = lock_entry(entry)?;
    if entry.is_dir() {
        lock.set_modified(SystemTime::now())?;
        return Ok(Stored::AlreadyThere);
    }
    // Left by a worker that died filling it: this holds the lock now.
    let partial = partial_build_entry(entry);
    remove_dir_if_there(&partial)?;
    if let Err(e) = fill(&partial, &files) {
        // A full disk, most likely: give its room back now, not at the
        // next store of this key.
        let _ = remove_dir_if_there(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, entry)?;
    lock.set_modified(SystemTime::now())?;
    Ok(Stored::New {
        files: files.len(),
        evicted: Vec::new(),
    })
}

/// Unpacks `archive` into a `.partial` folder and renames it into place,
/// holding the entry's lock.
fn install(entry: &Path, archive: &Path) -> std::io::Result<()> {
    let lock = lock_entry(entry)?;
    if !entry.is_dir() {
        let partial = partial_build_entry(entry);
        remove_dir_if_there(&partial)?;
        if let Err(e) = build_archive::unpack(archive, &partial) {
            let _ = remove_dir_if_there(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, entry)?;
    }
    lock.set_modified(SystemTime::now())
}

/// Copies `files` into the `partial` entry, each at its path.
fn fill(partial: &Path, files: &[crate::artifact_files::Candidate]) -> std::io::Result<()> {
    for file in files {
        let target = partial.join(&file.name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&file.path, &target)?;
    }
    Ok(())
}

/// Opens the entry's lock file (creating the cache folder) and waits for it.
fn lock_entry(entry: &Path) -> std::io::Result<File> {
    if let Some(dir) = entry.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock = open_lock_file(&build_entry_lock(entry))?;
    lock.lock()?;
    Ok(lock)
}

/// Looks at every entry (holding the lock of each one not in use), asks
/// `to_evict`, and removes what it chose.
fn evict(dir: &Path, bounds: Bounds) -> std::io::Result<Vec<String>> {
    let mut entries = Vec::new();
    let mut held: BTreeMap<String, File> = BTreeMap::new();
    for lock_path in lock_files_in(dir)? {
        let entry = build_entry_of_lock(&lock_path);
        let Some(key) = entry.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !entry.is_dir() {
            continue;
        }
        let lock = open_lock_file(&lock_path)?;
        let in_use = lock.try_lock().is_err();
        let last_use = lock.metadata()?.modified()?;
        let bytes = files_under(&entry, None).iter().map(|f| f.size).sum();
        if !in_use {
            held.insert(key.clone(), lock);
        }
        entries.push(Entry {
            key,
            bytes,
            last_use,
            in_use,
        });
    }
    let chosen = to_evict(&entries, bounds, SystemTime::now());
    for key in &chosen {
        // The lock file stays: a queue that opened it just now must find
        // the same file, or two could fill the entry at once.
        let entry = build_entry(dir, key);
        remove_dir_if_there(&entry)?;
        remove_dir_if_there(&partial_build_entry(&entry))?;
    }
    drop(held);
    Ok(chosen)
}

fn remove_file_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> BuildKey {
        let env = BTreeMap::new();
        BuildKey::of(&crate::build_cache::KeyInputs {
            repo: "r",
            commit: &n.to_string(),
            profile: "p",
            build_command: "make",
            env: &env,
            outputs: &[],
        })
    }

    fn checkout_with(root: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("fw/build")).unwrap();
        std::fs::write(dir.join("fw/build/fw.elf"), bytes).unwrap();
        std::fs::write(dir.join("fw/build/fw.o"), b"not an output").unwrap();
        dir
    }

    #[tokio::test]
    async fn stored_outputs_come_back_at_their_paths_in_another_checkout() {
        let root = tempfile::tempdir().unwrap();
        let cache = BuildCache::new(&root.path().join("cache"), u64::MAX);
        let built = checkout_with(root.path(), "a", b"elf!");
        let globs = ["fw/build/*.elf".to_owned()];
        let stored = cache.store(&key(1), &built, &globs).await.unwrap();
        assert_eq!(
            stored,
            Stored::New {
                files: 1,
                evicted: vec![]
            }
        );
        assert_eq!(
            cache.store(&key(1), &built, &globs).await.unwrap(),
            Stored::AlreadyThere
        );
        assert_eq!(
            cache.store(&key(2), &built, &["x/*".into()]).await.unwrap(),
            Stored::NothingMatched
        );

        let fresh = root.path().join("b");
        std::fs::create_dir_all(&fresh).unwrap();
        assert_eq!(cache.restore(&key(1), &fresh).await.unwrap(), Some(1));
        assert_eq!(
            std::fs::read(fresh.join("fw/build/fw.elf")).unwrap(),
            b"elf!"
        );
        assert!(!fresh.join("fw/build/fw.o").exists());
        assert_eq!(cache.restore(&key(3), &fresh).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_restore_never_writes_through_a_symbolic_link_out_of_the_checkout() {
        let root = tempfile::tempdir().unwrap();
        let cache = BuildCache::new(&root.path().join("cache"), u64::MAX);
        let built = checkout_with(root.path(), "a", b"elf!");
        cache
            .store(&key(1), &built, &["fw/build/*.elf".to_owned()])
            .await
            .unwrap();
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let hostile = root.path().join("b");
        std::fs::create_dir_all(hostile.join("fw")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, hostile.join("fw/build")).unwrap();
        let err = cache.restore(&key(1), &hostile).await.unwrap_err();
        assert!(err.to_string().contains("outside the checkout"), "{err}");
        assert!(!elsewhere.join("fw.elf").exists());
        // Nor is a file reached through such a link kept.
        std::fs::write(elsewhere.join("fw.elf"), b"host file").unwrap();
        let stored = cache
            .store(&key(2), &hostile, &["fw/build/*.elf".to_owned()])
            .await
            .unwrap();
        assert_eq!(stored, Stored::NothingMatched);
    }

    #[tokio::test]
    async fn past_the_bound_the_least_recently_used_entry_goes() {
        let root = tempfile::tempdir().unwrap();
        let cache = BuildCache::new(&root.path().join("cache"), 10);
        let globs = ["fw/build/*.elf".to_owned()];
        let a = checkout_with(root.path(), "a", b"123456");
        let b = checkout_with(root.path(), "b", b"abcdef");
        cache.store(&key(1), &a, &globs).await.unwrap();
        let Stored::New { evicted, .. } = cache.store(&key(2), &b, &globs).await.unwrap() else {
            panic!("a new entry")
        };
        assert_eq!(evicted, [key(1).as_str()]);
        assert_eq!(cache.restore(&key(1), &a).await.unwrap(), None);
        assert_eq!(cache.restore(&key(2), &a).await.unwrap(), Some(1));
    }
}
