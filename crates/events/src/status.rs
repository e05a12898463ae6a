//! Queue and task lifecycle states, with the status words users of the
//! original system rely on (`Waiting`, `Running`, `Finished`).

use serde::{Deserialize, Serialize};

/// A word-valued enum (`as_str`) shows as its word and compares equal to
/// it, so code and tests that speak the view's words read as before.
macro_rules! word_enum {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, so a table's `{:<10}` lines the words up.
                f.pad(self.as_str())
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, word: &str) -> bool {
                self.as_str() == word
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }
    };
}
pub(crate) use word_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
pub enum QueueStatus {
    Waiting,
    Running,
    Finished,
    Error,
    Cancelled,
}

impl QueueStatus {
    pub const ALL: [QueueStatus; 5] = [
        Self::Waiting,
        Self::Running,
        Self::Finished,
        Self::Error,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting",
            Self::Running => "Running",
            Self::Finished => "Finished",
            Self::Error => "Error",
            Self::Cancelled => "Cancelled",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Error | Self::Cancelled)
    }
}
word_enum!(QueueStatus);

/// How a queue ended; the only statuses a `finished` event may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalStatus {
    Finished,
    Error,
    Cancelled,
}

impl From<FinalStatus> for QueueStatus {
    fn from(value: FinalStatus) -> Self {
        match value {
            FinalStatus::Finished => QueueStatus::Finished,
            FinalStatus::Error => QueueStatus::Error,
            FinalStatus::Cancelled => QueueStatus::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", oai(rename_all = "UPPERCASE"))]
pub enum TaskResult {
    Pass,
    Fail,
    Timeout,
    Error,
    /// Failed (`FAIL` or `TIMEOUT`) and then passed on a retry.
    Flaky,
}

impl TaskResult {
    pub const ALL: [TaskResult; 5] = [
        Self::Pass,
        Self::Fail,
        Self::Timeout,
        Self::Error,
        Self::Flaky,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Timeout => "TIMEOUT",
            Self::Error => "ERROR",
            Self::Flaky => "FLAKY",
        }
    }

    /// Whether a retry may turn this result around: a test that failed or
    /// hung, not one that could not run (`ERROR`).
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Fail | Self::Timeout)
    }

    /// Whether the task did what it should: `PASS`, or `FLAKY` (it passed
    /// in the end).
    pub fn is_pass(self) -> bool {
        matches!(self, Self::Pass | Self::Flaky)
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == word)
    }
}
word_enum!(TaskResult);

/// A task's state. Only a finished task has a result, and it always has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Waiting,
    Running,
    Finished(TaskResult),
    Skipped,
    Cancelled,
}

impl TaskState {
    pub fn status_word(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting",
            Self::Running => "Running",
            Self::Finished(_) => "Finished",
            Self::Skipped => "Skipped",
            Self::Cancelled => "Cancelled",
        }
    }

    pub fn result(self) -> Option<TaskResult> {
        match self {
            Self::Finished(result) => Some(result),
            _ => None,
        }
    }

    /// Reads a task view's two fields back; `None` for a combination that
    /// cannot exist (a running task with a result, a finished one without).
    pub fn from_columns(status: &str, result: Option<TaskResult>) -> Option<Self> {
        match (status, result) {
            ("Waiting", None) => Some(Self::Waiting),
            ("Running", None) => Some(Self::Running),
            ("Skipped", None) => Some(Self::Skipped),
            ("Cancelled", None) => Some(Self::Cancelled),
            ("Finished", Some(result)) => Some(Self::Finished(result)),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Waiting | Self::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_state_columns_round_trip_and_reject_impossible_pairs() {
        for state in [
            TaskState::Waiting,
            TaskState::Running,
            TaskState::Skipped,
            TaskState::Cancelled,
            TaskState::Finished(TaskResult::Timeout),
        ] {
            assert_eq!(
                TaskState::from_columns(state.status_word(), state.result()),
                Some(state)
            );
        }
        assert_eq!(
            TaskState::from_columns("Running", Some(TaskResult::Pass)),
            None
        );
        assert_eq!(TaskState::from_columns("Finished", None), None);
    }
}
