//! A test's identity: (repository, profile, task id, JUnit case name — or
//! none for the task itself). The one type the worker's events, the
//! projector's history, the gateway and the CLI share. Only constructible
//! through [`TestKey::parse`] (or from a queue view's already validated
//! values), so holding one means every part is valid.

use serde::{Deserialize, Serialize};

use crate::{IdError, ProfileName, RepoUrl, TaskId};

/// Longest JUnit case name kept (bytes).
pub const MAX_CASE_NAME: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "TestRef", into = "TestRef")]
pub struct TestKey {
    repo: String,
    /// `""`: the worker's default profile.
    profile: String,
    task: String,
    /// `""`: the task itself, not one of its JUnit cases.
    case: String,
}

/// The wire and API shape of a [`TestKey`]: absent parts are `null`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestRef {
    pub repo: String,
    #[serde(default)]
    pub profile: Option<String>,
    pub task: String,
    #[serde(default)]
    pub case: Option<String>,
}

impl TestKey {
    /// Validates each part, naming the first that is wrong (`repo`,
    /// `profile`, `task` or `case`).
    pub fn parse(
        repo: &str,
        profile: Option<&str>,
        task: &str,
        case: Option<&str>,
    ) -> Result<Self, (&'static str, IdError)> {
        RepoUrl::parse(repo).map_err(|e| ("repo", e))?;
        if let Some(profile) = profile {
            ProfileName::parse(profile).map_err(|e| ("profile", e))?;
        }
        TaskId::parse(task).map_err(|e| ("task", e))?;
        if let Some(case) = case {
            check_case(case).map_err(|e| ("case", e))?;
        }
        Ok(Self::trusted(
            repo,
            profile.unwrap_or(""),
            task,
            case.unwrap_or(""),
        ))
    }

    /// A key from values a queue view holds, which were validated when the
    /// queue was submitted (and a case name from the worker's JUnit reader).
    pub fn trusted(repo: &str, profile: &str, task: &str, case: &str) -> Self {
        Self {
            repo: repo.to_owned(),
            profile: profile.to_owned(),
            task: task.to_owned(),
            case: case.to_owned(),
        }
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }
    /// `""` for the worker's default profile.
    pub fn profile(&self) -> &str {
        &self.profile
    }
    pub fn task(&self) -> &str {
        &self.task
    }
    /// `""` for the task itself.
    pub fn case(&self) -> &str {
        &self.case
    }

    /// The key of the task this key is a case of (itself for a task).
    pub fn task_key(&self) -> Self {
        Self::trusted(&self.repo, &self.profile, &self.task, "")
    }
}

fn check_case(case: &str) -> Result<(), IdError> {
    if case.is_empty() || case.len() > MAX_CASE_NAME {
        return Err(IdError {
            what: "case name",
            reason: format!(
                "is {} bytes long; 1 to {MAX_CASE_NAME} are allowed",
                case.len()
            ),
        });
    }
    if case.chars().any(char::is_control) {
        return Err(IdError {
            what: "case name",
            reason: "must not contain control characters".into(),
        });
    }
    Ok(())
}

impl TryFrom<TestRef> for TestKey {
    type Error = String;
    fn try_from(r: TestRef) -> Result<Self, String> {
        Self::parse(&r.repo, r.profile.as_deref(), &r.task, r.case.as_deref())
            .map_err(|(field, e)| format!("{field}: {e}"))
    }
}

impl From<TestKey> for TestRef {
    fn from(key: TestKey) -> Self {
        let some = |s: String| (!s.is_empty()).then_some(s);
        TestRef {
            repo: key.repo,
            profile: some(key.profile),
            task: key.task,
            case: some(key.case),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_with_nulls_for_absent_parts() {
        let key = TestKey::parse("/repo", None, "boot", Some("uart echo")).unwrap();
        let json = serde_json::to_value(&key).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"repo": "/repo", "profile": null, "task": "boot", "case": "uart echo"})
        );
        assert_eq!(serde_json::from_value::<TestKey>(json).unwrap(), key);
        assert_eq!(key.task_key().case(), "");
    }

    #[test]
    fn a_bad_part_is_named() {
        assert_eq!(
            TestKey::parse("/r", None, "a.b", None).unwrap_err().0,
            "task"
        );
        assert_eq!(
            TestKey::parse("/r", Some("x y"), "a", None).unwrap_err().0,
            "profile"
        );
        assert_eq!(
            TestKey::parse("/r", None, "a", Some("")).unwrap_err().0,
            "case"
        );
        assert_eq!(TestKey::parse("", None, "a", None).unwrap_err().0, "repo");
    }
}
