//! A repository's `testarena.toml`: its `[[queue]]` tables, each turned
//! into a submission at one commit. Pure: the caller reads the file and
//! lists the commit's files. A bad file is refused with its line, and each
//! queue goes through the submit's own validation (`Submission::parse`), so
//! a queue from a repository is held to the same rules as one posted.

use std::collections::HashSet;
use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use testarena_events::{Owner, TaskId};
use toml::Spanned;

use crate::api::model::{SourceBody, SubmitRequest, TaskBody};
use crate::submission::Submission;

/// Where the file lives in the repository.
pub(crate) const REPO_FILE: &str = "testarena.toml";
/// The commit's first 12 hex digits end each queue id: `<name>-<commit12>`.
const COMMIT_DIGITS: usize = 12;
/// A queue id is at most 64 characters, `-` and the 12 digits included.
const MAX_NAME: usize = 64 - 1 - COMMIT_DIGITS;

#[derive(Debug)]
pub(crate) struct RepoFile {
    queues: Vec<QueueDef>,
}

#[derive(Debug)]
struct QueueDef {
    line: usize,
    name: String,
    profile: Option<String>,
    requires: Vec<String>,
    tasks: TaskSource,
    shards: Option<u8>,
    priority: Option<String>,
}

#[derive(Debug)]
enum TaskSource {
    /// One task per matching file, its id the file's stem.
    Glob {
        pattern: String,
        matcher: GlobSet,
    },
    Listed(Vec<TaskBody>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{REPO_FILE} line {line}: {message}")]
pub(crate) struct RepoFileError {
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    queue: Vec<Spanned<RawQueue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    name: String,
    profile: Option<String>,
    #[serde(default)]
    requires: Vec<String>,
    scenarios: Option<String>,
    tasks: Option<Vec<RawTask>>,
    shards: Option<u8>,
    priority: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    id: String,
    scenario: String,
    timeout_s: Option<u32>,
    retries: Option<u8>,
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn refuse(line: usize, message: impl Into<String>) -> RepoFileError {
    RepoFileError {
        line,
        message: message.into(),
    }
}

impl RepoFile {
    pub(crate) fn parse(text: &str) -> Result<Self, RepoFileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| line_of(text, span.start));
            refuse(line, e.message().trim_end())
        })?;
        if raw.queue.is_empty() {
            return Err(refuse(1, "no [[queue]] table: nothing to run"));
        }
        let mut names = HashSet::new();
        let mut queues = Vec::with_capacity(raw.queue.len());
        for queue in raw.queue {
            let line = line_of(text, queue.span().start);
            let queue = QueueDef::check(line, queue.into_inner())?;
            if !names.insert(queue.name.clone()) {
                return Err(refuse(
                    line,
                    format!("queue name {:?} is used twice", queue.name),
                ));
            }
            queues.push(queue);
        }
        Ok(Self { queues })
    }

    /// Every queue at `commit` (a full SHA) of `repo`, validated as a
    /// submit is; `files` are the commit's paths, for the globs.
    pub(crate) fn submissions(
        &self,
        repo: &str,
        commit: &str,
        files: &[String],
        owner: &Owner,
    ) -> Result<Vec<Submission>, RepoFileError> {
        self.queues
            .iter()
            .map(|queue| queue.submission(repo, commit, files, owner))
            .collect()
    }
}

impl QueueDef {
    fn check(line: usize, raw: RawQueue) -> Result<Self, RepoFileError> {
        let name_ok = !raw.name.is_empty()
            && raw.name.len() <= MAX_NAME
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(refuse(
                line,
                format!(
                    "name {:?} must be 1 to {MAX_NAME} of A-Z a-z 0-9 _ -",
                    raw.name
                ),
            ));
        }
        let tasks = match (raw.scenarios, raw.tasks) {
            (Some(pattern), None) => TaskSource::Glob {
                matcher: glob(&pattern)
                    .map_err(|why| refuse(line, format!("scenarios {pattern:?}: {why}")))?,
                pattern,
            },
            (None, Some(tasks)) => TaskSource::Listed(tasks.into_iter().map(task_body).collect()),
            _ => {
                return Err(refuse(
                    line,
                    format!(
                        "queue {:?}: give exactly one of scenarios and tasks",
                        raw.name
                    ),
                ))
            }
        };
        Ok(Self {
            line,
            name: raw.name,
            profile: raw.profile,
            requires: raw.requires,
            tasks,
            shards: raw.shards,
            priority: raw.priority,
        })
    }

    fn submission(
        &self,
        repo: &str,
        commit: &str,
        files: &[String],
        owner: &Owner,
    ) -> Result<Submission, RepoFileError> {
        let short = commit.get(..COMMIT_DIGITS).unwrap_or(commit);
        let request = SubmitRequest {
            id: Some(format!("{}-{short}", self.name)),
            source: SourceBody {
                repo: repo.to_owned(),
                git_ref: commit.to_owned(),
            },
            profile: self.profile.clone(),
            tasks: self.tasks(short, files)?,
            requires: self.requires.clone(),
            priority: self.priority.clone(),
            owner: None,
            shards: self.shards,
        };
        Submission::parse(request, owner.clone())
            .map_err(|e| refuse(self.line, format!("queue {:?}: {e}", self.name)))
    }

    fn tasks(&self, short: &str, files: &[String]) -> Result<Vec<TaskBody>, RepoFileError> {
        let (pattern, matcher) = match &self.tasks {
            TaskSource::Listed(tasks) => return Ok(tasks.clone()),
            TaskSource::Glob { pattern, matcher } => (pattern, matcher),
        };
        let mut matched: Vec<&String> = files.iter().filter(|f| matcher.is_match(f)).collect();
        matched.sort();
        if matched.is_empty() {
            return Err(refuse(
                self.line,
                format!("scenarios {pattern:?} matches no file at {short}"),
            ));
        }
        matched
            .into_iter()
            .map(|path| self.glob_task(path))
            .collect()
    }

    fn glob_task(&self, path: &str) -> Result<TaskBody, RepoFileError> {
        let stem = Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        TaskId::parse(stem.clone()).map_err(|e| {
            refuse(
                self.line,
                format!("scenario file {path:?}: its stem {stem:?} is not a task id ({e})"),
            )
        })?;
        Ok(TaskBody {
            id: stem,
            scenario: path.to_owned(),
            timeout_s: None,
            retries: None,
        })
    }
}

/// A scenarios glob, `*` within one folder; built fallibly, as a hostile
/// pattern can be too big for the regex it compiles to.
fn glob(pattern: &str) -> Result<GlobSet, String> {
    const MAX_PATTERN: usize = 1024;
    if pattern.len() > MAX_PATTERN {
        return Err(format!("is longer than {MAX_PATTERN} characters"));
    }
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| e.kind().to_string())?;
    GlobSetBuilder::new()
        .add(glob)
        .build()
        .map_err(|e| e.to_string())
}

fn task_body(raw: RawTask) -> TaskBody {
    TaskBody {
        id: raw.id,
        scenario: raw.scenario,
        timeout_s: raw.timeout_s,
        retries: raw.retries,
    }
}

#[cfg(test)]
#[path = "repo_file_tests.rs"]
mod tests;
