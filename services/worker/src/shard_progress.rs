//! What a shard of a sharded queue needs to know of the queue's shared
//! task list, folded from the queue's events: which task each shard claimed
//! last, which claims ended in a result, and the commit the first checkout
//! resolved. Pure; `task_claims.rs` reads the events and publishes claims.

use std::collections::{HashMap, HashSet};

use testarena_events::{Event, EventBody, Stage, TaskId, TaskSpec};

/// The last claim of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claim {
    /// Stream sequence of the `task_claimed` event: a reclaim is
    /// conditional on it.
    seq: u64,
    shard: u8,
    attempt: u32,
}

#[derive(Debug, Default)]
pub(crate) struct ShardProgress {
    claims: HashMap<TaskId, Claim>,
    /// (task, shard, attempt) of every `task_finished` of a shard.
    results: HashSet<(TaskId, u8, u32)>,
    commit: Option<String>,
}

impl ShardProgress {
    /// Folds one of the queue's events, stored at stream sequence `seq`.
    pub(crate) fn apply(&mut self, seq: u64, event: &Event) {
        let Some(shard) = event.shard else {
            return;
        };
        match &event.body {
            EventBody::TaskClaimed { task_id, attempt } => {
                let claim = Claim {
                    seq,
                    shard,
                    attempt: *attempt,
                };
                self.claims.insert(task_id.clone(), claim);
            }
            EventBody::TaskFinished {
                task_id, attempt, ..
            } => {
                self.results.insert((task_id.clone(), shard, *attempt));
            }
            EventBody::StageFinished {
                stage: Stage::Checkout,
                commit: Some(commit),
                ..
            } if self.commit.is_none() => self.commit = Some(commit.clone()),
            _ => {}
        }
    }

    /// The commit every shard tests: the one the first checkout resolved,
    /// so a branch moving while shards start cannot split the queue.
    pub(crate) fn commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }

    fn is_done(&self, task: &TaskId) -> bool {
        self.claims
            .get(task)
            .is_some_and(|c| self.results.contains(&(task.clone(), c.shard, c.attempt)))
    }

    /// Tasks an earlier attempt of `shard` claimed and did not finish (its
    /// worker died): this attempt takes them back first, each conditional
    /// on that claim still being the task's last.
    pub(crate) fn to_resume(&self, shard: u8, attempt: u32, tasks: &[TaskSpec]) -> Vec<Resume> {
        tasks
            .iter()
            .enumerate()
            .filter_map(|(index, task)| {
                let claim = self.claims.get(&task.id)?;
                let orphaned = claim.shard == shard && claim.attempt < attempt;
                (orphaned && !self.is_done(&task.id)).then_some(Resume {
                    index,
                    last_claim_seq: claim.seq,
                })
            })
            .collect()
    }

    /// Whether some task has no claim yet.
    pub(crate) fn has_unclaimed(&self, tasks: &[TaskSpec]) -> bool {
        tasks.iter().any(|t| !self.claims.contains_key(&t.id))
    }

    /// Every task has a result of the shard that last claimed it: the queue
    /// is done.
    pub(crate) fn all_finished(&self, tasks: &[TaskSpec]) -> bool {
        tasks.iter().all(|t| self.is_done(&t.id))
    }
}

/// A task to take back from an earlier attempt of the same shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    pub index: usize,
    pub last_claim_seq: u64,
}

/// The order shards claim tasks in: the submit's `claim_order` when it
/// names every task once, else task order.
pub(crate) fn claim_sequence(claim_order: &[u16], tasks: usize) -> Vec<usize> {
    let order: Vec<usize> = claim_order.iter().map(|&i| usize::from(i)).collect();
    let mut seen = vec![false; tasks];
    let complete = order.len() == tasks
        && order
            .iter()
            .all(|&i| i < tasks && !std::mem::replace(&mut seen[i], true));
    if complete {
        order
    } else {
        (0..tasks).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::{QueueId, StageOutcome, TaskResult};

    fn tasks(n: usize) -> Vec<TaskSpec> {
        (0..n)
            .map(|i| TaskSpec::parse(&format!("t{i}"), "s.sh").unwrap())
            .collect()
    }

    fn event(shard: u8, body: EventBody) -> Event {
        Event::new(QueueId::parse("q").unwrap(), body).of_shard(Some(shard))
    }

    fn claimed(task: &str, shard: u8, attempt: u32) -> Event {
        let task_id = TaskId::parse(task).unwrap();
        event(shard, EventBody::TaskClaimed { task_id, attempt })
    }

    fn finished(task: &str, shard: u8, attempt: u32) -> Event {
        let body = EventBody::TaskFinished {
            task_id: TaskId::parse(task).unwrap(),
            attempt,
            result: TaskResult::Pass,
            exit_code: Some(0),
            duration_ms: 1,
            junit: None,
            message: None,
            tries: Vec::new(),
        };
        event(shard, body)
    }

    #[test]
    fn a_dead_attempts_unfinished_claims_are_resumed_by_the_next_attempt_of_its_shard_only() {
        let tasks = tasks(3);
        let mut progress = ShardProgress::default();
        progress.apply(10, &claimed("t0", 1, 1));
        progress.apply(11, &finished("t0", 1, 1));
        progress.apply(12, &claimed("t1", 1, 1));
        progress.apply(13, &claimed("t2", 0, 1));
        assert_eq!(
            progress.to_resume(1, 2, &tasks),
            vec![Resume {
                index: 1,
                last_claim_seq: 12
            }]
        );
        assert!(progress
            .to_resume(0, 2, &tasks)
            .iter()
            .all(|r| r.index != 1));
        assert!(
            progress.to_resume(1, 1, &tasks).is_empty(),
            "its own live claims"
        );
        assert!(!progress.all_finished(&tasks));
        assert!(!progress.has_unclaimed(&tasks));
    }

    #[test]
    fn a_result_counts_only_for_the_tasks_last_claim() {
        let tasks = tasks(1);
        let mut progress = ShardProgress::default();
        progress.apply(1, &claimed("t0", 0, 1));
        progress.apply(2, &claimed("t0", 0, 2));
        progress.apply(3, &finished("t0", 0, 1));
        assert!(
            !progress.all_finished(&tasks),
            "the reclaim has no result yet"
        );
        progress.apply(4, &finished("t0", 0, 2));
        assert!(progress.all_finished(&tasks));
    }

    #[test]
    fn the_first_checkouts_commit_is_the_queues() {
        let mut progress = ShardProgress::default();
        for (seq, (shard, sha)) in [(0, "aaa"), (1, "bbb")].into_iter().enumerate() {
            let body = EventBody::StageFinished {
                stage: Stage::Checkout,
                attempt: 1,
                outcome: StageOutcome::Ok,
                duration_ms: 1,
                commit: Some(sha.into()),
                commit_context: None,
                message: None,
            };
            progress.apply(seq as u64, &event(shard, body));
        }
        assert_eq!(progress.commit(), Some("aaa"));
    }

    #[test]
    fn a_claim_order_that_misses_or_repeats_a_task_falls_back_to_task_order() {
        assert_eq!(claim_sequence(&[2, 0, 1], 3), vec![2, 0, 1]);
        assert_eq!(claim_sequence(&[], 3), vec![0, 1, 2]);
        assert_eq!(claim_sequence(&[2, 2, 1], 3), vec![0, 1, 2]);
        assert_eq!(claim_sequence(&[0, 1, 5], 3), vec![0, 1, 2]);
    }
}
