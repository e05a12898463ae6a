//! Why a submit or a bisect request is refused: the field at fault and
//! why. The validation that returns it is pure; only `api/error.rs` turns
//! it into an HTTP status (422).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RequestError {
    /// The value is not one the field may hold (an id, a ref, a label…).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A number outside its bounds; `allowed` says them ("1 to 64").
    #[error("{field}: is {found}; {allowed} are allowed")]
    OutOfRange {
        field: String,
        found: u64,
        allowed: String,
    },
    /// No tasks, or more than a queue may have.
    #[error("tasks: has {found} tasks; 1 to {max} are allowed")]
    TaskCount { found: usize, max: usize },
    /// Two tasks with one id.
    #[error("tasks[{index}].id: task id {id:?} is used twice; task ids must be unique")]
    DuplicateTask { index: usize, id: String },
}

impl RequestError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn out_of_range(
        field: impl Into<String>,
        found: impl Into<u64>,
        allowed: impl Into<String>,
    ) -> Self {
        Self::OutOfRange {
            field: field.into(),
            found: found.into(),
            allowed: allowed.into(),
        }
    }
}
