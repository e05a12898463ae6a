//! Git: one bare mirror per repository URL in the worker's cache, fetched at
//! each queue, and a small pool of worktrees of that mirror that queues lease
//! and reuse.
//!
//! Why reuse: writing a commit's whole tree into a fresh clone costs a queue
//! about as much as the first clone did; moving a worktree it already has to
//! the next commit writes only what changed. `checkout --force` plus
//! `clean -ffdx` leaves exactly the commit's tree, nothing of the queue before
//! it. A queue holds its worktree by a file lock for the whole run, so no two
//! queues — of this process or of another worker on the host — share one.
//!
//! The mirror is locked (in-process and on the host) while it is cloned,
//! fetched, resolved or given a new worktree, so concurrent queues of one
//! repository never corrupt it. A queue uses a fetch that began after it
//! was submitted (another queue's, say, while it waited for the lock)
//! instead of fetching again: that fetch saw everything pushed before. "After"
//! is told by the events stream's sequence (see `stream_position`), not by
//! clocks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testarena_events::{CommitContext, GitRef, RepoUrl};
use tokio::process::Command;

use crate::blocking::blocking;
use crate::cache_eviction;
use crate::cache_layout::{self, mirror_lock, mirror_name, open_lock_file};
use crate::commit_context::{read_commit_context, KnownDepths};
use crate::git_local::{self, LocalGitError};
use crate::log_batcher::LogSink;
use crate::open_repos::OpenRepos;
use crate::stream_position::StreamPosition;
use crate::worktree_lease::{self, Lease};

/// Leases per mirror before giving up: far more than any worker host runs
/// queues at once, so reaching it means lock files are broken.
const MAX_WORKTREES: usize = 256;
/// Fetches skip git's automatic maintenance (one process fewer per queue);
/// every this many fetches of a mirror, it runs again.
const MAINTENANCE_EVERY: u64 = 50;

pub(crate) struct GitCache {
    mirrors: PathBuf,
    worktrees: PathBuf,
    position: StreamPosition,
    states: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<MirrorState>>>>,
    /// libgit2 handles of the mirrors and worktrees, kept between queues.
    repos: Arc<OpenRepos>,
    /// First-parent depths of the commits checked out so far.
    depths: Arc<KnownDepths>,
}

/// What this process knows of one mirror; guarded by the in-process lock.
#[derive(Default)]
struct MirrorState {
    /// The events stream's last sequence just before this process's latest
    /// successful fetch (or the clone) began: queues submitted up to it are
    /// served by that fetch.
    fetched_through: Option<u64>,
    fetches: u64,
}

/// A queue's checkout: a worktree at `sha`, leased until this is dropped.
pub(crate) struct Checkout {
    pub sha: String,
    pub dir: PathBuf,
    /// The lease: an exclusive lock on `<dir>.lock`, released on drop.
    lease: std::fs::File,
}

/// Why a checkout failed, in words for the queue's `reason`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckoutError {
    #[error("{action} failed: {message}")]
    Git { action: String, message: String },
    #[error("ref {git_ref:?} not found in {repo}: {message}")]
    UnknownRef {
        git_ref: String,
        repo: String,
        message: String,
    },
    #[error("no free worktree among {MAX_WORKTREES} in {0}")]
    NoWorktree(PathBuf),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl GitCache {
    pub(crate) fn new(cache_dir: &Path, position: StreamPosition) -> Self {
        // Absolute, because git resolves a worktree's path from the mirror.
        let cache_dir = std::path::absolute(cache_dir).unwrap_or_else(|_| cache_dir.to_owned());
        Self {
            mirrors: cache_layout::mirrors_dir(&cache_dir),
            worktrees: cache_layout::worktrees_dir(&cache_dir),
            position,
            states: Mutex::new(HashMap::new()),
            repos: Arc::default(),
            depths: Arc::default(),
        }
    }

    /// What commit `sha` of `repo` is (subject, author, date, depth), read
    /// from the mirror a checkout just left it in; `None`, with the reason
    /// in the worker's log, when it cannot be read: it never fails a run.
    pub(crate) async fn commit_context(&self, repo: &RepoUrl, sha: &str) -> Option<CommitContext> {
        let mirror = self.mirrors.join(mirror_name(repo.as_str()));
        let (repos, depths, sha) = (self.repos.clone(), self.depths.clone(), sha.to_owned());
        let read = blocking(move || read_commit_context(&repos, &mirror, &sha, &depths)).await;
        match read {
            Ok(Ok(context)) => Some(context),
            Ok(Err(e)) => {
                tracing::warn!(%repo, error = %e, "the checked-out commit's context could not be read");
                None
            }
            Err(e) => {
                tracing::warn!(%repo, error = %e, "reading the commit's context panicked");
                None
            }
        }
    }

    /// Brings `repo`'s mirror up to date (unless a fetch began after the
    /// stream held `submitted_seq`), resolves `git_ref`, and leases a
    /// worktree at that commit.
    pub(crate) async fn checkout(
        &self,
        repo: &RepoUrl,
        git_ref: &GitRef,
        submitted_seq: u64,
        log: &LogSink,
    ) -> Result<Checkout, CheckoutError> {
        let name = mirror_name(repo.as_str());
        let mirror = self.mirrors.join(&name);
        let state = self.state_for(&mirror);
        let (sha, lease, dir, fresh, clean_at) = {
            // One hop to the blocking pool for the host lock, the commit
            // if it is known without a fetch, and a worktree slot: each
            // hop is a wait on the way to the first task.
            let (url, spec, at) = (repo.to_string(), git_ref.to_string(), mirror.clone());
            let pool = cache_layout::worktree_pool(&self.worktrees, &name);
            let (repos, slots) = (self.repos.clone(), pool.clone());
            let (mut state, _on_host, (known, lease)) =
                lock_mirror_then(&state, &mirror, move || {
                    let known = known_commit(&repos, &url, &spec, &at);
                    (known, worktree_lease::lease_worktree(&slots, MAX_WORKTREES))
                })
                .await?;
            let Lease {
                file: lease,
                dir,
                clean_at,
            } = lease?.ok_or(CheckoutError::NoWorktree(pool))?;
            let sha = match known {
                Some(known) => {
                    log.system("checkout", known.said(repo, git_ref)).await;
                    known.sha().to_owned()
                }
                None => {
                    self.update_mirror(repo, &mirror, &mut state, submitted_seq, log)
                        .await?;
                    resolve(repo, git_ref, &mirror).await?
                }
            };
            // A new worktree is registered in the mirror, so it is made
            // under the mirror's lock; a reused one only changes itself.
            let fresh = !dir.join(".git").is_file();
            if fresh {
                add_worktree(&mirror, &dir, &sha, log).await?;
            }
            (sha, lease, dir, fresh, clean_at)
        };
        if !fresh {
            let clean_at = clean_at.as_deref();
            self.reuse_worktree(&state, &mirror, (&dir, &sha), clean_at, log)
                .await?;
        }
        log.system("checkout", format!("checked out {sha}")).await;
        Ok(Checkout { sha, dir, lease })
    }

    /// Moves the worktree at `dir`, which a queue before used, to `sha`
    /// (`clean_at`: the commit its lease says it was left clean at); one
    /// left broken (a git killed mid-checkout leaves its index.lock) is
    /// made anew, under the mirror's lock.
    async fn reuse_worktree(
        &self,
        state: &tokio::sync::Mutex<MirrorState>,
        mirror: &Path,
        (dir, sha): (&Path, &str),
        clean_at: Option<&str>,
        log: &LogSink,
    ) -> Result<(), CheckoutError> {
        if let Err(e) = reset_worktree(&self.repos, dir, sha, clean_at, log).await {
            log.system(
                "checkout",
                format!("reused worktree unusable ({e}); making it anew"),
            )
            .await;
            let _locked = lock_mirror(state, mirror).await?;
            add_worktree(mirror, dir, sha, log).await?;
        }
        Ok(())
    }

    /// A run is over: its worktree is made exactly its commit again and its
    /// lease says so (worktree_lease.rs), so the next queue there has
    /// nothing to clean on the way to its first task. A worktree that
    /// cannot be cleaned here gets no mark: the next checkout cleans it.
    pub(crate) async fn release(&self, checkout: Checkout) {
        let repos = self.repos.clone();
        let cleaned = blocking(move || {
            let Checkout { sha, dir, lease } = checkout;
            git_local::reset_worktree(&repos, &dir, &sha, None).map_err(|e| e.to_string())?;
            worktree_lease::mark_clean(&lease, &sha)
                .map_err(|e| format!("marking {} clean: {e}", dir.display()))
        })
        .await;
        if let Ok(Err(e)) = cleaned {
            tracing::debug!(error = %e, "worktree left for the next checkout to clean");
        }
    }

    /// Removes the mirrors (and their worktrees) no queue used for
    /// `max_age`; see `cache_eviction`.
    pub(crate) async fn evict_unused(&self, max_age: Duration) -> std::io::Result<Vec<String>> {
        let (mirrors, worktrees) = (self.mirrors.clone(), self.worktrees.clone());
        let evicted =
            blocking(move || cache_eviction::evict_unused(&mirrors, &worktrees, max_age)).await??;
        if !evicted.is_empty() {
            // Their kept handles hold the removed pack files open.
            self.repos.clear();
        }
        Ok(evicted)
    }

    fn state_for(&self, mirror: &Path) -> Arc<tokio::sync::Mutex<MirrorState>> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.entry(mirror.to_owned()).or_default().clone()
    }

    /// Clones the mirror, or fetches it unless a fetch began after the
    /// stream held `submitted_seq`. (A commit known without a fetch,
    /// [`known_commit`], never comes here.)
    async fn update_mirror(
        &self,
        repo: &RepoUrl,
        mirror: &Path,
        state: &mut MirrorState,
        submitted_seq: u64,
        log: &LogSink,
    ) -> Result<(), CheckoutError> {
        let exists = mirror.join("HEAD").exists();
        if exists
            && state
                .fetched_through
                .is_some_and(|seq| submitted_seq <= seq)
        {
            log.system(
                "checkout",
                format!("{repo} was fetched after this queue was submitted; using that fetch"),
            )
            .await;
            return Ok(());
        }
        let through = self.position.last_sequence().await;
        if exists {
            fetch_mirror(repo, mirror, state, log).await?;
        } else {
            clone_mirror(repo, mirror, &self.mirrors, log).await?;
        }
        // A failed read keeps the older position: still true of this fetch.
        if through.is_some() {
            state.fetched_through = through;
        }
        Ok(())
    }
}

/// Fetches the mirror from its origin; every [`MAINTENANCE_EVERY`]th fetch
/// lets git run its automatic maintenance.
async fn fetch_mirror(
    repo: &RepoUrl,
    mirror: &Path,
    state: &mut MirrorState,
    log: &LogSink,
) -> Result<(), CheckoutError> {
    log.system("checkout", format!("fetching {repo} into its mirror"))
        .await;
    state.fetches += 1;
    // `--update-head-ok`: a task may have switched its worktree to
    // a branch; git would otherwise refuse to update that branch
    // and every later fetch of the mirror would fail.
    let mut args = vec![
        "-C",
        path(mirror),
        "fetch",
        "--prune",
        "--quiet",
        "--update-head-ok",
    ];
    if !state.fetches.is_multiple_of(MAINTENANCE_EVERY) {
        args.push("--no-auto-maintenance");
    }
    args.push("origin");
    git(&args, "git fetch", log).await?;
    Ok(())
}

/// Clones `repo` into a new mirror at `mirror`, in `mirrors`.
async fn clone_mirror(
    repo: &RepoUrl,
    mirror: &Path,
    mirrors: &Path,
    log: &LogSink,
) -> Result<(), CheckoutError> {
    log.system("checkout", format!("cloning {repo} into a new mirror"))
        .await;
    tokio::fs::create_dir_all(mirrors).await?;
    // Clone beside and rename, so a half-finished clone never looks
    // like a mirror.
    let partial = cache_layout::partial_clone(mirror);
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
    tokio::fs::rename(&partial, mirror).await?;
    Ok(())
}

/// The commit to check out when the mirror already has it and nothing can
/// be stale: a full SHA (it names one commit forever), or a ref of a
/// repository on this host read right now (after the submission, so as
/// fresh as a fetch). `None`: fetch (or clone: no mirror yet).
fn known_commit(repos: &OpenRepos, url: &str, spec: &str, mirror: &Path) -> Option<KnownCommit> {
    if !mirror.join("HEAD").exists() {
        return None;
    }
    let known = match git_local::pinned_commit(spec) {
        Some(sha) => KnownCommit::Pinned(sha.to_owned()),
        None => {
            let origin = git_local::local_origin(url)?;
            KnownCommit::AtOrigin(git_local::resolve_in_origin(&origin, spec)?)
        }
    };
    git_local::has_commit(repos, mirror, known.sha()).then_some(known)
}

/// A commit known without a fetch.
enum KnownCommit {
    /// The ref is this full SHA.
    Pinned(String),
    /// The ref names this commit in the repository on this host, now.
    AtOrigin(String),
}

impl KnownCommit {
    fn sha(&self) -> &str {
        match self {
            Self::Pinned(sha) | Self::AtOrigin(sha) => sha,
        }
    }

    /// The checkout's log line about it.
    fn said(&self, repo: &RepoUrl, git_ref: &GitRef) -> String {
        match self {
            Self::Pinned(_) => format!("{git_ref} is already in the mirror of {repo}; no fetch"),
            Self::AtOrigin(sha) => {
                format!("{git_ref} is at {sha} in {repo}, already in the mirror; no fetch")
            }
        }
    }
}

/// The commit `git_ref` names in the mirror.
async fn resolve(repo: &RepoUrl, git_ref: &GitRef, mirror: &Path) -> Result<String, CheckoutError> {
    let (mirror, spec) = (mirror.to_owned(), git_ref.as_str().to_owned());
    match blocking(move || git_local::resolve(&mirror, &spec)).await? {
        Ok(sha) => Ok(sha),
        Err(LocalGitError::UnknownRef(message)) => Err(CheckoutError::UnknownRef {
            git_ref: git_ref.to_string(),
            repo: repo.to_string(),
            message,
        }),
        Err(e) => Err(CheckoutError::Git {
            action: "resolving the ref".into(),
            message: e.to_string(),
        }),
    }
}

/// Makes `dir` a new worktree of `mirror` at `sha`, replacing whatever was
/// there. Called with the mirror locked.
async fn add_worktree(
    mirror: &Path,
    dir: &Path,
    sha: &str,
    log: &LogSink,
) -> Result<(), CheckoutError> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    // Forget registrations whose folder is gone (the one just removed).
    git(
        &["-C", path(mirror), "worktree", "prune"],
        "git worktree prune",
        log,
    )
    .await?;
    git(
        &[
            "-C",
            path(mirror),
            "worktree",
            "add",
            "--force",
            "--detach",
            "--quiet",
            path(dir),
            sha,
        ],
        "git worktree add",
        log,
    )
    .await?;
    Ok(())
}

/// Moves a leased worktree to `sha` and removes everything the commit does
/// not hold (build outputs, ignored files, results of the queue before).
async fn reset_worktree(
    repos: &Arc<OpenRepos>,
    dir: &Path,
    sha: &str,
    clean_at: Option<&str>,
    log: &LogSink,
) -> Result<(), CheckoutError> {
    let (worktree, commit, repos) = (dir.to_owned(), sha.to_owned(), repos.clone());
    let clean_at = clean_at.map(str::to_owned);
    let reset = move || git_local::reset_worktree(&repos, &worktree, &commit, clean_at.as_deref());
    match blocking(reset).await? {
        Ok(()) => Ok(()),
        Err(LocalGitError::NeedsGitCommand(why)) => {
            log.system("checkout", why.to_string()).await;
            reset_worktree_with_git(dir, sha, log).await
        }
        Err(e) => Err(CheckoutError::Git {
            action: "checking out the worktree".into(),
            message: e.to_string(),
        }),
    }
}

/// [`reset_worktree`] by the git command line, which runs filter drivers.
async fn reset_worktree_with_git(
    dir: &Path,
    sha: &str,
    log: &LogSink,
) -> Result<(), CheckoutError> {
    git(
        &[
            "-C",
            path(dir),
            "checkout",
            "--force",
            "--quiet",
            "--detach",
            sha,
        ],
        "git checkout",
        log,
    )
    .await?;
    git(&["-C", path(dir), "clean", "-ffdxq"], "git clean", log).await?;
    Ok(())
}

/// Locks a mirror in this process and on the host (`<mirror>.lock`); both
/// are held until the returned values are dropped.
async fn lock_mirror<'a>(
    state: &'a tokio::sync::Mutex<MirrorState>,
    mirror: &Path,
) -> std::io::Result<(tokio::sync::MutexGuard<'a, MirrorState>, std::fs::File)> {
    let (in_process, on_host, ()) = lock_mirror_then(state, mirror, || ()).await?;
    Ok((in_process, on_host))
}

/// [`lock_mirror`], then `then` under both locks, in the same hop to the
/// blocking pool: this runs at every checkout.
async fn lock_mirror_then<'a, T: Send + 'static>(
    state: &'a tokio::sync::Mutex<MirrorState>,
    mirror: &Path,
    then: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<(tokio::sync::MutexGuard<'a, MirrorState>, std::fs::File, T)> {
    let in_process = state.lock().await;
    let path = mirror_lock(mirror);
    let (on_host, value) = blocking(move || {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = open_lock_file(&path)?;
        file.lock()?;
        // When the mirror was last used, for the cache's eviction.
        file.set_modified(std::time::SystemTime::now())?;
        Ok::<_, std::io::Error>((file, then()))
    })
    .await??;
    Ok((in_process, on_host, value))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
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
