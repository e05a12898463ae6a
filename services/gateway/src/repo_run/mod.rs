//! Runs a repository's `testarena.toml` at one commit: the gateway's mirror
//! fetched, the ref resolved (or a hook's commit made present), the file
//! read and its queues submitted through the submit's own checks and
//! conditional publish. Queue ids are derived (`<name>-<commit12>`), so a
//! second run of one commit, a retried request or a redelivered hook finds
//! its queues stored and starts nothing new.

pub(crate) mod repo_file;

use testarena_events::{GitRef, Owner, RepoUrl, Stored};
use testarena_git_mirror::MirrorError;

use crate::api::error::ApiError;
use crate::api::submit::check_and_store;
use crate::state::AppState;
use repo_file::{RepoFile, RepoFileError, REPO_FILE};

/// The largest `testarena.toml` read: a file past it is a mistake.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Where a run starts: a ref a person names, or the commit a hook names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At<'a> {
    Ref(&'a GitRef),
    Commit(&'a str),
}

/// What a run submitted: every queue's id, the new ones and the old alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoRun {
    pub commit: String,
    pub queues: Vec<String>,
    /// How many of them this run stored (0 on a repeat).
    pub created: usize,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RepoRunError {
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error("ref {git_ref:?} is not a commit of {repo}")]
    UnknownRef { git_ref: String, repo: String },
    #[error("commit {commit} is not in {repo}")]
    UnknownCommit { commit: String, repo: String },
    #[error("{repo} has no {REPO_FILE} at {commit}")]
    NoFile { repo: String, commit: String },
    #[error("{REPO_FILE} at {commit} is not UTF-8 text")]
    NotText { commit: String },
    #[error(transparent)]
    File(#[from] RepoFileError),
    #[error("{}", .0.message())]
    Store(ApiError),
}

impl From<RepoRunError> for ApiError {
    fn from(error: RepoRunError) -> Self {
        match error {
            RepoRunError::Store(api) => api,
            RepoRunError::Mirror(MirrorError::Spawn(e)) => ApiError::internal("running git", e),
            RepoRunError::Mirror(e @ MirrorError::Git { .. }) => {
                ApiError::internal("reading the gateway's mirror", e)
            }
            RepoRunError::File(e) => ApiError::invalid_field(REPO_FILE, e),
            other => ApiError::invalid_field("repo", other),
        }
    }
}

pub(crate) async fn run(
    state: &AppState,
    repo: &RepoUrl,
    at: At<'_>,
    owner: &Owner,
) -> Result<RepoRun, RepoRunError> {
    let mirror = state.mirrors.fetch(repo).await?;
    let commit = match at {
        At::Ref(git_ref) => {
            mirror
                .resolve(git_ref)
                .await?
                .ok_or_else(|| RepoRunError::UnknownRef {
                    git_ref: git_ref.to_string(),
                    repo: repo.to_string(),
                })?
        }
        At::Commit(commit) => match mirror.fetch_commit(commit).await? {
            true => commit.to_owned(),
            false => {
                return Err(RepoRunError::UnknownCommit {
                    commit: commit.to_owned(),
                    repo: repo.to_string(),
                })
            }
        },
    };
    let bytes = mirror
        .read_file(&commit, REPO_FILE, MAX_FILE_BYTES)
        .await?
        .ok_or_else(|| RepoRunError::NoFile {
            repo: repo.to_string(),
            commit: commit.clone(),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| RepoRunError::NotText {
        commit: commit.clone(),
    })?;
    let file = RepoFile::parse(&text)?;
    let files = mirror.files(&commit).await?;
    let submissions = file.submissions(repo.as_str(), &commit, &files, owner)?;
    submit_all(state, commit, submissions).await
}

/// Every queue checked before any is stored, so a file whose second queue
/// no worker can run starts none; then each stored if its id is new.
async fn submit_all(
    state: &AppState,
    commit: String,
    mut submissions: Vec<crate::submission::Submission>,
) -> Result<RepoRun, RepoRunError> {
    for submission in &submissions {
        state
            .check_routable(submission.profile.as_ref(), &submission.requires)
            .map_err(|e| RepoRunError::Store(e.into()))?;
    }
    let mut run = RepoRun {
        commit,
        queues: Vec::with_capacity(submissions.len()),
        created: 0,
    };
    let mut last_seq = None;
    for submission in &mut submissions {
        let stored = check_and_store(state, submission)
            .await
            .map_err(RepoRunError::Store)?;
        if let Stored::New(seq) = stored {
            run.created += 1;
            last_seq = Some(seq);
        }
        run.queues.push(submission.id.to_string());
    }
    // As a submit does: the answer's queues are readable when it comes
    // (bounded; past `submit_wait` the ids are answered anyway).
    if let Some(seq) = last_seq {
        state.applied.wait_for(seq, state.submit_wait).await;
    }
    Ok(run)
}
