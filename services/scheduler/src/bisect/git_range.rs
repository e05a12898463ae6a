//! A bisect's range from git: the refs resolved and the first-parent
//! commits between them, with subject and author. The scheduler keeps one
//! bare mirror per repository under its `bisect_mirrors` folder, fetched
//! before each resolution. Thin I/O around the `git` command; only the
//! parsing of its output (`parse_log`) decides anything.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use testarena_events::{BisectCommit, GitRef, RepoUrl, MAX_RANGE_COMMITS, MAX_WALK_BACK};
use tokio::process::Command;

/// The range a `range_resolved` event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    pub good: Option<String>,
    pub bad: String,
    /// Oldest first; `bad` last, `good` first when given.
    pub commits: Vec<BisectCommit>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RangeError {
    #[error("running git: {0} (is git installed where the scheduler runs?)")]
    Spawn(#[from] std::io::Error),
    #[error("fetching {repo}: {detail}")]
    Fetch { repo: String, detail: String },
    #[error("{which} {git_ref:?} is not a commit of {repo}")]
    UnknownRef {
        which: &'static str,
        git_ref: String,
        repo: String,
    },
    #[error("good {good} is not a first-parent ancestor of bad {bad}")]
    NotAncestor { good: String, bad: String },
    #[error(
        "the range has more than {MAX_RANGE_COMMITS} first-parent commits; choose a newer good"
    )]
    TooLong,
    #[error("git {what}: {detail}")]
    Git { what: &'static str, detail: String },
}

/// Fetches the repository into its mirror and lists the range. Without
/// `good`: `bad` and up to [`MAX_WALK_BACK`] first-parent ancestors.
pub(crate) async fn resolve(
    mirrors: &Path,
    repo: &RepoUrl,
    good: Option<&GitRef>,
    bad: &GitRef,
) -> Result<Range, RangeError> {
    let mirror = fetch_with_retries(mirrors, repo).await?;
    let bad_sha = rev_parse(&mirror, repo, "bad", bad).await?;
    let good_sha = match good {
        Some(good) => Some(rev_parse(&mirror, repo, "good", good).await?),
        None => None,
    };
    let limit = match good_sha {
        Some(_) => MAX_RANGE_COMMITS,
        None => MAX_WALK_BACK + 1,
    };
    let log = git(
        &mirror,
        &[
            "log",
            "--first-parent",
            "--format=%H%x1f%s%x1f%an <%ae>",
            &format!("-n{}", limit + 1),
            &bad_sha,
            "--",
        ],
    )
    .await?;
    let newest_first = ok_stdout(log, "log")?;
    let commits = newest_first_to_range(parse_log(&newest_first), good_sha.as_deref(), limit)
        .map_err(|e| match e {
            Cut::NotAncestor => RangeError::NotAncestor {
                good: good_sha.clone().unwrap_or_default(),
                bad: bad_sha.clone(),
            },
            Cut::TooLong => RangeError::TooLong,
        })?;
    Ok(Range {
        good: good_sha,
        bad: bad_sha,
        commits,
    })
}

/// Fetches a failed fetch again, a few times: a network blip, or another
/// scheduler on this host fetching the same mirror (git's ref locks), should
/// not end a bisect in `Error`.
async fn fetch_with_retries(mirrors: &Path, repo: &RepoUrl) -> Result<PathBuf, RangeError> {
    const ATTEMPTS: u32 = 3;
    let mut attempt = 1;
    loop {
        match fetch(mirrors, repo).await {
            Err(RangeError::Fetch { .. }) if attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// The repository's bare mirror, created on first use and fetched now.
async fn fetch(mirrors: &Path, repo: &RepoUrl) -> Result<PathBuf, RangeError> {
    let mirror = mirrors.join(mirror_name(repo.as_str()));
    if !mirror.join("HEAD").exists() {
        tokio::fs::create_dir_all(&mirror).await?;
        ok_stdout(git(&mirror, &["init", "--bare", "--quiet"]).await?, "init")?;
    }
    let fetched = git(
        &mirror,
        &[
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            repo.as_str(),
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ],
    )
    .await?;
    if !fetched.status.success() {
        return Err(RangeError::Fetch {
            repo: repo.to_string(),
            detail: String::from_utf8_lossy(&fetched.stderr).trim().to_owned(),
        });
    }
    Ok(mirror)
}

async fn rev_parse(
    mirror: &Path,
    repo: &RepoUrl,
    which: &'static str,
    git_ref: &GitRef,
) -> Result<String, RangeError> {
    let spec = format!("{git_ref}^{{commit}}");
    let out = git(mirror, &["rev-parse", "--verify", "--quiet", &spec]).await?;
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        false => Err(RangeError::UnknownRef {
            which,
            git_ref: git_ref.to_string(),
            repo: repo.to_string(),
        }),
    }
}

/// What git may see of the scheduler's environment: enough to find itself,
/// its config and a proxy or SSH setup; nothing else (as a worker's
/// commands, it gets an allow-list, never the whole environment).
const GIT_ENV: [&str; 10] = [
    "PATH",
    "HOME",
    "GIT_ALLOW_PROTOCOL",
    "GIT_SSH_COMMAND",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSH_AUTH_SOCK",
];

async fn git(dir: &Path, args: &[&str]) -> Result<Output, RangeError> {
    let mut command = Command::new("git");
    command.env_clear();
    for key in GIT_ENV {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    Ok(command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .output()
        .await?)
}

fn ok_stdout(out: Output, what: &'static str) -> Result<String, RangeError> {
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(RangeError::Git {
            what,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
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

/// `git log --format=%H%x1f%s%x1f%an <%ae>` lines, as commits.
fn parse_log(text: &str) -> Vec<BisectCommit> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\u{1f}');
            Some(BisectCommit {
                commit: fields.next()?.to_owned(),
                subject: fields.next()?.to_owned(),
                author: fields.next()?.to_owned(),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq)]
enum Cut {
    NotAncestor,
    TooLong,
}

/// Newest-first first parents of `bad` (at most `limit + 1`) → the range,
/// oldest first: down to `good` included, or (no `good`) all of them up to
/// `limit` commits (the walk-back's reach).
fn newest_first_to_range(
    mut newest_first: Vec<BisectCommit>,
    good: Option<&str>,
    limit: usize,
) -> Result<Vec<BisectCommit>, Cut> {
    match good {
        Some(good) => match newest_first.iter().position(|c| c.commit == good) {
            Some(at) => newest_first.truncate(at + 1),
            None if newest_first.len() > limit => return Err(Cut::TooLong),
            None => return Err(Cut::NotAncestor),
        },
        None => newest_first.truncate(limit),
    }
    newest_first.reverse();
    Ok(newest_first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(shas: &[&str]) -> Vec<BisectCommit> {
        parse_log(
            &shas
                .iter()
                .map(|s| format!("{s}\u{1f}subject {s}\u{1f}A <a@x>\n"))
                .collect::<String>(),
        )
    }

    #[test]
    fn a_range_runs_oldest_first_from_good_to_bad() {
        let range = newest_first_to_range(log(&["c3", "c2", "c1", "c0"]), Some("c1"), 10).unwrap();
        let shas: Vec<&str> = range.iter().map(|c| c.commit.as_str()).collect();
        assert_eq!(shas, ["c1", "c2", "c3"]);
        assert_eq!(range[0].subject, "subject c1");
        assert_eq!(range[0].author, "A <a@x>");
    }

    #[test]
    fn a_good_off_the_first_parents_or_too_far_is_refused() {
        assert_eq!(
            newest_first_to_range(log(&["c1", "c0"]), Some("x"), 10),
            Err(Cut::NotAncestor)
        );
        assert_eq!(
            newest_first_to_range(log(&["c2", "c1", "c0"]), Some("x"), 2),
            Err(Cut::TooLong)
        );
    }

    #[test]
    fn without_good_the_range_is_the_walk_back_reach() {
        let range = newest_first_to_range(log(&["c3", "c2", "c1", "c0"]), None, 3).unwrap();
        assert_eq!(range.len(), 3);
        assert_eq!(range[2].commit, "c3");
    }

    #[test]
    fn a_subject_keeps_its_separators_and_mirror_names_differ_by_url() {
        let parsed = parse_log("abc\u{1f}fix: a | b\u{1f}A <a@x>\n");
        assert_eq!(parsed[0].subject, "fix: a | b");
        assert_ne!(mirror_name("/a/b"), mirror_name("/a_b"));
        assert!(mirror_name("https://host/x.git").ends_with(".git"));
    }
}
