//! A bisect's range from git: the refs resolved and the first-parent
//! commits between them, with subject and author. The scheduler keeps one
//! bare mirror per repository (`testarena-git-mirror`) under its
//! `bisect_mirrors` folder, fetched before each resolution. Only the
//! parsing of `git log`'s output (`parse_log`) decides anything.

use testarena_events::{BisectCommit, GitRef, RepoUrl, MAX_RANGE_COMMITS, MAX_WALK_BACK};
use testarena_git_mirror::{Mirror, MirrorError, Mirrors};

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
    #[error(transparent)]
    Mirror(#[from] MirrorError),
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
}

/// Fetches the repository into its mirror and lists the range. Without
/// `good`: `bad` and up to [`MAX_WALK_BACK`] first-parent ancestors.
pub(crate) async fn resolve(
    mirrors: &Mirrors,
    repo: &RepoUrl,
    good: Option<&GitRef>,
    bad: &GitRef,
) -> Result<Range, RangeError> {
    let mirror = mirrors.fetch(repo).await?;
    let bad_sha = rev_parse(&mirror, repo, "bad", bad).await?;
    let good_sha = match good {
        Some(good) => Some(rev_parse(&mirror, repo, "good", good).await?),
        None => None,
    };
    let limit = match good_sha {
        Some(_) => MAX_RANGE_COMMITS,
        None => MAX_WALK_BACK + 1,
    };
    let newest_first = mirror
        .stdout(
            "log",
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

async fn rev_parse(
    mirror: &Mirror,
    repo: &RepoUrl,
    which: &'static str,
    git_ref: &GitRef,
) -> Result<String, RangeError> {
    mirror
        .resolve(git_ref)
        .await?
        .ok_or_else(|| RangeError::UnknownRef {
            which,
            git_ref: git_ref.to_string(),
            repo: repo.to_string(),
        })
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
    fn a_subject_keeps_its_separators() {
        let parsed = parse_log("abc\u{1f}fix: a | b\u{1f}A <a@x>\n");
        assert_eq!(parsed[0].subject, "fix: a | b");
    }
}
