//! The git steps of a checkout that touch only local files, done in this
//! process with libgit2: resolving a ref in the mirror, and moving a leased
//! worktree to a commit. Each would otherwise start a git process, which
//! costs 1.5–2.5 ms of CPU — as much as the rest of a queue's own work when
//! its tasks are short. Fetching and making worktrees stay with the git
//! command line: they talk to remotes (credentials, SSH config) or happen
//! once per worktree.
//!
//! Every function blocks; callers run them on the blocking pool.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{ErrorCode, Oid, Repository};

use crate::open_repos::OpenRepos;

/// Why a local git step failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalGitError {
    /// The ref names no commit in the mirror; libgit2's words for it.
    #[error("{0}")]
    UnknownRef(String),
    /// The worktree's repository configures a filter driver (Git LFS, say),
    /// which only the git command line runs.
    #[error("a filter driver is configured ({0}); checking out with the git command line")]
    NeedsGitCommand(String),
    #[error("{0:?} was left by a git that did not finish")]
    StaleLock(std::path::PathBuf),
    #[error("removing {0:?}: {1}")]
    Remove(std::path::PathBuf, std::io::Error),
    #[error("{0}")]
    Git(#[from] git2::Error),
}

/// The commit `spec` names in the mirror (branch, tag, full or short SHA,
/// `HEAD`, or any revision expression), as a full SHA.
pub(crate) fn resolve(mirror: &Path, spec: &str) -> Result<String, LocalGitError> {
    let repo = Repository::open_bare(mirror)?;
    let object = repo.revparse_single(spec).map_err(|e| match e.code() {
        ErrorCode::NotFound | ErrorCode::InvalidSpec | ErrorCode::Ambiguous => {
            LocalGitError::UnknownRef(e.message().to_owned())
        }
        _ => LocalGitError::Git(e),
    })?;
    let commit = object
        .peel_to_commit()
        .map_err(|e| LocalGitError::UnknownRef(e.message().to_owned()))?;
    Ok(commit.id().to_string())
}

/// Whether the mirror holds commit `sha` (a full SHA).
pub(crate) fn has_commit(repos: &OpenRepos, mirror: &Path, sha: &str) -> bool {
    let Ok(oid) = Oid::from_str(sha) else {
        return false;
    };
    repos
        .with(
            mirror,
            |p| Repository::open_bare(p),
            |repo| Ok::<_, git2::Error>(repo.find_commit(oid).is_ok()),
        )
        .unwrap_or(false)
}

/// The commit a ref pins for good: a full SHA (40 hex digits, or 64 in a
/// SHA-256 repository) names one commit forever, so a mirror that has it
/// needs no fetch to serve it.
pub(crate) fn pinned_commit(spec: &str) -> Option<&str> {
    let full = matches!(spec.len(), 40 | 64) && spec.bytes().all(|b| b.is_ascii_hexdigit());
    full.then_some(spec)
}

/// The folder of a repository URL that is on this host (`/path` or
/// `file:///path`): its refs can be read directly, without a fetch.
pub(crate) fn local_origin(url: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
    (path.is_absolute() && path.is_dir()).then(|| path.to_owned())
}

/// The commit `spec` names in the repository at `origin` right now (a
/// working repository or a bare one).
pub(crate) fn resolve_in_origin(origin: &Path, spec: &str) -> Option<String> {
    let repo = Repository::open(origin).ok()?;
    let commit = repo.revparse_single(spec).ok()?.peel_to_commit().ok()?;
    Some(commit.id().to_string())
}

/// What `git checkout --force --detach <sha>` then `git clean -ffdx` do in
/// `worktree`: its files and index become exactly the commit's tree, every
/// untracked and ignored file goes, and `HEAD` is detached at the commit.
/// `clean_at`: the commit the worktree was left exactly at by the queue
/// before (worktree_lease.rs) — nothing to do for the same commit, and no
/// leftovers to look for before moving to another.
pub(crate) fn reset_worktree(
    repos: &OpenRepos,
    worktree: &Path,
    sha: &str,
    clean_at: Option<&str>,
) -> Result<(), LocalGitError> {
    repos.with(
        worktree,
        |p| Repository::open(p),
        |repo| reset_opened(repo, worktree, sha, clean_at),
    )
}

fn reset_opened(
    repo: &Repository,
    worktree: &Path,
    sha: &str,
    clean_at: Option<&str>,
) -> Result<(), LocalGitError> {
    // The lease means no git of ours runs here: a lock file is what a git
    // killed mid-write left, with the index possibly half done.
    let index_lock = repo.path().join("index.lock");
    if index_lock.exists() {
        return Err(LocalGitError::StaleLock(index_lock));
    }
    if clean_at == Some(sha) {
        return Ok(());
    }
    if let Some(driver) = configured_filter_driver(repo)? {
        return Err(LocalGitError::NeedsGitCommand(driver));
    }
    let commit = repo.find_commit(Oid::from_str(sha)?)?;
    let tracked_changed = match clean_at {
        Some(_) => false,
        None => remove_untracked_and_ignored(repo, worktree)?,
    };
    // Already exactly the commit (a queue of the same commit as the one
    // before, whose tasks changed no tracked file): nothing to write.
    let at_commit = repo.head_detached()? && repo.head()?.target() == Some(commit.id());
    if at_commit && !tracked_changed {
        return Ok(());
    }
    let mut options = CheckoutBuilder::new();
    options.force();
    repo.checkout_tree(commit.as_object(), Some(&mut options))?;
    repo.set_head_detached(commit.id())?;
    Ok(())
}

/// `git clean -ffdx`: every untracked and ignored file and folder goes,
/// repositories a task cloned or made inside the worktree too (libgit2's
/// own removal during checkout leaves those). Returns whether any tracked
/// file differs from `HEAD`, in the index or the worktree.
fn remove_untracked_and_ignored(repo: &Repository, worktree: &Path) -> Result<bool, LocalGitError> {
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .include_ignored(true)
        .recurse_untracked_dirs(false)
        .recurse_ignored_dirs(false)
        .exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut options))?;
    let mut tracked_changed = false;
    for entry in statuses.iter() {
        if !entry
            .status()
            .intersects(git2::Status::WT_NEW | git2::Status::IGNORED)
        {
            tracked_changed = true;
            continue;
        }
        let Some(relative) = entry.path() else {
            continue;
        };
        let path = worktree.join(relative.trim_end_matches('/'));
        // Not followed: a symbolic link goes, never what it points to.
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        removed.map_err(|e| LocalGitError::Remove(path, e))?;
    }
    Ok(tracked_changed)
}

/// The name of the first `filter.<name>.smudge` or `.process` in the
/// repository's configuration (its own, the user's and the system's).
/// libgit2 does not run external filters, so it would leave e.g. Git LFS
/// pointers where the command line writes the real files.
fn configured_filter_driver(repo: &Repository) -> Result<Option<String>, git2::Error> {
    let config = repo.config()?.snapshot()?;
    let mut entries = config.entries(Some(r"^filter\..*\.(smudge|process)$"))?;
    if let Some(entry) = entries.next() {
        let entry = entry?;
        return Ok(Some(entry.name().unwrap_or("filter").to_owned()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A mirror of a two-commit repository and a worktree of it at the first.
    fn mirror_and_worktree(
        root: &Path,
    ) -> (std::path::PathBuf, std::path::PathBuf, String, String) {
        let origin = root.join("origin");
        std::fs::create_dir(&origin).unwrap();
        git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("tracked.txt"), "one\n").unwrap();
        std::fs::write(origin.join("keep.txt"), "kept\n").unwrap();
        std::fs::write(origin.join(".gitignore"), "out.bin\nbuild/\n").unwrap();
        git(&origin, &["add", "-A"]);
        git(&origin, &["commit", "-q", "-m", "one"]);
        let first = git(&origin, &["rev-parse", "HEAD"]);
        std::fs::write(origin.join("tracked.txt"), "two\n").unwrap();
        git(&origin, &["commit", "-q", "-am", "two"]);
        git(&origin, &["tag", "v2"]);
        let second = git(&origin, &["rev-parse", "HEAD"]);
        let mirror = root.join("mirror.git");
        git(root, &["clone", "-q", "--mirror", "origin", "mirror.git"]);
        let worktree = root.join("wt");
        git(
            &mirror,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                worktree.to_str().unwrap(),
                &first,
            ],
        );
        (mirror, worktree, first, second)
    }

    #[test]
    fn refs_resolve_to_full_commits_and_unknown_ones_say_so() {
        let root = tempfile::tempdir().unwrap();
        let (mirror, _, first, second) = mirror_and_worktree(root.path());
        assert_eq!(resolve(&mirror, "main").unwrap(), second);
        assert_eq!(resolve(&mirror, "v2").unwrap(), second);
        assert_eq!(resolve(&mirror, "main~1").unwrap(), first);
        assert_eq!(resolve(&mirror, &first[..10]).unwrap(), first);
        assert!(matches!(
            resolve(&mirror, "no-such-branch"),
            Err(LocalGitError::UnknownRef(_))
        ));
    }

    #[test]
    fn a_worktree_left_clean_moves_to_another_commit_and_a_stale_lock_still_counts() {
        let root = tempfile::tempdir().unwrap();
        let (_, wt, first, second) = mirror_and_worktree(root.path());
        let repos = OpenRepos::default();
        reset_worktree(&repos, &wt, &first, None).unwrap();

        reset_worktree(&repos, &wt, &second, Some(&first)).unwrap();
        assert_eq!(git(&wt, &["status", "--porcelain", "--ignored"]), "");
        assert_eq!(git(&wt, &["rev-parse", "HEAD"]), second);
        assert_eq!(
            std::fs::read_to_string(wt.join("tracked.txt")).unwrap(),
            "two\n"
        );

        // Left clean at this very commit, but a git died here since.
        let admin = std::path::PathBuf::from(git(&wt, &["rev-parse", "--git-dir"]));
        std::fs::write(admin.join("index.lock"), "").unwrap();
        assert!(matches!(
            reset_worktree(&repos, &wt, &second, Some(&second)),
            Err(LocalGitError::StaleLock(_))
        ));
    }

    #[test]
    fn a_reset_worktree_holds_exactly_the_commit() {
        let root = tempfile::tempdir().unwrap();
        let (_, wt, first, second) = mirror_and_worktree(root.path());
        // A handle kept from the run before, as a worker has it.
        let repos = OpenRepos::default();
        reset_worktree(&repos, &wt, &first, None).unwrap();
        // What a queue's tasks may leave behind.
        git(&wt, &["checkout", "-q", "main"]);
        std::fs::write(wt.join("leftover"), "x").unwrap();
        std::fs::write(wt.join("out.bin"), "x").unwrap();
        std::fs::write(wt.join("tracked.txt"), "changed\n").unwrap();
        std::fs::remove_file(wt.join("keep.txt")).unwrap();
        std::fs::create_dir_all(wt.join("build/obj")).unwrap();
        std::fs::write(wt.join("build/obj/a.o"), "x").unwrap();
        std::fs::create_dir_all(wt.join("untracked/deep")).unwrap();
        std::fs::write(wt.join("untracked/deep/f"), "x").unwrap();
        std::fs::create_dir(wt.join("nested")).unwrap();
        git(&wt.join("nested"), &["init", "-q"]);
        std::fs::write(wt.join("nested/file"), "x").unwrap();

        reset_worktree(&repos, &wt, &second, None).unwrap();

        assert_eq!(git(&wt, &["status", "--porcelain", "--ignored"]), "");
        assert_eq!(git(&wt, &["rev-parse", "HEAD"]), second);
        // Detached: HEAD names no branch.
        assert_eq!(git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]), "HEAD");
        let mut names: Vec<_> = std::fs::read_dir(&wt)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".git", ".gitignore", "keep.txt", "tracked.txt"]);
        assert_eq!(
            std::fs::read_to_string(wt.join("tracked.txt")).unwrap(),
            "two\n"
        );
    }

    #[test]
    fn a_configured_filter_driver_leaves_the_checkout_to_the_git_command() {
        let root = tempfile::tempdir().unwrap();
        let (mirror, wt, first, second) = mirror_and_worktree(root.path());
        // Configured after a handle of the worktree was kept: still seen.
        let repos = OpenRepos::default();
        reset_worktree(&repos, &wt, &first, None).unwrap();
        git(
            &mirror,
            &["config", "filter.lfs.smudge", "git-lfs smudge -- %f"],
        );
        assert!(matches!(
            reset_worktree(&repos, &wt, &second, None),
            Err(LocalGitError::NeedsGitCommand(name)) if name == "filter.lfs.smudge"
        ));
    }

    #[test]
    fn only_a_full_sha_pins_a_commit() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(pinned_commit(sha1), Some(sha1));
        assert!(pinned_commit(&"a".repeat(64)).is_some());
        for spec in [
            "main",
            "v2",
            "0123456",
            &sha1[..39],
            "HEAD~1",
            &"g".repeat(40),
        ] {
            assert_eq!(pinned_commit(spec), None, "{spec}");
        }
    }

    #[test]
    fn the_mirror_knows_which_commits_it_has() {
        let root = tempfile::tempdir().unwrap();
        let (mirror, _, first, second) = mirror_and_worktree(root.path());
        let repos = OpenRepos::default();
        assert!(has_commit(&repos, &mirror, &first));
        assert!(has_commit(&repos, &mirror, &second));
        assert!(!has_commit(
            &repos,
            &mirror,
            "0123456789abcdef0123456789abcdef01234567"
        ));
        assert!(!has_commit(&repos, &mirror, "not-a-sha"));

        // A commit fetched after the mirror's handle was kept is found.
        let origin = root.path().join("origin");
        std::fs::write(origin.join("tracked.txt"), "three\n").unwrap();
        git(&origin, &["commit", "-q", "-am", "three"]);
        let third = git(&origin, &["rev-parse", "HEAD"]);
        assert!(!has_commit(&repos, &mirror, &third));
        git(
            &mirror,
            &["fetch", "-q", "origin", "+refs/heads/*:refs/heads/*"],
        );
        assert!(has_commit(&repos, &mirror, &third));
    }

    #[test]
    fn a_local_origin_is_read_directly() {
        let root = tempfile::tempdir().unwrap();
        let (_, _, _, second) = mirror_and_worktree(root.path());
        let origin = root.path().join("origin");
        let url = format!("file://{}", origin.display());
        assert_eq!(local_origin(&url), Some(origin.clone()));
        assert_eq!(local_origin(origin.to_str().unwrap()), Some(origin.clone()));
        assert_eq!(local_origin("https://example.com/fw.git"), None);
        assert_eq!(local_origin("relative/path"), None);
        assert_eq!(resolve_in_origin(&origin, "main"), Some(second.clone()));
        assert_eq!(resolve_in_origin(&origin, "v2"), Some(second));
        assert_eq!(resolve_in_origin(&origin, "no-such-branch"), None);
    }
}
