//! What the scenarios run against: real git repositories in temp dirs, the
//! worker profiles, and queue bodies.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

/// Worker profiles of the benchmark. `trivial` runs `true` for every task
/// (the engine's own cost); `stamp` prints the wall clock as the task's
/// first act (`date`, started without a shell); `sh` and `py` run a script
/// from the repository;
/// `artifacts` runs the repository's `build.sh` and stores `out/*.bin`.
pub fn worker_config(python: &str) -> String {
    format!(
        r#"
default_profile = "trivial"

[profiles.trivial]
task = "true"
task_timeout_s = 60

[profiles.sh]
task = "sh {{scenario}}"
task_timeout_s = 900

[profiles.stamp]
task = "date +%s%N"
task_timeout_s = 60

[profiles.py]
task = "{python} {{scenario}}"
task_timeout_s = 300

[profiles.artifacts]
build = "sh build.sh"
build_timeout_s = 900
artifacts = ["out/*.bin"]
task = "true"
"#
    )
}

/// The real interpreter behind `python3` (a version-manager shim would add
/// its own start-up to every task).
pub fn python3() -> String {
    Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// `POST /api/queue` body; `tasks` are (id, scenario) pairs.
pub fn queue_body(id: &str, repo: &str, profile: &str, tasks: &[(&str, &str)]) -> Value {
    json!({
        "id": id,
        "source": {"repo": repo, "ref": "main"},
        "profile": profile,
        "tasks": tasks
            .iter()
            .map(|(id, scenario)| json!({"id": id, "scenario": scenario}))
            .collect::<Vec<_>>(),
    })
}

/// A git repository in a temp dir, committed on `main`.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    pub fn new(files: &[(&str, &str)]) -> Result<Self> {
        let repo = Self::empty()?;
        repo.commit(files, "initial")?;
        Ok(repo)
    }

    fn empty() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        git(dir.path(), &["init", "-q", "-b", "main"])?;
        Ok(Self { dir })
    }

    /// A repository of `files` files of `bytes_each` pseudo-random printable
    /// bytes in 100-file folders: big enough that cloning takes a while and
    /// compresses about as badly as firmware sources with blobs do.
    pub fn large(files: usize, bytes_each: usize) -> Result<Self> {
        let repo = Self::empty()?;
        let alphabet: Vec<u8> =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 \n;{}()=+-*/".to_vec();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..files {
            let mut content = Vec::with_capacity(bytes_each);
            for _ in 0..bytes_each {
                // xorshift64*: fast, deterministic, good enough for filler.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
                content.push(alphabet[(r >> 58) as usize % alphabet.len()]);
            }
            let path = repo
                .dir
                .path()
                .join(format!("src/mod{:03}/file{i:05}.c", i / 100));
            std::fs::create_dir_all(path.parent().expect("has a parent"))?;
            std::fs::write(&path, content)?;
        }
        repo.commit(
            &[("README", "generated for the mirror_fetch benchmark\n")],
            "initial",
        )?;
        Ok(repo)
    }

    /// Writes the files and commits everything; returns the commit SHA.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> Result<String> {
        for (path, content) in files {
            let full = self.dir.path().join(path);
            std::fs::create_dir_all(full.parent().expect("has a parent"))?;
            std::fs::write(full, content)?;
        }
        git(self.dir.path(), &["add", "-A"])?;
        git(
            self.dir.path(),
            &[
                "-c",
                "user.email=bench@testarena",
                "-c",
                "user.name=bench",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                message,
            ],
        )?;
        Ok(git(self.dir.path(), &["rev-parse", "HEAD"])?
            .trim()
            .to_owned())
    }

    pub fn url(&self) -> String {
        self.dir.path().display().to_string()
    }
}

impl Drop for GitRepo {
    fn drop(&mut self) {
        if let Ok(empty) = tempfile::tempdir() {
            crate::stack::remove_later(std::mem::replace(&mut self.dir, empty));
        }
    }
}

/// Runs git in `dir`; its stdout, or its stderr as the error.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Total size of the files under `dir`, in bytes.
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => tree_size(&entry.path()),
            Ok(_) => entry.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}
