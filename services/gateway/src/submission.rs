//! Turns a submit request into validated domain values, naming the first
//! offending field. Pure: no I/O.

use std::collections::HashSet;

use testarena_events::{
    parse_labels, BisectId, EventBody, GitRef, Label, Owner, Priority, ProfileName, QueueId,
    RepoUrl, ScenarioPath, Source, TaskId, TaskSpec, MAX_REQUIRES, MAX_RETRIES, MAX_SHARDS,
};

use crate::api::model::{SourceBody, SubmitRequest, TaskBody};
use crate::request_error::RequestError;

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
    pub shards: u8,
    /// Indices into `tasks` in the order shards claim them (empty: task
    /// order); see [`claim_order`].
    pub claim_order: Vec<u16>,
    /// The bisect whose step this is (set by the bisect driver, never by a request).
    pub bisect: Option<BisectId>,
    /// The queue this one reruns (set by the rerun route, never by a submit).
    pub rerun_of: Option<QueueId>,
}

impl Submission {
    /// `default_owner`: the owner when the request names none.
    pub(crate) fn parse(
        request: SubmitRequest,
        default_owner: Owner,
    ) -> Result<Self, RequestError> {
        let id = match request.id {
            Some(id) => QueueId::parse(id).map_err(|e| RequestError::invalid("id", e))?,
            None => QueueId::generate(),
        };
        let source = parse_source(request.source)?;
        let profile = request
            .profile
            .map(|p| ProfileName::parse(p).map_err(|e| RequestError::invalid("profile", e)))
            .transpose()?;
        let requires = parse_labels("requires", &request.requires, MAX_REQUIRES)
            .map_err(|e| RequestError::invalid("requires", e.reason))?;
        let priority = request
            .priority
            .map(|p| Priority::parse(&p).map_err(|e| RequestError::invalid("priority", e.reason)))
            .transpose()?
            .unwrap_or_default();
        let owner = match request.owner {
            Some(owner) => {
                Owner::parse(owner).map_err(|e| RequestError::invalid("owner", e.reason))?
            }
            None => default_owner,
        };
        let shards = request.shards.unwrap_or(1);
        if !(1..=MAX_SHARDS).contains(&shards) {
            return Err(RequestError::out_of_range(
                "shards",
                shards,
                format!("1 to {MAX_SHARDS}"),
            ));
        }
        let tasks = parse_tasks(request.tasks)?;
        Ok(Self {
            id,
            source,
            profile,
            tasks,
            requires,
            priority,
            owner,
            shards,
            claim_order: Vec::new(),
            bisect: None,
            rerun_of: None,
        })
    }

    /// Whether `stored` is the `submitted` event of this same request: the
    /// claim order is left out, as it follows the durations recorded when
    /// the first of two identical submits arrived.
    pub(crate) fn is_stored_as(&self, stored: &EventBody) -> bool {
        let mut stored = stored.clone();
        if let EventBody::Submitted { claim_order, .. } = &mut stored {
            claim_order.clone_from(&self.claim_order);
        }
        stored == self.event_body()
    }

    pub(crate) fn event_body(&self) -> EventBody {
        EventBody::Submitted {
            source: self.source.clone(),
            profile: self.profile.clone(),
            tasks: self.tasks.clone(),
            requires: self.requires.clone(),
            priority: self.priority,
            owner: Some(self.owner.clone()),
            shards: self.shards,
            claim_order: self.claim_order.clone(),
            bisect: self.bisect.clone(),
            rerun_of: self.rerun_of.clone(),
        }
    }
}

fn parse_source(source: SourceBody) -> Result<Source, RequestError> {
    Ok(Source {
        repo: RepoUrl::parse(source.repo).map_err(|e| RequestError::invalid("source.repo", e))?,
        git_ref: GitRef::parse(source.git_ref)
            .map_err(|e| RequestError::invalid("source.ref", e))?,
    })
}

/// 1 to [`MAX_TASKS`] tasks, each id once, the first bad one named.
fn parse_tasks(bodies: Vec<TaskBody>) -> Result<Vec<TaskSpec>, RequestError> {
    if bodies.is_empty() || bodies.len() > MAX_TASKS {
        return Err(RequestError::TaskCount {
            found: bodies.len(),
            max: MAX_TASKS,
        });
    }
    let mut seen = HashSet::new();
    let mut tasks = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        tasks.push(parse_task(i, body, &mut seen)?);
    }
    Ok(tasks)
}

/// Task `i`; `seen` holds the ids of the tasks before it.
fn parse_task(
    i: usize,
    task: TaskBody,
    seen: &mut HashSet<TaskId>,
) -> Result<TaskSpec, RequestError> {
    let id =
        TaskId::parse(task.id).map_err(|e| RequestError::invalid(format!("tasks[{i}].id"), e))?;
    if !seen.insert(id.clone()) {
        return Err(RequestError::DuplicateTask {
            index: i,
            id: id.to_string(),
        });
    }
    let scenario = ScenarioPath::parse(task.scenario)
        .map_err(|e| RequestError::invalid(format!("tasks[{i}].scenario"), e))?;
    if let Some(timeout) = task.timeout_s {
        if timeout == 0 || timeout > MAX_TIMEOUT_S {
            return Err(RequestError::out_of_range(
                format!("tasks[{i}].timeout_s"),
                timeout,
                format!("1 to {MAX_TIMEOUT_S} seconds"),
            ));
        }
    }
    if let Some(retries) = task.retries {
        if retries > MAX_RETRIES {
            return Err(RequestError::out_of_range(
                format!("tasks[{i}].retries"),
                retries,
                format!("0 to {MAX_RETRIES}"),
            ));
        }
    }
    Ok(TaskSpec {
        id,
        scenario,
        timeout_s: task.timeout_s,
        retries: task.retries,
    })
}

/// The order in which the shards of a sharded queue claim its tasks:
/// longest recorded duration first, so the long ones do not start last and
/// the shards finish together. A task with no recorded duration may be
/// long too: those go first, in task order. Empty for one shard.
pub(crate) fn claim_order(shards: u8, expected_ms: &[Option<u64>]) -> Vec<u16> {
    if shards <= 1 {
        return Vec::new();
    }
    let mut order: Vec<u16> = (0..expected_ms.len())
        .filter_map(|i| u16::try_from(i).ok())
        .collect();
    // Stable: equal durations keep task order.
    order.sort_by_key(|&i| std::cmp::Reverse(expected_ms[usize::from(i)].unwrap_or(u64::MAX)));
    order
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
            shards: None,
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

    fn message(error: RequestError) -> String {
        error.to_string()
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

    #[test]
    fn shards_out_of_range_are_refused_naming_the_field() {
        for shards in [0, 65] {
            let mut body = request(vec![("t1", "s.py")]);
            body.shards = Some(shards);
            let error = Submission::parse(body, Owner::anonymous()).unwrap_err();
            assert!(message(error).contains(&format!("is {shards}; 1 to 64")));
        }
        let mut body = request(vec![("t1", "s.py")]);
        body.shards = Some(64);
        assert_eq!(
            Submission::parse(body, Owner::anonymous()).unwrap().shards,
            64
        );
    }

    #[test]
    fn shards_claim_the_longest_first_and_the_unknown_before_them() {
        let expected = [Some(10), None, Some(500), Some(10), None, Some(40)];
        assert_eq!(claim_order(4, &expected), vec![1, 4, 2, 5, 0, 3]);
        assert!(claim_order(1, &expected).is_empty());
    }

    #[test]
    fn a_retried_submit_matches_its_stored_event_whatever_its_claim_order() {
        let mut body = request(vec![("t1", "s.py"), ("t2", "s.py")]);
        body.shards = Some(2);
        let mut first = Submission::parse(body.clone(), Owner::anonymous()).unwrap();
        first.claim_order = vec![1, 0];
        let stored = first.event_body();
        let retry = Submission::parse(body, Owner::anonymous()).unwrap();
        assert!(retry.is_stored_as(&stored));
        let mut other = retry.clone();
        other.shards = 3;
        assert!(!other.is_stored_as(&stored));
    }
}
