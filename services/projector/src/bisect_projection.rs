//! How a bisect's events fold into its view (`BisectView`). Pure, like
//! `projection::apply` for queues. Every event is idempotent under a
//! repeat (a restarted or second driver may publish one again): the first
//! range, decision, walk-back result and end win; a queue is listed once.

use std::collections::HashMap;

use testarena_events::{
    BisectCommit, BisectEvent, BisectEventBody, BisectSourceView, BisectStepView, BisectTaskView,
    BisectView,
};

/// A stored bisect: its view and the sequence of its `requested`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredBisect {
    pub view: BisectView,
    pub requested_seq: u64,
}

/// What one batch does to one bisect's row.
#[derive(Debug, PartialEq)]
pub(crate) enum BisectWrite {
    Save {
        view: Box<BisectView>,
        requested_seq: u64,
        updated_seq: u64,
    },
    Delete,
}

/// Folds a batch's bisect events (in stream order) over the stored rows of
/// the bisects they name; one write per bisect that changed, in the order
/// each first changed.
pub(crate) fn fold_batch(
    mut stored: HashMap<String, StoredBisect>,
    events: &[(u64, BisectEvent)],
) -> Vec<(String, BisectWrite)> {
    let mut writes: Vec<(String, BisectWrite)> = Vec::new();
    for (seq, event) in events {
        let id = event.bisect_id.to_string();
        let before = stored.remove(&id);
        let had = before.is_some();
        let (after, changed) = apply(before, *seq, event);
        if !changed {
            if let Some(kept) = after {
                stored.insert(id, kept);
            }
            continue;
        }
        let write = match &after {
            Some(row) => BisectWrite::Save {
                view: Box::new(row.view.clone()),
                requested_seq: row.requested_seq,
                updated_seq: *seq,
            },
            None if had => BisectWrite::Delete,
            None => continue,
        };
        match writes.iter_mut().find(|(w, _)| *w == id) {
            Some((_, slot)) => *slot = write,
            None => writes.push((id.clone(), write)),
        }
        if let Some(row) = after {
            stored.insert(id, row);
        }
    }
    writes
}

/// One event on one bisect: the row after it, and whether it changed.
fn apply(row: Option<StoredBisect>, seq: u64, event: &BisectEvent) -> (Option<StoredBisect>, bool) {
    match (&event.body, row) {
        (BisectEventBody::Requested { .. }, None) => (
            Some(StoredBisect {
                view: requested_view(event),
                requested_seq: seq,
            }),
            true,
        ),
        (_, None) => (None, false),
        (BisectEventBody::Deleted {}, Some(_)) => (None, true),
        (_, Some(row)) if row.view.is_ended() => (Some(row), false),
        (body, Some(mut row)) => {
            let changed = apply_to_running(&mut row.view, body, &event.at);
            (Some(row), changed)
        }
    }
}

fn requested_view(event: &BisectEvent) -> BisectView {
    let BisectEventBody::Requested {
        repo,
        good,
        bad,
        profile,
        requires,
        tasks,
        case,
        runs_per_step,
        owner,
    } = &event.body
    else {
        unreachable!("called for `requested` only");
    };
    BisectView {
        id: event.bisect_id.to_string(),
        status: "Running".to_owned(),
        source: BisectSourceView {
            repo: repo.to_string(),
        },
        good: None,
        bad: bad.to_string(),
        good_ref: good.as_ref().map(ToString::to_string),
        bad_ref: bad.to_string(),
        profile: profile.as_ref().map(ToString::to_string),
        requires: requires.iter().map(ToString::to_string).collect(),
        tasks: tasks
            .iter()
            .map(|t| BisectTaskView {
                id: t.id.to_string(),
                scenario: t.scenario.to_string(),
                timeout_s: t.timeout_s,
            })
            .collect(),
        case: case.as_ref().map(ToString::to_string),
        runs_per_step: *runs_per_step,
        owner: owner.as_str().to_owned(),
        first_bad: None,
        commits: Vec::new(),
        steps: Vec::new(),
        reason: None,
        cancel_requested: false,
        created_at: event.at.clone(),
        ended_at: None,
    }
}

/// An event on a running bisect; whether it changed the view.
fn apply_to_running(view: &mut BisectView, body: &BisectEventBody, at: &str) -> bool {
    match body {
        BisectEventBody::Requested { .. } | BisectEventBody::Deleted {} => false,
        BisectEventBody::RangeResolved { good, bad, commits } => {
            if !view.commits.is_empty() {
                return false;
            }
            view.good.clone_from(good);
            view.bad.clone_from(bad);
            view.commits.clone_from(commits);
            true
        }
        BisectEventBody::StepQueued {
            commit,
            phase,
            queue_id,
            ..
        } => apply_step_queued(view, commit, phase.as_str(), queue_id.as_str()),
        BisectEventBody::StepDecided {
            commit,
            phase,
            verdict,
            majority,
        } => {
            let Some(step) = step_mut(view, commit, phase.as_str()).filter(|s| s.verdict.is_none())
            else {
                return false;
            };
            step.verdict = Some(verdict.as_str().to_owned());
            step.majority = majority.map(|m| m.as_str().to_owned());
            true
        }
        BisectEventBody::GoodFound { commit } => {
            let changed = view.good.is_none();
            view.good.get_or_insert_with(|| commit.clone());
            changed
        }
        BisectEventBody::Ended {
            status,
            first_bad,
            reason,
        } => {
            view.status = status.as_str().to_owned();
            view.first_bad = first_bad.as_deref().map(|sha| culprit(view, sha));
            view.reason.clone_from(reason);
            view.ended_at = Some(at.to_owned());
            true
        }
        BisectEventBody::CancelRequested { .. } => {
            let changed = !view.cancel_requested;
            view.cancel_requested = true;
            changed
        }
    }
}

fn step_mut<'a>(
    view: &'a mut BisectView,
    commit: &str,
    phase: &str,
) -> Option<&'a mut BisectStepView> {
    view.steps
        .iter_mut()
        .find(|s| s.commit == commit && s.phase == phase)
}

/// Adds the queue to its step (the step first, if it is new); a queue
/// already listed changes nothing.
fn apply_step_queued(view: &mut BisectView, commit: &str, phase: &str, queue_id: &str) -> bool {
    if step_mut(view, commit, phase).is_none() {
        view.steps.push(BisectStepView {
            commit: commit.to_owned(),
            phase: phase.to_owned(),
            queues: Vec::new(),
            verdict: None,
            majority: None,
        });
    }
    let step = step_mut(view, commit, phase).expect("added above");
    if step.queues.iter().any(|q| q == queue_id) {
        return false;
    }
    step.queues.push(queue_id.to_owned());
    true
}

/// The culprit's line of the range (a SHA outside it keeps its SHA only).
fn culprit(view: &BisectView, sha: &str) -> BisectCommit {
    view.commit(sha).cloned().unwrap_or_else(|| BisectCommit {
        commit: sha.to_owned(),
        subject: String::new(),
        author: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::{
        BisectEnd, BisectId, GitRef, Owner, QueueId, RepoUrl, StepPhase, StepVerdict, TaskSpec,
    };

    fn event(body: BisectEventBody) -> BisectEvent {
        BisectEvent::new(BisectId::parse("b1").unwrap(), body)
    }

    fn requested() -> BisectEvent {
        event(BisectEventBody::Requested {
            repo: RepoUrl::parse("/repo").unwrap(),
            good: None,
            bad: GitRef::parse("main").unwrap(),
            profile: None,
            requires: Vec::new(),
            tasks: vec![TaskSpec::parse("t", "t.sh").unwrap()],
            case: None,
            runs_per_step: 1,
            owner: Owner::anonymous(),
        })
    }

    fn commit(sha: &str) -> BisectCommit {
        BisectCommit {
            commit: sha.into(),
            subject: format!("subject {sha}"),
            author: "A <a@x>".into(),
        }
    }

    fn queued(sha: &str, run: u8) -> BisectEvent {
        event(BisectEventBody::StepQueued {
            commit: sha.into(),
            phase: StepPhase::Test,
            run,
            queue_id: QueueId::parse(format!("b1-{sha}-r{run}")).unwrap(),
        })
    }

    fn fold(events: Vec<BisectEvent>) -> Vec<(String, BisectWrite)> {
        let numbered: Vec<(u64, BisectEvent)> = (1..).zip(events).collect();
        fold_batch(HashMap::new(), &numbered)
    }

    fn saved(writes: &[(String, BisectWrite)]) -> &BisectView {
        match &writes[0].1 {
            BisectWrite::Save { view, .. } => view,
            other => panic!("expected a save, got {other:?}"),
        }
    }

    #[test]
    fn repeated_events_change_nothing_and_the_first_decision_wins() {
        let range = event(BisectEventBody::RangeResolved {
            good: None,
            bad: "c2".into(),
            commits: vec![commit("c1"), commit("c2")],
        });
        let decided = |verdict| {
            event(BisectEventBody::StepDecided {
                commit: "c2".into(),
                phase: StepPhase::Test,
                verdict,
                majority: None,
            })
        };
        let writes = fold(vec![
            requested(),
            range.clone(),
            range,
            queued("c2", 1),
            queued("c2", 1),
            decided(StepVerdict::Fail),
            decided(StepVerdict::Pass),
            event(BisectEventBody::GoodFound {
                commit: "c1".into(),
            }),
        ]);
        let view = saved(&writes);
        assert_eq!(view.bad, "c2");
        assert_eq!(view.good.as_deref(), Some("c1"));
        assert_eq!(view.steps.len(), 1);
        assert_eq!(view.steps[0].queues, vec!["b1-c2-r1"]);
        assert_eq!(view.steps[0].verdict.as_deref(), Some("fail"));
        assert!(matches!(
            writes[0].1,
            BisectWrite::Save {
                updated_seq: 8,
                requested_seq: 1,
                ..
            }
        ));
    }

    #[test]
    fn an_end_names_the_culprit_from_the_range_and_freezes_the_view() {
        let writes = fold(vec![
            requested(),
            event(BisectEventBody::RangeResolved {
                good: Some("c1".into()),
                bad: "c2".into(),
                commits: vec![commit("c1"), commit("c2")],
            }),
            event(BisectEventBody::Ended {
                status: BisectEnd::Found,
                first_bad: Some("c2".into()),
                reason: None,
            }),
            event(BisectEventBody::CancelRequested { reason: None }),
        ]);
        let view = saved(&writes);
        assert_eq!(view.status, "Found");
        assert_eq!(view.first_bad.as_ref().unwrap().subject, "subject c2");
        assert!(!view.cancel_requested);
    }

    #[test]
    fn a_delete_removes_a_stored_bisect_and_events_of_unknown_ones_are_ignored() {
        let stored = StoredBisect {
            view: requested_view(&requested()),
            requested_seq: 1,
        };
        let writes = fold_batch(
            HashMap::from([("b1".to_owned(), stored)]),
            &[(5, event(BisectEventBody::Deleted {}))],
        );
        assert_eq!(writes, vec![("b1".to_owned(), BisectWrite::Delete)]);
        assert!(fold(vec![queued("c2", 1)]).is_empty());
    }
}
