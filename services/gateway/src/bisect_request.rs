//! Turns a bisect request into validated values, naming the first
//! offending field (pure). The tasks, profile, requires and repo are
//! checked by the same rules as a submit's ([`Submission::parse`]): a step
//! is an ordinary queue, so what a queue refuses a bisect refuses up front.

use testarena_events::{
    BisectEventBody, BisectId, CaseName, GitRef, Label, Owner, ProfileName, RepoUrl, TaskSpec,
    MAX_RUNS_PER_STEP,
};

use crate::api::model::{BisectRequest, SourceBody, SubmitRequest, TaskBody};
use crate::request_error::RequestError;
use crate::submission::Submission;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BisectOrder {
    pub id: BisectId,
    pub repo: RepoUrl,
    pub good: Option<GitRef>,
    pub bad: GitRef,
    pub profile: Option<ProfileName>,
    pub requires: Vec<Label>,
    /// Each with `retries: 0`: a step's runs are the bisect's own retries.
    pub tasks: Vec<TaskSpec>,
    pub case: Option<CaseName>,
    pub runs_per_step: u8,
    pub owner: Owner,
}

impl BisectOrder {
    pub(crate) fn parse(
        request: BisectRequest,
        default_owner: Owner,
    ) -> Result<Self, RequestError> {
        let id = match request.id {
            Some(id) => BisectId::parse(id).map_err(|e| RequestError::invalid("id", e))?,
            None => BisectId::generate(),
        };
        let bad = GitRef::parse(request.bad).map_err(|e| RequestError::invalid("bad", e))?;
        let good = request
            .good
            .map(|g| GitRef::parse(g).map_err(|e| RequestError::invalid("good", e)))
            .transpose()?;
        let runs_per_step = request.runs_per_step.unwrap_or(1);
        if !(1..=MAX_RUNS_PER_STEP).contains(&runs_per_step) {
            return Err(RequestError::out_of_range(
                "runs_per_step",
                runs_per_step,
                format!("1 to {MAX_RUNS_PER_STEP}"),
            ));
        }
        let as_queue = SubmitRequest {
            id: None,
            source: SourceBody {
                repo: request.source.repo,
                git_ref: bad.to_string(),
            },
            profile: request.profile,
            tasks: request
                .tasks
                .into_iter()
                .map(|t| TaskBody {
                    id: t.id,
                    scenario: t.scenario,
                    timeout_s: t.timeout_s,
                    retries: Some(0),
                })
                .collect(),
            requires: request.requires,
            priority: None,
            owner: None,
            shards: None,
        };
        let queue = Submission::parse(as_queue, default_owner)?;
        Ok(Self {
            id,
            repo: queue.source.repo,
            good,
            bad,
            profile: queue.profile,
            requires: queue.requires,
            tasks: queue.tasks,
            case: request
                .case
                .map(|c| CaseName::parse(c).map_err(|e| RequestError::invalid("case", e)))
                .transpose()?,
            runs_per_step,
            owner: queue.owner,
        })
    }

    pub(crate) fn event_body(&self) -> BisectEventBody {
        BisectEventBody::Requested {
            repo: self.repo.clone(),
            good: self.good.clone(),
            bad: self.bad.clone(),
            profile: self.profile.clone(),
            requires: self.requires.clone(),
            tasks: self.tasks.clone(),
            case: self.case.clone(),
            runs_per_step: self.runs_per_step,
            owner: self.owner.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{BisectSourceBody, BisectTaskBody};

    fn request() -> BisectRequest {
        BisectRequest {
            id: Some("b1".into()),
            source: BisectSourceBody {
                repo: "/repo".into(),
            },
            good: Some("v1.0".into()),
            bad: "main".into(),
            profile: None,
            requires: Vec::new(),
            tasks: vec![BisectTaskBody {
                id: "t".into(),
                scenario: "t.sh".into(),
                timeout_s: None,
            }],
            runs_per_step: None,
            case: None,
        }
    }

    fn field(request: BisectRequest) -> String {
        BisectOrder::parse(request, Owner::anonymous())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let mut r = request();
        r.runs_per_step = Some(11);
        assert!(field(r).starts_with("runs_per_step:"));
        let mut r = request();
        r.runs_per_step = Some(0);
        assert!(field(r).starts_with("runs_per_step:"));
        let mut r = request();
        r.tasks.clear();
        assert!(field(r).starts_with("tasks:"));
        let mut r = request();
        r.bad = "a..b".into();
        assert!(field(r).starts_with("bad:"));
        let mut r = request();
        r.good = Some("-x".into());
        assert!(field(r).starts_with("good:"));
        let mut r = request();
        r.id = Some("b".repeat(41));
        assert!(field(r).starts_with("id:"));
        let mut r = request();
        r.source.repo = "ext::sh".into();
        assert!(field(r).starts_with("source.repo:"));
        let mut r = request();
        r.case = Some("aes\u{7}ecb".into());
        assert!(field(r).starts_with("case:"));
    }

    #[test]
    fn defaults_one_run_per_step_and_no_retries_per_task() {
        let order = BisectOrder::parse(request(), Owner::anonymous()).unwrap();
        assert_eq!(order.runs_per_step, 1);
        assert_eq!(order.tasks[0].retries, Some(0));
        let mut r = request();
        r.id = None;
        r.good = None;
        let order = BisectOrder::parse(r, Owner::anonymous()).unwrap();
        assert!(order.id.as_str().starts_with('b') && order.good.is_none());
    }
}
