//! Push and pull-request hooks from GitHub, GitLab and Gitea: who sent them
//! (`signature`) and what they ask for (`payload`). Both pure; the route in
//! `api/hooks.rs` verifies first, then runs the repository's
//! `testarena.toml` at the named commit through `repo_run`.

pub(crate) mod payload;
pub(crate) mod signature;

/// The service a hook route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookService {
    Github,
    Gitlab,
    Gitea,
}

impl HookService {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Gitea => "gitea",
        }
    }

    /// The header naming the event (`push`, `Push Hook`, ...).
    pub(crate) fn event_header(self) -> &'static str {
        match self {
            Self::Github => "x-github-event",
            Self::Gitlab => "x-gitlab-event",
            Self::Gitea => "x-gitea-event",
        }
    }

    /// The header naming the delivery, the same on a redelivery: logged;
    /// a redelivery starts nothing new because queue ids are derived.
    pub(crate) fn delivery_header(self) -> &'static str {
        match self {
            Self::Github => "x-github-delivery",
            Self::Gitlab => "x-gitlab-event-uuid",
            Self::Gitea => "x-gitea-delivery",
        }
    }
}
