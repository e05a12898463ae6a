//! One bare mirror per repository URL under a service's mirrors folder,
//! fetched before each use so a ref resolves to the newest commit. Fetches
//! of one mirror are serialised within the process; a failed fetch is
//! retried a few times, as another process on the host (git's ref locks)
//! or a network blip should not fail a bisect or a hook.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testarena_events::{GitRef, RepoUrl};

use crate::git_command::git;

/// The folder of a service's mirrors.
#[derive(Debug, Default)]
pub struct Mirrors {
    dir: PathBuf,
    fetching: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

/// A fetched mirror of one repository.
#[derive(Debug, Clone)]
pub struct Mirror {
    path: PathBuf,
    repo: RepoUrl,
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("running git: {0} (is git installed where this service runs?)")]
    Spawn(#[from] std::io::Error),
    #[error("fetching {repo}: {detail}")]
    Fetch { repo: String, detail: String },
    #[error("git {what}: {detail}")]
    Git { what: &'static str, detail: String },
    #[error("{path} at {commit} is {size} bytes, over the {max} allowed")]
    TooLarge {
        path: String,
        commit: String,
        size: u64,
        max: u64,
    },
}

impl Mirrors {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            fetching: Mutex::default(),
        }
    }

    /// The repository's mirror, created on first use and fetched now.
    pub async fn fetch(&self, repo: &RepoUrl) -> Result<Mirror, MirrorError> {
        const ATTEMPTS: u32 = 3;
        let mirror = Mirror {
            path: self.dir.join(mirror_name(repo.as_str())),
            repo: repo.clone(),
        };
        let lock = self.lock_of(&mirror.path);
        let _held = lock.lock().await;
        let mut attempt = 1;
        loop {
            match mirror.fetch_refs().await {
                Err(MirrorError::Fetch { .. }) if attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(mirror),
            }
        }
    }

    fn lock_of(&self, path: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(path.to_owned()).or_default().clone()
    }
}

impl Mirror {
    async fn fetch_refs(&self) -> Result<(), MirrorError> {
        if !self.path.join("HEAD").exists() {
            tokio::fs::create_dir_all(&self.path).await?;
            ok_stdout(
                git(&self.path, &["init", "--bare", "--quiet"]).await?,
                "init",
            )?;
        }
        let fetched = git(
            &self.path,
            &[
                "fetch",
                "--quiet",
                "--prune",
                "--force",
                self.repo.as_str(),
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
        )
        .await?;
        match fetched.status.success() {
            true => Ok(()),
            false => Err(self.fetch_error(&fetched)),
        }
    }

    fn fetch_error(&self, out: &Output) -> MirrorError {
        MirrorError::Fetch {
            repo: self.repo.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }
    }

    /// The commit `git_ref` names in the mirror, if any.
    pub async fn resolve(&self, git_ref: &GitRef) -> Result<Option<String>, MirrorError> {
        let spec = format!("{git_ref}^{{commit}}");
        let out = git(&self.path, &["rev-parse", "--verify", "--quiet", &spec]).await?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// Makes sure `commit` (a full SHA a hook named) is here: a pull
    /// request's head from a fork is on no branch the mirror fetches.
    pub async fn fetch_commit(&self, commit: &str) -> Result<bool, MirrorError> {
        if self.has_commit(commit).await? {
            return Ok(true);
        }
        let fetched = git(
            &self.path,
            &["fetch", "--quiet", self.repo.as_str(), commit],
        )
        .await?;
        if !fetched.status.success() {
            return Err(self.fetch_error(&fetched));
        }
        self.has_commit(commit).await
    }

    async fn has_commit(&self, commit: &str) -> Result<bool, MirrorError> {
        let spec = format!("{commit}^{{commit}}");
        let out = git(&self.path, &["cat-file", "-e", &spec]).await?;
        Ok(out.status.success())
    }

    /// The bytes of `path` at `commit`; `None` when the commit has no such
    /// file. Bounded by `max_bytes`, so a huge file is refused, not read.
    pub async fn read_file(
        &self,
        commit: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, MirrorError> {
        let object = format!("{commit}:{path}");
        let size = git(&self.path, &["cat-file", "-s", &object]).await?;
        if !size.status.success() {
            return Ok(None);
        }
        let size: u64 = String::from_utf8_lossy(&size.stdout)
            .trim()
            .parse()
            .map_err(|_| MirrorError::Git {
                what: "cat-file -s",
                detail: "not a size".into(),
            })?;
        if size > max_bytes {
            return Err(MirrorError::TooLarge {
                path: path.to_owned(),
                commit: commit.to_owned(),
                size,
                max: max_bytes,
            });
        }
        let blob = git(&self.path, &["cat-file", "blob", &object]).await?;
        ok_output(blob, "cat-file blob").map(Some)
    }

    /// Every file's path at `commit`, as git stores it (`/`-separated).
    pub async fn files(&self, commit: &str) -> Result<Vec<String>, MirrorError> {
        let out = git(&self.path, &["ls-tree", "-r", "-z", "--name-only", commit]).await?;
        let listing = ok_output(out, "ls-tree")?;
        Ok(listing
            .split(|b| *b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect())
    }

    /// Any other read of the mirror (the bisect's `git log`): its stdout.
    pub async fn stdout(&self, what: &'static str, args: &[&str]) -> Result<String, MirrorError> {
        let out = git(&self.path, args).await?;
        ok_stdout(out, what)
    }
}

fn ok_output(out: Output, what: &'static str) -> Result<Vec<u8>, MirrorError> {
    match out.status.success() {
        true => Ok(out.stdout),
        false => Err(MirrorError::Git {
            what,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
}

fn ok_stdout(out: Output, what: &'static str) -> Result<String, MirrorError> {
    ok_output(out, what).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// A folder name for a repository URL: readable, and unique by a hash.
fn mirror_name(url: &str) -> String {
    let readable: String = url
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = url.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{readable}-{hash:016x}.git")
}

#[cfg(test)]
#[path = "bare_mirror_tests.rs"]
mod tests;
