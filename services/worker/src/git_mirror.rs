//! Git: one bare mirror per repository URL in the worker's cache, fetched at
//! each queue, and a cheap local clone per queue at the resolved commit.
//!
//! A mirror is locked while it is cloned, fetched and resolved, both within
//! this process (many queues at once) and across processes on the host (a
//! file lock), so two queues of one repository never corrupt it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use testarena_events::{GitRef, RepoUrl};
use tokio::process::Command;

use crate::log_batcher::LogSink;

pub(crate) struct GitCache {
    mirrors: PathBuf,
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

/// Why a checkout failed, in words for the queue's `reason`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckoutError {
    #[error("{action} failed: {message}")]
    Git { action: String, message: String },
    #[error("ref {git_ref:?} not found in {repo}")]
    UnknownRef { git_ref: String, repo: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl GitCache {
    pub(crate) fn new(cache_dir: &Path) -> Self {
        Self {
            mirrors: cache_dir.join("mirrors"),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Fetches `repo` into its mirror and clones the resolved commit into
    /// `dest`. Returns the commit SHA.
    pub(crate) async fn checkout(
        &self,
        repo: &RepoUrl,
        git_ref: &GitRef,
        dest: &Path,
        log: &LogSink,
    ) -> Result<String, CheckoutError> {
        let mirror = self.mirrors.join(mirror_name(repo.as_str()));
        let sha = {
            let lock = self.lock_for(&mirror);
            let _in_process = lock.lock().await;
            let _on_host = lock_file(&mirror).await?;
            if mirror.join("HEAD").exists() {
                log.system("checkout", format!("fetching {repo} into its mirror"))
                    .await;
                git(
                    &["-C", path(&mirror), "fetch", "--prune", "--quiet", "origin"],
                    "git fetch",
                    log,
                )
                .await?;
            } else {
                log.system("checkout", format!("cloning {repo} into a new mirror"))
                    .await;
                tokio::fs::create_dir_all(&self.mirrors).await?;
                // Clone beside and rename, so a half-finished clone never
                // looks like a mirror.
                let partial = mirror.with_extension("partial");
                let _ = tokio::fs::remove_dir_all(&partial).await;
                git(
                    &[
                        "clone",
                        "--mirror",
                        "--quiet",
                        "--",
                        repo.as_str(),
                        path(&partial),
                    ],
                    "git clone",
                    log,
                )
                .await?;
                tokio::fs::rename(&partial, &mirror).await?;
            }
            let spec = format!("{}^{{commit}}", git_ref.as_str());
            match git(
                &[
                    "-C",
                    path(&mirror),
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    "--end-of-options",
                    &spec,
                ],
                "git rev-parse",
                log,
            )
            .await
            {
                Ok(out) => out.trim().to_owned(),
                Err(_) => {
                    return Err(CheckoutError::UnknownRef {
                        git_ref: git_ref.to_string(),
                        repo: repo.to_string(),
                    })
                }
            }
        };
        // Local clone from the mirror: hard links, no network, no lock needed.
        git(
            &[
                "clone",
                "--quiet",
                "--no-checkout",
                "--",
                path(&mirror),
                path(dest),
            ],
            "git clone (workspace)",
            log,
        )
        .await?;
        git(
            &["-C", path(dest), "checkout", "--quiet", "--detach", &sha],
            "git checkout",
            log,
        )
        .await?;
        log.system("checkout", format!("checked out {sha}")).await;
        Ok(sha)
    }

    fn lock_for(&self, mirror: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(mirror.to_owned()).or_default().clone()
    }
}

/// Holds an exclusive lock on `<mirror>.lock` until dropped.
async fn lock_file(mirror: &Path) -> std::io::Result<std::fs::File> {
    let path = mirror.with_extension("lock");
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(std::io::Error::other)?
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// A stable, readable directory name for a URL: its last path segment plus
/// an FNV-1a hash of the whole URL.
fn mirror_name(url: &str) -> String {
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

/// Runs git, returns stdout; on failure, git's own message.
async fn git(args: &[&str], action: &str, log: &LogSink) -> Result<String, CheckoutError> {
    let output = Command::new("git")
        .args(args)
        // Never wait for credentials on a terminal nobody watches.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        log.line(
            "checkout",
            testarena_events::LogStream::Stderr,
            line.to_owned(),
        )
        .await;
    }
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(CheckoutError::Git {
            action: action.to_owned(),
            message: stderr.trim().to_owned(),
        })
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
}
