//! A run's own folder (`<work>/workspaces/<queue>-a<attempt>/results/<task>/`),
//! recycled instead of made and removed for every run.
//!
//! Why: on an ext4 file system without a journal, creating a file or a
//! folder scans the inodes deleted in about the last minute
//! (`recently_deleted`), so every folder a run makes and removes taxes every
//! file made after it, the projector's queue folders included
//! (docs/benchmarks.md, "The disk of this machine"). A run's folder is
//! therefore renamed, not removed, when it ends — its result folders
//! emptied and kept — and the next run takes a spare by renaming it: a
//! queue with the same task ids as the one before makes and removes no
//! folder at all. Every result folder is empty when its run starts, as
//! `{result_dir}` promises.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use testarena_events::TaskId;

/// Spares kept at most; past it a finished run's folder is removed.
const MAX_SPARES: usize = 16;
const SPARE_PREFIX: &str = ".spare-";

/// What to change in a recycled folder's `results/` for a run of `tasks`:
/// result folders to remove (no task of the run has that id) and to make.
pub(crate) fn results_change(
    existing: &BTreeSet<String>,
    tasks: &[TaskId],
) -> (Vec<String>, Vec<String>) {
    let wanted: BTreeSet<&str> = tasks.iter().map(TaskId::as_str).collect();
    let remove = existing
        .iter()
        .filter(|name| !wanted.contains(name.as_str()))
        .cloned()
        .collect();
    let make = wanted
        .iter()
        .filter(|id| !existing.contains(**id))
        .map(|id| (*id).to_owned())
        .collect();
    (remove, make)
}

/// The workspaces folder of this worker. Blocking: callers run it on the
/// blocking pool.
pub(crate) struct WorkspacePool {
    root: PathBuf,
}

impl WorkspacePool {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Makes `dir` (under the pool's root) the run's folder with an empty
    /// result folder per task: a spare renamed to it, or a new one.
    pub(crate) fn take(&self, dir: &Path, tasks: &[TaskId]) -> std::io::Result<()> {
        // What an earlier attempt of this run left goes.
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(&self.root)?;
        let recycled = (0..MAX_SPARES).any(|n| std::fs::rename(self.spare(n), dir).is_ok());
        let results = dir.join("results");
        if !recycled {
            std::fs::create_dir_all(&results)?;
        }
        let existing = std::fs::read_dir(&results)?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        let (remove, make) = results_change(&existing, tasks);
        for name in remove {
            remove_any(&results.join(name))?;
        }
        for name in make {
            std::fs::create_dir(results.join(name))?;
        }
        Ok(())
    }

    /// The run in `dir` ended: its result folders are emptied and it
    /// becomes a spare, or is removed when there are enough spares.
    pub(crate) fn give_back(&self, dir: &Path) {
        let emptied = empty_results(&dir.join("results")).is_ok();
        let kept = emptied
            && (0..MAX_SPARES).any(|n| {
                let spare = self.spare(n);
                // rename(2) replaces an empty folder: only take a free name.
                !spare.exists() && std::fs::rename(dir, spare).is_ok()
            });
        if !kept {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn spare(&self, n: usize) -> PathBuf {
        self.root.join(format!("{SPARE_PREFIX}{n}"))
    }
}

/// Removes what is in each result folder, keeping the folders; anything
/// else in `results/` goes.
fn empty_results(results: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(results)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            for inside in std::fs::read_dir(entry.path())? {
                remove_any(&inside?.path())?;
            }
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// A file, a symlink or a folder with all it holds.
fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path)?.is_dir() {
        true => std::fs::remove_dir_all(path),
        false => std::fs::remove_file(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<TaskId> {
        names.iter().map(|n| TaskId::parse(*n).unwrap()).collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_same_task_ids_change_nothing_and_others_are_swapped() {
        let none: Vec<String> = vec![];
        assert_eq!(
            results_change(&set(&["t0", "t1"]), &ids(&["t0", "t1"])),
            (none.clone(), none.clone())
        );
        assert_eq!(
            results_change(&set(&["t0", "old"]), &ids(&["t0", "new"])),
            (vec!["old".to_owned()], vec!["new".to_owned()])
        );
        assert_eq!(
            results_change(&set(&[]), &ids(&["a", "b"])),
            (none, vec!["a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn a_recycled_folder_holds_exactly_empty_result_folders_of_the_run() {
        let root = tempfile::tempdir().unwrap();
        let pool = WorkspacePool::new(root.path().join("workspaces"));
        let first = root.path().join("workspaces/q1-a1");
        pool.take(&first, &ids(&["t0", "t1"])).unwrap();
        std::fs::write(first.join("results/t0/junit.xml"), "x").unwrap();
        std::fs::create_dir(first.join("results/t1/deep")).unwrap();
        std::fs::write(first.join("results/t1/deep/f"), "x").unwrap();
        pool.give_back(&first);
        assert!(!first.exists());

        let second = root.path().join("workspaces/q2-a1");
        pool.take(&second, &ids(&["t1", "t2"])).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(second.join("results"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["t1", "t2"]);
        for name in names {
            let dir = second.join("results").join(name);
            assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
        }
        // The spare was taken, not copied.
        assert!(!root.path().join("workspaces/.spare-0").exists());
    }
}
