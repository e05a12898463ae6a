//! Turns a submit request into validated domain values, naming the first
//! offending field. Pure: no I/O.

use std::collections::HashSet;

use testarena_events::{
    parse_labels, BisectId, EventBody, GitRef, Label, Owner, Priority, ProfileName, QueueId,
    RepoUrl, ScenarioPath, Source, TaskId, TaskSpec, MAX_REQUIRES, MAX_RETRIES,
};

use crate::api::error::ApiError;
use crate::api::model::SubmitRequest;

pub(crate) const MAX_TASKS: usize = 500;
/// A week: anything longer is a typo, not a test.
pub(crate) const MAX_TIMEOUT_S: u32 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Submission {
    pub id: QueueId,
    pub source: Source,
    pub profile: Option<ProfileName>,
    pub tasks: Vec<TaskSpec>,
    pub requires: Vec<Label>,
    pub priority: Priority,
    pub owner: Owner,
    /// The bisect whose step this is (set by the bisect driver, never by a request).
    pub bisect: Option<BisectId>,
}

impl Submission {
    /// `default_owner`: the owner when the request names none.
    pub(crate) fn parse(request: SubmitRequest, default_owner: Owner) -> Result<Self, ApiError> {
        let id = match request.id {
            Some(id) => QueueId::parse(id).map_err(|e| ApiError::invalid_field("id", e))?,
            None => QueueId::generate(),
        };
        let source = Source {
            repo: RepoUrl::parse(request.source.repo)
                .map_err(|e| ApiError::invalid_field("source.repo", e))?,
            git_ref: GitRef::parse(request.source.git_ref)
                .map_err(|e| ApiError::invalid_field("source.ref", e))?,
        };
        let profile = request
            .profile
            .map(|p| ProfileName::parse(p).map_err(|e| ApiError::invalid_field("profile", e)))
            .transpose()?;
        let requires = parse_labels("requires", &request.requires, MAX_REQUIRES)
            .map_err(|e| ApiError::invalid_field("requires", e.reason))?;
        let priority = request
            .priority
            .map(|p| Priority::parse(&p).map_err(|e| ApiError::invalid_field("priority", e.reason)))
            .transpose()?
            .unwrap_or_default();
        let owner = match request.owner {
            Some(owner) => {
                Owner::parse(owner).map_err(|e| ApiError::invalid_field("owner", e.reason))?
            }
            None => default_owner,
        };
        if request.tasks.is_empty() || request.tasks.len() > MAX_TASKS {
            return Err(ApiError::invalid_field(
                "tasks",
                format!(
                    "has {} tasks; 1 to {MAX_TASKS} are allowed",
                    request.tasks.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        let mut tasks = Vec::with_capacity(request.tasks.len());
        for (i, task) in request.tasks.into_iter().enumerate() {
            let id = TaskId::parse(task.id)
                .map_err(|e| ApiError::invalid_field(&format!("tasks[{i}].id"), e))?;
            if !seen.insert(id.clone()) {
                return Err(ApiError::invalid_field(
                    &format!("tasks[{i}].id"),
                    format!("task id {id:?} is used twice; task ids must be unique"),
                ));
            }
            let scenario = ScenarioPath::parse(task.scenario)
                .map_err(|e| ApiError::invalid_field(&format!("tasks[{i}].scenario"), e))?;
            if let Some(timeout) = task.timeout_s {
                if timeout == 0 || timeout > MAX_TIMEOUT_S {
                    return Err(ApiError::invalid_field(
                        &format!("tasks[{i}].timeout_s"),
                        format!("is {timeout}; 1 to {MAX_TIMEOUT_S} seconds are allowed"),
                    ));
                }
            }
            if let Some(retries) = task.retries {
                if retries > MAX_RETRIES {
                    return Err(ApiError::invalid_field(
                        &format!("tasks[{i}].retries"),
                        format!("is {retries}; 0 to {MAX_RETRIES} are allowed"),
                    ));
                }
            }
            tasks.push(TaskSpec {
                id,
                scenario,
                timeout_s: task.timeout_s,
                retries: task.retries,
            });
        }
        Ok(Self {
            id,
            source,
            profile,
            tasks,
            requires,
            priority,
            owner,
            bisect: None,
        })
    }

    pub(crate) fn event_body(&self) -> EventBody {
        EventBody::Submitted {
            source: self.source.clone(),
            profile: self.profile.clone(),
            tasks: self.tasks.clone(),
            requires: self.requires.clone(),
            priority: self.priority,
            owner: Some(self.owner.clone()),
            bisect: self.bisect.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{SourceBody, TaskBody};

    fn request(tasks: Vec<(&str, &str)>) -> SubmitRequest {
        SubmitRequest {
            id: Some("q1".into()),
            source: SourceBody {
                repo: "/repo".into(),
                git_ref: "main".into(),
            },
            profile: None,
            requires: Vec::new(),
            priority: None,
            owner: None,
            tasks: tasks
                .into_iter()
                .map(|(id, scenario)| TaskBody {
                    id: id.into(),
                    scenario: scenario.into(),
                    timeout_s: None,
                    retries: None,
                })
                .collect(),
        }
    }

    fn message(error: ApiError) -> String {
        match error {
            ApiError::InvalidField(body) => body.0.message,
            other => panic!("expected invalid_field, got {other:?}"),
        }
    }

    #[test]
    fn names_the_offending_field() {
        let error = Submission::parse(
            request(vec![("a", "x.scn"), ("b", "../x")]),
            Owner::anonymous(),
        )
        .unwrap_err();
        assert!(message(error).starts_with("tasks[1].scenario:"));
        let error = Submission::parse(request(vec![("a", "x"), ("a", "y")]), Owner::anonymous())
            .unwrap_err();
        assert!(message(error).contains("used twice"));
        let error = Submission::parse(request(vec![]), Owner::anonymous()).unwrap_err();
        assert!(message(error).starts_with("tasks:"));
    }

    #[test]
    fn requires_priority_and_owner_are_checked_and_defaulted() {
        let mut req = request(vec![("a", "x.scn")]);
        req.requires = vec!["board=x".into(), "nope".into()];
        let error = Submission::parse(req, Owner::anonymous()).unwrap_err();
        assert!(message(error).starts_with("requires: [1]"));
        let mut req = request(vec![("a", "x.scn")]);
        req.priority = Some("urgent".into());
        let error = Submission::parse(req, Owner::anonymous()).unwrap_err();
        assert!(message(error).starts_with("priority:"));
        let mut req = request(vec![("a", "x.scn")]);
        req.requires = vec!["board=x".into()];
        req.priority = Some("high".into());
        let team = Owner::parse("team-a").unwrap();
        let parsed = Submission::parse(req, team.clone()).unwrap();
        assert_eq!(
            (parsed.priority, parsed.owner, parsed.requires.len()),
            (Priority::High, team, 1)
        );
    }

    #[test]
    fn retries_above_five_name_the_field() {
        let mut req = request(vec![("a", "x.scn")]);
        req.tasks[0].retries = Some(6);
        let error = Submission::parse(req, Owner::anonymous()).unwrap_err();
        assert!(message(error).starts_with("tasks[0].retries:"));
    }

    #[test]
    fn generates_an_id_when_absent() {
        let mut req = request(vec![("a", "x.scn")]);
        req.id = None;
        assert!(Submission::parse(req, Owner::anonymous())
            .unwrap()
            .id
            .as_str()
            .starts_with('q'));
    }
}
