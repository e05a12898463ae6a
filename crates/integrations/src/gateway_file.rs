//! The gateway config file (`testarena gateway --config FILE`): which
//! repositories' hooks start queues, and where notifications go. Parsed
//! strictly: an unknown key, a missing one or a bad value is refused with
//! its line; every secret file is read once, here, at start, so a missing
//! one stops the service with the file's name instead of failing a hook.

use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use testarena_events::RepoUrl;
use toml::Spanned;

use crate::ref_filter::RefFilter;
use crate::secret::Secret;

/// The whole file, checked, its secrets read.
#[derive(Debug, Clone, Default)]
pub struct GatewayFile {
    pub repos: Vec<RepoHook>,
    pub notify: Vec<NotifyRule>,
}

/// A `[[repos]]` entry: a repository whose hooks start its `testarena.toml`.
#[derive(Debug, Clone)]
pub struct RepoHook {
    /// Matched against a hook's clone URL; also what the gateway fetches.
    pub url: RepoUrl,
    pub webhook_secret: Secret,
    pub refs: RefFilter,
    pub status: Option<StatusTarget>,
}

/// Where a repository's commit statuses go.
#[derive(Debug, Clone)]
pub struct StatusTarget {
    pub api: StatusApi,
    /// The API's base URL, `https://api.github.com` for github.com.
    pub url: String,
    pub token: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusApi {
    Github,
    Gitlab,
    Gitea,
}

/// A `[[notify]]` rule.
#[derive(Debug, Clone)]
pub struct NotifyRule {
    pub on: Vec<NotifyOn>,
    /// Only this repository's queues, when given.
    pub repo: Option<RepoUrl>,
    pub target: NotifyTarget,
    /// The HMAC key of webhook deliveries; never given with `slack`.
    pub secret: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    Finished,
    Failed,
    Flaky,
    NewFailure,
    BisectFound,
    BoardQuarantined,
}

/// Exactly one of `webhook` and `slack`, so a rule cannot name both or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    Webhook(String),
    Slack(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayFileError {
    #[error("reading the gateway config {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}, line {line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}, line {line}: secret file {file}: {reason}")]
    SecretFile {
        path: PathBuf,
        line: usize,
        file: PathBuf,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    repos: Vec<Spanned<RawRepo>>,
    #[serde(default)]
    notify: Vec<Spanned<RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    url: String,
    webhook_secret_file: PathBuf,
    refs: Option<Vec<String>>,
    status: Option<RawStatus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    api: StatusApi,
    url: String,
    token_file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    on: Vec<NotifyOn>,
    repo: Option<String>,
    webhook: Option<String>,
    slack: Option<String>,
    secret_file: Option<PathBuf>,
}

impl GatewayFile {
    /// Reads and checks the file at `path`, and every secret file it names
    /// (a relative one from the config file's folder).
    pub fn load(path: &Path) -> Result<Self, GatewayFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| GatewayFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, |file| std::fs::read_to_string(file))
    }

    /// `load` without the disk: `read_secret` gives a secret file's content.
    pub fn parse(
        text: &str,
        path: &Path,
        read_secret: impl FnMut(&Path) -> io::Result<String>,
    ) -> Result<Self, GatewayFileError> {
        let mut at = Checker {
            text,
            path,
            base: path.parent().unwrap_or(Path::new("")),
            read_secret,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| at.line(span.start));
            at.invalid(line, e.message().trim_end().to_owned())
        })?;
        let mut file = GatewayFile::default();
        for repo in raw.repos {
            let line = at.line(repo.span().start);
            let repo = at.repo(line, repo.into_inner())?;
            if file.repos.iter().any(|known| known.url == repo.url) {
                return Err(
                    at.invalid(line, format!("repository {} is configured twice", repo.url))
                );
            }
            file.repos.push(repo);
        }
        for rule in raw.notify {
            let line = at.line(rule.span().start);
            file.notify.push(at.notify(line, rule.into_inner())?);
        }
        Ok(file)
    }

    /// The `[[repos]]` entry a hook's clone URL names, if any.
    pub fn repo(&self, clone_url: &str) -> Option<&RepoHook> {
        self.repos.iter().find(|repo| repo.is_named_by(clone_url))
    }
}

impl RepoHook {
    /// Whether a hook's clone URL names this repository.
    pub fn is_named_by(&self, clone_url: &str) -> bool {
        same_repository(self.url.as_str(), clone_url)
    }
}

/// One URL as hosts write it: a trailing `/` or `.git` and the scheme's and
/// host's case do not make another repository.
pub fn same_repository(a: &str, b: &str) -> bool {
    fn key(url: &str) -> String {
        let url = url.trim_end_matches('/');
        let url = url.strip_suffix(".git").unwrap_or(url);
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                format!(
                    "{}://{}/{path}",
                    scheme.to_ascii_lowercase(),
                    host.to_ascii_lowercase()
                )
            }
            None => url.to_owned(),
        }
    }
    key(a) == key(b)
}

struct Checker<'a, R> {
    text: &'a str,
    path: &'a Path,
    base: &'a Path,
    read_secret: R,
}

impl<R: FnMut(&Path) -> io::Result<String>> Checker<'_, R> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn invalid(&self, line: usize, message: String) -> GatewayFileError {
        GatewayFileError::Invalid {
            path: self.path.to_owned(),
            line,
            message,
        }
    }

    fn repo(&mut self, line: usize, raw: RawRepo) -> Result<RepoHook, GatewayFileError> {
        let url = RepoUrl::parse(raw.url).map_err(|e| self.invalid(line, format!("url {e}")))?;
        let refs = RefFilter::parse(&raw.refs.unwrap_or_default())
            .map_err(|e| self.invalid(line, format!("refs: {e}")))?;
        let status = match raw.status {
            Some(status) => Some(StatusTarget {
                api: status.api,
                url: self.http_url(line, "status.url", status.url)?,
                token: self.secret(line, &status.token_file)?,
            }),
            None => None,
        };
        Ok(RepoHook {
            url,
            webhook_secret: self.secret(line, &raw.webhook_secret_file)?,
            refs,
            status,
        })
    }

    fn notify(&mut self, line: usize, raw: RawNotify) -> Result<NotifyRule, GatewayFileError> {
        if raw.on.is_empty() {
            return Err(self.invalid(line, "on must name at least one event".into()));
        }
        let repo = match raw.repo {
            Some(repo) => {
                Some(RepoUrl::parse(repo).map_err(|e| self.invalid(line, format!("repo {e}")))?)
            }
            None => None,
        };
        let target = match (raw.webhook, raw.slack) {
            (Some(url), None) => NotifyTarget::Webhook(self.http_url(line, "webhook", url)?),
            (None, Some(url)) => NotifyTarget::Slack(self.http_url(line, "slack", url)?),
            _ => {
                return Err(self.invalid(line, "give exactly one of webhook and slack".into()));
            }
        };
        let secret = match (&target, raw.secret_file) {
            (NotifyTarget::Slack(_), Some(_)) => {
                return Err(self.invalid(
                    line,
                    "secret_file signs webhook deliveries; a slack URL carries its own key".into(),
                ));
            }
            (_, Some(file)) => Some(self.secret(line, &file)?),
            (_, None) => None,
        };
        Ok(NotifyRule {
            on: raw.on,
            repo,
            target,
            secret,
        })
    }

    fn http_url(&self, line: usize, key: &str, url: String) -> Result<String, GatewayFileError> {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.len() > 2048 || url.chars().any(|c| c.is_control() || c == ' ') {
            return Err(self.invalid(line, format!("{key} {url:?} is not an http(s) URL")));
        }
        Ok(url)
    }

    fn secret(&mut self, line: usize, file: &Path) -> Result<Secret, GatewayFileError> {
        let file = self.base.join(file);
        let bad = |reason: String| GatewayFileError::SecretFile {
            path: self.path.to_owned(),
            line,
            file: file.clone(),
            reason,
        };
        let content = (self.read_secret)(&file).map_err(|e| bad(e.to_string()))?;
        Secret::new(file.clone(), &content).ok_or_else(|| bad("is empty".into()))
    }
}

#[cfg(test)]
#[path = "gateway_file_tests.rs"]
mod tests;
