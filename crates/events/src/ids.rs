//! Newtypes whose only constructor validates, so that holding one means the
//! value is safe to put in a NATS subject, a file name, or a shell command line.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {reason}")]
pub struct IdError {
    /// Which kind of value was rejected ("queue id", "scenario path", ...).
    pub what: &'static str,
    pub reason: String,
}

impl IdError {
    fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }
}

/// `[A-Za-z0-9_-]{1,64}`: the rule for every id that becomes a NATS subject
/// token or a folder name.
fn check_token(what: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::new(what, "must not be empty"));
    }
    if value.len() > 64 {
        return Err(IdError::new(
            what,
            format!("is {} characters long; at most 64 are allowed", value.len()),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(IdError::new(
            what,
            format!("contains {bad:?}; only letters, digits, '_' and '-' are allowed"),
        ));
    }
    Ok(())
}

fn check_no_control(what: &'static str, value: &str) -> Result<(), IdError> {
    if value.chars().any(char::is_control) {
        return Err(IdError::new(what, "must not contain control characters"));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
pub(crate) use string_newtype;

/// A queue id: a NATS subject token and a folder name under the data dir.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueId(String);
string_newtype!(QueueId);

impl QueueId {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        check_token("queue id", &value)?;
        Ok(Self(value))
    }

    /// A fresh id for a submit that named none: time-ordered (UUIDv7), so ids
    /// sort roughly by submission time.
    pub fn generate() -> Self {
        Self(format!("q{}", uuid::Uuid::now_v7().simple()))
    }
}

/// A test case's name as the test history keys it: `classname.name` for
/// a JUnit case with a class, else its name (a console case's name). Not
/// a subject token: 1 to [`CaseName::MAX_LEN`] bytes without control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseName(String);
string_newtype!(CaseName);

impl CaseName {
    pub const MAX_LEN: usize = 512;

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let problem = if value.is_empty() {
            Some("is empty".to_owned())
        } else if value.len() > Self::MAX_LEN {
            Some(format!(
                "is {} bytes long; at most {} are allowed",
                value.len(),
                Self::MAX_LEN
            ))
        } else if value.chars().any(char::is_control) {
            Some("contains a control character".to_owned())
        } else {
            None
        };
        match problem {
            Some(why) => Err(IdError::new("case name", why)),
            None => Ok(Self(value)),
        }
    }
}

/// A bisect id: a NATS subject token. At most [`BisectId::MAX_LEN`]
/// characters, so a step queue's id (`<bisect>-<commit12>-r<run>`) is
/// still a valid [`QueueId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BisectId(String);
string_newtype!(BisectId);

impl BisectId {
    pub const MAX_LEN: usize = 40;

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        check_token("bisect id", &value)?;
        if value.len() > Self::MAX_LEN {
            return Err(IdError::new(
                "bisect id",
                format!(
                    "is {} characters long; at most {} are allowed",
                    value.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(value))
    }

    /// A fresh time-ordered id (UUIDv7), like [`QueueId::generate`].
    pub fn generate() -> Self {
        Self(format!("b{}", uuid::Uuid::now_v7().simple()))
    }
}

/// A task id, unique within its queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId(String);
string_newtype!(TaskId);

impl TaskId {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        check_token("task id", &value)?;
        Ok(Self(value))
    }
}

/// A profile name as configured in a worker's TOML.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProfileName(String);
string_newtype!(ProfileName);

impl ProfileName {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        check_token("profile name", &value)?;
        Ok(Self(value))
    }
}

/// A board's name in its worker's `[boards.<name>]`: a subject token, so
/// `<prefix>.boards.<worker>.<board>.<kind>` names one board.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoardName(String);
string_newtype!(BoardName);

impl BoardName {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        check_token("board name", &value)?;
        Ok(Self(value))
    }
}

/// A scenario path: relative, inside the checkout, no `..`, so a queue can
/// never point a task at a file outside the repository it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScenarioPath(String);
string_newtype!(ScenarioPath);

impl ScenarioPath {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        const WHAT: &str = "scenario path";
        let value = value.into();
        if value.trim().is_empty() {
            return Err(IdError::new(WHAT, "must not be empty"));
        }
        if value.len() > 1024 {
            return Err(IdError::new(WHAT, "is longer than 1024 characters"));
        }
        check_no_control(WHAT, &value)?;
        if value.starts_with('/') || value.starts_with('\\') || value.contains(':') {
            return Err(IdError::new(
                WHAT,
                format!("{value:?} is absolute; it must be relative to the repository"),
            ));
        }
        if value.split(['/', '\\']).any(|part| part == "..") {
            return Err(IdError::new(
                WHAT,
                format!("{value:?} contains '..'; it must stay inside the repository"),
            ));
        }
        if value.starts_with('-') {
            return Err(IdError::new(WHAT, "must not start with '-'"));
        }
        Ok(Self(value))
    }
}

/// A git ref (branch, tag or commit). Never starts with `-`, so it cannot be
/// read as an option by git.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GitRef(String);
string_newtype!(GitRef);

impl GitRef {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        const WHAT: &str = "ref";
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::new(WHAT, "must not be empty"));
        }
        if value.len() > 255 {
            return Err(IdError::new(WHAT, "is longer than 255 characters"));
        }
        if value.starts_with('-') {
            return Err(IdError::new(
                WHAT,
                format!("{value:?} must not start with '-'"),
            ));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(IdError::new(WHAT, "must not contain whitespace"));
        }
        if value.contains("..") {
            return Err(IdError::new(WHAT, "must not contain '..'"));
        }
        Ok(Self(value))
    }
}

/// A repository URL or local path, as git understands it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoUrl(String);
string_newtype!(RepoUrl);

impl RepoUrl {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        const WHAT: &str = "repo";
        let value = value.into();
        if value.trim().is_empty() {
            return Err(IdError::new(WHAT, "must not be empty"));
        }
        if value.len() > 2048 {
            return Err(IdError::new(WHAT, "is longer than 2048 characters"));
        }
        if value.starts_with('-') {
            return Err(IdError::new(
                WHAT,
                format!("{value:?} must not start with '-'"),
            ));
        }
        check_no_control(WHAT, &value)?;
        // `ext::` lets a URL run arbitrary commands through git's remote helpers.
        if value.starts_with("ext::") {
            return Err(IdError::new(
                WHAT,
                "uses the ext:: transport, which is not allowed",
            ));
        }
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_id_accepts_the_token_alphabet_only() {
        assert!(QueueId::parse("fw-build_42").is_ok());
        assert!(QueueId::parse("").is_err());
        assert!(QueueId::parse("a.b").is_err());
        assert!(QueueId::parse("a b").is_err());
        assert!(QueueId::parse("x".repeat(64)).is_ok());
        assert!(QueueId::parse("x".repeat(65)).is_err());
        assert!(QueueId::parse(QueueId::generate().to_string()).is_ok());
    }

    #[test]
    fn scenario_path_must_stay_inside_the_repo() {
        assert!(ScenarioPath::parse("scenarios/smoke.scn").is_ok());
        assert!(ScenarioPath::parse("/etc/passwd").is_err());
        assert!(ScenarioPath::parse("../secret").is_err());
        assert!(ScenarioPath::parse("a/../../b").is_err());
        assert!(ScenarioPath::parse("C:\\x").is_err());
        assert!(ScenarioPath::parse("").is_err());
    }

    #[test]
    fn git_ref_cannot_be_an_option() {
        assert!(GitRef::parse("main").is_ok());
        assert!(GitRef::parse("refs/tags/v1.0").is_ok());
        assert!(GitRef::parse("--upload-pack=evil").is_err());
        assert!(GitRef::parse("").is_err());
    }

    #[test]
    fn repo_url_rejects_options_and_ext_transport() {
        assert!(RepoUrl::parse("https://example.com/fw.git").is_ok());
        assert!(RepoUrl::parse("/tmp/repo").is_ok());
        assert!(RepoUrl::parse("-oProxyCommand=x").is_err());
        assert!(RepoUrl::parse("ext::sh -c touch% /tmp/x").is_err());
    }

    #[test]
    fn ids_round_trip_through_json_and_reject_bad_values() {
        let id: QueueId = serde_json::from_str("\"q1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"q1\"");
        assert!(serde_json::from_str::<QueueId>("\"q 1\"").is_err());
    }
}
