//! Which files of a run are artifacts, and the name each is stored under:
//! the profile's `artifacts` globs in the checkout after the build (named
//! by their checkout-relative path), and every file under a task's result
//! dir (named `<task>/<path>`). Symbolic links are not followed: a task
//! could point one anywhere on the worker's disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use testarena_events::TaskId;

/// A file to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
}

/// The regular files the globs match in the checkout, each once, by name.
/// A glob that matches nothing is not an error (a build may not make a
/// map file), and names that are not UTF-8 are left out.
pub(crate) fn build_artifacts(checkout: &Path, globs: &[String]) -> Vec<Candidate> {
    let root = glob::Pattern::escape(&checkout.to_string_lossy());
    let mut found = BTreeMap::new();
    for pattern in globs {
        let Ok(paths) = glob::glob(&format!("{root}/{pattern}")) else {
            continue;
        };
        for path in paths.flatten() {
            if let Some(candidate) = regular_file(checkout, &path, None) {
                found.insert(candidate.name.clone(), candidate);
            }
        }
    }
    found.into_values().collect()
}

/// Every regular file under a task's result dir, in name order.
pub(crate) fn task_files(task: &TaskId, result_dir: &Path) -> Vec<Candidate> {
    files_under(result_dir, Some(task))
}

/// Every regular file under `root`, named by its path below it (behind
/// `task/` when a task is given), in name order.
pub(crate) fn files_under(root: &Path, task: Option<&TaskId>) -> Vec<Candidate> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => folders.push(path),
                Ok(kind) if kind.is_file() => {
                    found.extend(regular_file(root, &path, task));
                }
                _ => {}
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

fn regular_file(root: &Path, path: &Path, task: Option<&TaskId>) -> Option<Candidate> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    let relative = path.strip_prefix(root).ok()?.to_str()?;
    let name = match task {
        Some(task) => format!("{task}/{relative}"),
        None => relative.to_owned(),
    };
    Some(Candidate {
        name,
        path: path.to_owned(),
        size: meta.len(),
    })
}

/// Why a profile's `artifacts` glob is refused at start: it must stay in
/// the checkout.
pub(crate) fn check_glob(pattern: &str) -> Result<(), String> {
    if pattern.starts_with('/') || pattern.split('/').any(|part| part == "..") {
        return Err(format!(
            "{pattern:?} must be a path inside the checkout (relative, no '..')"
        ));
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("{pattern:?} is not a glob: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_in_the_checkout() {
        assert!(check_glob("firmware/build/*.elf").is_ok());
        assert!(check_glob("/etc/*").is_err());
        assert!(check_glob("../other/*.elf").is_err());
        assert!(check_glob("build/[").is_err());
    }

    #[test]
    fn build_and_task_files_are_named_as_the_api_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("fw/build")).unwrap();
        std::fs::write(root.join("fw/build/fw.elf"), b"elf").unwrap();
        std::fs::write(root.join("fw/build/fw.map"), b"map!").unwrap();
        std::fs::write(root.join("fw/build/fw.o"), b"o").unwrap();
        let globs = [
            "fw/build/*.elf".into(),
            "fw/build/*.map".into(),
            "fw/*.elf".into(),
        ];
        let names: Vec<(String, u64)> = build_artifacts(root, &globs)
            .into_iter()
            .map(|c| (c.name, c.size))
            .collect();
        assert_eq!(
            names,
            [("fw/build/fw.elf".into(), 3), ("fw/build/fw.map".into(), 4)]
        );

        let results = root.join("results");
        std::fs::create_dir_all(results.join("deep")).unwrap();
        std::fs::write(results.join("junit.xml"), b"x").unwrap();
        std::fs::write(results.join("deep/trace.bin"), b"yy").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", results.join("link")).unwrap();
        let task = TaskId::parse("smoke").unwrap();
        let names: Vec<String> = task_files(&task, &results)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["smoke/deep/trace.bin", "smoke/junit.xml"]);
    }
}
