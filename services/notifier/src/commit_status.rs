//! Pure: a queue's state as a commit status, in the request each API
//! documents. GitHub: `POST {url}/repos/{owner}/{repo}/statuses/{sha}`,
//! JSON `{state, target_url, description, context}`, `Authorization:
//! Bearer`, `Accept: application/vnd.github+json`. Gitea: the same body at
//! `{url}/api/v1/repos/...`, `Authorization: token`. GitLab: `POST
//! {url}/api/v4/projects/{url-encoded path}/statuses/{sha}` with `state`,
//! `name`, `target_url`, `description` as query parameters and
//! `PRIVATE-TOKEN`.

use testarena_integrations::{StatusApi, StatusTarget};

use crate::outgoing::{percent_encode, Outgoing};

/// What the queue says about its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitState {
    /// Submitted or running.
    Pending,
    Success,
    /// The tests failed.
    Failure,
    /// The queue could not run its tests (a build or boot error).
    Error,
    Cancelled,
}

impl CommitState {
    /// A finished queue's verdict (`passed`, `failed`, `error`,
    /// `cancelled`) as a commit state.
    pub fn of_verdict(verdict: &str) -> Self {
        match verdict {
            "passed" => Self::Success,
            "failed" => Self::Failure,
            "cancelled" => Self::Cancelled,
            _ => Self::Error,
        }
    }

    /// The word the API takes: GitHub and Gitea know no cancelled (it is
    /// an `error` there, the description says which), GitLab no error.
    pub fn word(self, api: StatusApi) -> &'static str {
        match (api, self) {
            (_, Self::Pending) => "pending",
            (_, Self::Success) => "success",
            (StatusApi::Gitlab, Self::Failure | Self::Error) => "failed",
            (StatusApi::Gitlab, Self::Cancelled) => "canceled",
            (_, Self::Failure) => "failure",
            (_, Self::Error | Self::Cancelled) => "error",
        }
    }
}

/// One status to post: the state of one queue at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub commit: String,
    pub state: CommitState,
    /// Names the queue among the repository's other statuses.
    pub context: String,
    pub description: String,
    pub target_url: String,
}

/// Why a repository's statuses cannot be posted: said at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("repository {repo}: {reason}")]
pub struct StatusPathError {
    pub repo: String,
    pub reason: &'static str,
}

/// The repository's path on its host: GitHub and Gitea take `owner/repo`,
/// the URL's last two segments (`team/fw` of
/// `https://github.com/team/fw.git`, `git@github.com:team/fw.git` or a
/// mirror's `/srv/git/team/fw`), GitLab the whole path, groups and all.
pub fn repo_path(repo_url: &str, api: StatusApi) -> Result<String, StatusPathError> {
    let bad = |reason| StatusPathError {
        repo: repo_url.to_owned(),
        reason,
    };
    let path = match repo_url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None if repo_url.starts_with('/') => repo_url,
        None => repo_url.split_once(':').map_or("", |(_, path)| path),
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let safe = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !segments.iter().all(safe) {
        return Err(bad(
            "has a path segment other than letters, digits, '-', '_' and '.'",
        ));
    }
    match (api, segments.len()) {
        (_, 0 | 1) => Err(bad(
            "is not owner/repository (GitHub, Gitea) or group/project (GitLab)",
        )),
        (StatusApi::Gitlab, _) => Ok(segments.join("/")),
        (_, n) => Ok(segments[n - 2..].join("/")),
    }
}

/// The request that posts `status` for the repository at `path`.
pub fn status_request(target: &StatusTarget, path: &str, status: &CommitStatus) -> Outgoing {
    let base = target.url.trim_end_matches('/');
    let token = target.token.expose();
    let state = status.state.word(target.api);
    match target.api {
        StatusApi::Github | StatusApi::Gitea => {
            let (prefix, authorization) = match target.api {
                StatusApi::Github => ("", format!("Bearer {token}")),
                _ => ("/api/v1", format!("token {token}")),
            };
            let body = serde_json::json!({
                "state": state,
                "target_url": status.target_url,
                "description": status.description,
                "context": status.context,
            });
            Outgoing {
                url: format!("{base}{prefix}/repos/{path}/statuses/{}", status.commit),
                headers: vec![
                    ("Authorization", authorization),
                    ("Accept", "application/vnd.github+json".into()),
                    ("X-GitHub-Api-Version", "2022-11-28".into()),
                    ("Content-Type", "application/json".into()),
                ],
                body: body.to_string().into_bytes(),
            }
        }
        StatusApi::Gitlab => {
            let query = [
                ("state", state),
                ("name", status.context.as_str()),
                ("target_url", status.target_url.as_str()),
                ("description", status.description.as_str()),
            ]
            .iter()
            .map(|(key, value)| format!("{key}={}", percent_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
            Outgoing {
                url: format!(
                    "{base}/api/v4/projects/{}/statuses/{}?{query}",
                    percent_encode(path),
                    status.commit
                ),
                headers: vec![("PRIVATE-TOKEN", token.to_owned())],
                body: Vec::new(),
            }
        }
    }
}

/// The status's name among the repository's: `testarena/<queue>`, the
/// queue's id without the `-<commit12>` a pushed commit's queues end in,
/// so each push's `smoke` queue updates one `testarena/smoke` status.
pub fn context_of(queue_id: &str, commit: &str) -> String {
    let short = commit.get(..12).unwrap_or(commit);
    let name = queue_id
        .strip_suffix(short)
        .and_then(|rest| rest.strip_suffix('-'))
        .filter(|name| !name.is_empty())
        .unwrap_or(queue_id);
    format!("testarena/{name}")
}

/// GitHub shows about 140 characters of a description.
pub fn short_description(text: &str) -> String {
    const MAX: usize = 140;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX - 1).collect();
    cut.push('…');
    cut
}

/// Whether a ref is a whole commit SHA (a queue submitted at a commit).
pub fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use testarena_integrations::GatewayFile;

    fn target(api: &str) -> StatusTarget {
        let text = format!(
            "[[repos]]\nurl = \"https://example.com/team/fw.git\"\nwebhook_secret_file = \"hook\"\n\
             status = {{ api = \"{api}\", url = \"https://api.example.com/\", token_file = \"token\" }}\n"
        );
        let file = GatewayFile::parse(&text, Path::new("/etc/gw.toml"), |_| Ok("tok-123\n".into()))
            .expect("config parses");
        file.repos[0].status.clone().expect("a status target")
    }

    fn status(state: CommitState) -> CommitStatus {
        CommitStatus {
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            state,
            context: "testarena/smoke".into(),
            description: "failed: 1 of 2 tasks & more".into(),
            target_url: "https://arena.example.com/#/queue/smoke-0123456789ab".into(),
        }
    }

    #[test]
    fn github_gets_its_documented_request() {
        let request = status_request(&target("github"), "team/fw", &status(CommitState::Failure));
        assert_eq!(
            request.url,
            "https://api.example.com/repos/team/fw/statuses/0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(request.header("authorization"), Some("Bearer tok-123"));
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github+json")
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["state"], "failure");
        assert_eq!(body["context"], "testarena/smoke");
        assert_eq!(
            body["target_url"],
            "https://arena.example.com/#/queue/smoke-0123456789ab"
        );
    }

    #[test]
    fn gitea_takes_the_body_under_api_v1_with_a_token_header() {
        let request = status_request(&target("gitea"), "team/fw", &status(CommitState::Cancelled));
        assert!(request
            .url
            .starts_with("https://api.example.com/api/v1/repos/team/fw/statuses/"));
        assert_eq!(request.header("authorization"), Some("token tok-123"));
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["state"], "error");
    }

    #[test]
    fn gitlab_takes_query_parameters_an_encoded_path_and_private_token() {
        let request = status_request(
            &target("gitlab"),
            "group/sub/fw",
            &status(CommitState::Cancelled),
        );
        assert_eq!(
            request.url,
            "https://api.example.com/api/v4/projects/group%2Fsub%2Ffw/statuses/\
             0123456789abcdef0123456789abcdef01234567?state=canceled&name=testarena%2Fsmoke\
             &target_url=https%3A%2F%2Farena.example.com%2F%23%2Fqueue%2Fsmoke-0123456789ab\
             &description=failed%3A%201%20of%202%20tasks%20%26%20more"
        );
        assert_eq!(request.header("PRIVATE-TOKEN"), Some("tok-123"));
        assert!(request.header("authorization").is_none() && request.body.is_empty());
    }

    #[test]
    fn states_map_to_each_apis_words() {
        use CommitState::*;
        let github: Vec<_> = [Pending, Success, Failure, Error, Cancelled]
            .map(|s| s.word(StatusApi::Github))
            .into();
        assert_eq!(github, ["pending", "success", "failure", "error", "error"]);
        let gitlab: Vec<_> = [Pending, Success, Failure, Error, Cancelled]
            .map(|s| s.word(StatusApi::Gitlab))
            .into();
        assert_eq!(
            gitlab,
            ["pending", "success", "failed", "failed", "canceled"]
        );
        assert_eq!(CommitState::of_verdict("passed"), Success);
        assert_eq!(CommitState::of_verdict("nonsense"), Error);
    }

    #[test]
    fn the_repository_path_comes_from_https_and_scp_urls() {
        let gh = StatusApi::Github;
        assert_eq!(
            repo_path("https://github.com/team/fw.git", gh).unwrap(),
            "team/fw"
        );
        assert_eq!(
            repo_path("git@github.com:team/fw.git", gh).unwrap(),
            "team/fw"
        );
        assert_eq!(repo_path("https://h/team/fw/", gh).unwrap(), "team/fw");
        assert_eq!(repo_path("/srv/git/team/fw", gh).unwrap(), "team/fw");
        assert_eq!(
            repo_path("https://ghe.example.com/a/b/c", gh).unwrap(),
            "b/c"
        );
        assert_eq!(
            repo_path("https://gitlab.com/g/sub/fw.git", StatusApi::Gitlab).unwrap(),
            "g/sub/fw"
        );
    }

    #[test]
    fn hostile_repository_urls_are_refused_at_start() {
        for url in [
            "https://github.com/team",
            "fw",
            "https://github.com/team/../x",
            "https://github.com/team/fw?x=1",
            "https://github.com/te am/fw",
            "https://github.com//fw",
            "https://github.com",
            "https://github.com/",
        ] {
            assert!(repo_path(url, StatusApi::Github).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn a_context_drops_the_commit_suffix_of_a_pushed_queue() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(context_of("smoke-0123456789ab", sha), "testarena/smoke");
        assert_eq!(context_of("nightly", sha), "testarena/nightly");
        assert_eq!(context_of("0123456789ab", sha), "testarena/0123456789ab");
    }

    #[test]
    fn descriptions_are_cut_to_140_characters() {
        let long = "é".repeat(300);
        let cut = short_description(&long);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
        assert_eq!(short_description("short"), "short");
        assert!(is_full_sha("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_full_sha("main") && !is_full_sha("0123456789ab"));
    }
}
