//! The search played against a simulated repository: each commit's runs
//! come out as an oracle says, the view is folded as the projector would,
//! and every submitted run is checked to be new.

use super::*;
use testarena_events::{BisectCommit, BisectSourceView, BisectTaskView};

fn sha(i: usize) -> String {
    format!("{i:040x}")
}

fn view(commits: usize, good: bool, runs_per_step: u8) -> BisectView {
    BisectView {
        id: "b1".into(),
        status: "Running".into(),
        source: BisectSourceView {
            repo: "/repo".into(),
        },
        good: good.then(|| sha(0)),
        bad: sha(commits - 1),
        good_ref: good.then(|| "v1".into()),
        bad_ref: "main".into(),
        profile: None,
        requires: Vec::new(),
        tasks: vec![BisectTaskView {
            id: "t".into(),
            scenario: "t.sh".into(),
            timeout_s: None,
        }],
        case: None,
        runs_per_step,
        owner: "anonymous".into(),
        first_bad: None,
        commits: (0..commits)
            .map(|i| BisectCommit {
                commit: sha(i),
                subject: format!("commit {i}"),
                author: "A <a@x>".into(),
            })
            .collect(),
        steps: Vec::new(),
        reason: None,
        cancel_requested: false,
        created_at: "t".into(),
        ended_at: None,
    }
}

/// The commit index of a SHA made by `sha`.
fn index(commit: &str) -> usize {
    usize::from_str_radix(commit, 16).unwrap()
}

struct Played {
    end: Next,
    view: BisectView,
    runs: usize,
}

/// Plays the search to its end; `oracle(commit index, phase, run)`.
fn play(mut view: BisectView, oracle: impl Fn(usize, StepPhase, u8) -> RunOutcome) -> Played {
    let mut outcomes: HashMap<String, RunOutcome> = HashMap::new();
    let mut runs = 0;
    for _ in 0..1000 {
        match next(&view, &outcomes) {
            Next::Wait => {
                let pending: Vec<(String, String, StepPhase)> = view
                    .steps
                    .iter()
                    .flat_map(|s| {
                        s.queues
                            .iter()
                            .map(move |q| (q.clone(), s.commit.clone(), phase_of(s)))
                    })
                    .filter(|(q, _, _)| !outcomes.contains_key(q))
                    .collect();
                assert!(!pending.is_empty(), "waiting with nothing running");
                for (queue, commit, phase) in pending {
                    let run = queue.rsplit('-').next().unwrap().parse().unwrap();
                    outcomes.insert(queue, oracle(index(&commit), phase, run));
                }
            }
            Next::Queue(requests) => {
                assert!(!requests.is_empty());
                for r in requests {
                    let queue = format!("{}-{}-{}", r.commit, r.phase.as_str(), r.run);
                    let step = match view
                        .steps
                        .iter_mut()
                        .find(|s| s.commit == r.commit && s.phase == r.phase.as_str())
                    {
                        Some(step) => step,
                        None => {
                            view.steps.push(BisectStepView {
                                commit: r.commit.clone(),
                                phase: r.phase.as_str().into(),
                                queues: Vec::new(),
                                verdict: None,
                                majority: None,
                            });
                            view.steps.last_mut().unwrap()
                        }
                    };
                    assert!(!step.queues.contains(&queue), "{queue} queued twice");
                    assert_eq!(step.queues.len() + 1, r.run as usize, "runs in order");
                    step.queues.push(queue);
                    runs += 1;
                }
            }
            Next::Decide {
                commit,
                phase,
                verdict,
                majority,
            } => {
                let step = view
                    .steps
                    .iter_mut()
                    .find(|s| s.commit == commit && s.phase == phase.as_str())
                    .unwrap();
                step.verdict = Some(verdict.as_str().into());
                step.majority = majority.map(|m| m.as_str().into());
            }
            Next::GoodFound(commit) => view.good = Some(commit),
            end @ (Next::End { .. } | Next::Cancel(_)) => {
                return Played { end, view, runs };
            }
            Next::ResolveRange => panic!("the range is resolved"),
        }
    }
    panic!("the search did not end");
}

/// Commits from `culprit` on fail, the others pass.
fn regression_at(culprit: usize) -> impl Fn(usize, StepPhase, u8) -> RunOutcome {
    move |i, _, _| match i >= culprit {
        true => RunOutcome::Fail,
        false => RunOutcome::Pass,
    }
}

fn found(played: &Played) -> usize {
    match &played.end {
        Next::End {
            status: BisectEnd::Found,
            first_bad: Some(sha),
            ..
        } => index(sha),
        other => panic!("expected Found, got {other:?}"),
    }
}

fn inconclusive_reason(played: &Played) -> &str {
    match &played.end {
        Next::End {
            status: BisectEnd::Inconclusive,
            reason: Some(reason),
            ..
        } => reason,
        other => panic!("expected Inconclusive, got {other:?}"),
    }
}

fn verdict_of(view: &BisectView, i: usize, phase: &str) -> Option<String> {
    view.steps
        .iter()
        .find(|s| s.commit == sha(i) && s.phase == phase)
        .and_then(|s| s.verdict.clone())
}

#[test]
fn finds_every_culprit_of_a_sixteen_commit_range_and_confirms_it() {
    for culprit in 1..16 {
        let played = play(view(16, true, 1), regression_at(culprit));
        assert_eq!(found(&played), culprit);
        assert_eq!(
            verdict_of(&played.view, culprit, "confirm").as_deref(),
            Some("fail")
        );
        assert_eq!(
            verdict_of(&played.view, culprit - 1, "confirm").as_deref(),
            Some("pass")
        );
        // Endpoints, at most log2(16) halvings, two confirmations.
        assert!(played.runs <= 2 + 4 + 2, "{} runs", played.runs);
    }
}

#[test]
fn a_range_is_checked_at_its_endpoints_first_both_at_once() {
    let next = next(&view(16, true, 2), &HashMap::new());
    let commits: Vec<(String, u8)> = match next {
        Next::Queue(runs) => runs.into_iter().map(|r| (r.commit, r.run)).collect(),
        other => panic!("expected runs, got {other:?}"),
    };
    assert_eq!(
        commits,
        vec![(sha(15), 1), (sha(15), 2), (sha(0), 1), (sha(0), 2)]
    );
}

#[test]
fn a_failing_good_or_a_passing_bad_is_inconclusive_with_the_reason() {
    let played = play(view(16, true, 1), |_, _, _| RunOutcome::Fail);
    assert!(inconclusive_reason(&played).contains("good"));
    assert!(inconclusive_reason(&played).contains("fails too"));
    let played = play(view(16, true, 1), |_, _, _| RunOutcome::Pass);
    assert!(inconclusive_reason(&played).contains("passes"));
    let played = play(view(16, true, 1), |i, _, _| match i {
        15 => RunOutcome::Untestable,
        _ => RunOutcome::Fail,
    });
    assert!(inconclusive_reason(&played).starts_with("bad"));
}

#[test]
fn commits_that_do_not_build_are_skipped_and_searched_around() {
    let broken = |i: usize| (6..=8).contains(&i);
    let played = play(view(16, true, 1), |i, p, r| match broken(i) {
        true => RunOutcome::Untestable,
        false => regression_at(10)(i, p, r),
    });
    assert_eq!(found(&played), 10);
    assert!(played
        .view
        .steps
        .iter()
        .any(|s| s.verdict.as_deref() == Some("skipped")));
}

#[test]
fn a_culprit_hidden_behind_skipped_commits_is_named_as_a_set() {
    let played = play(view(16, true, 1), |i, p, r| match i {
        8 => RunOutcome::Untestable,
        _ => regression_at(9)(i, p, r),
    });
    let reason = inconclusive_reason(&played);
    assert!(
        reason.contains(&sha(8)[..12]) && reason.contains(&sha(9)[..12]),
        "{reason}"
    );
}

#[test]
fn a_mixed_step_reruns_to_twice_the_runs_and_is_decided_by_majority() {
    // Commit 7 passes but fails its first run: F P P P over 2n = 4 runs.
    let played = play(view(16, true, 2), |i, p, run| match (i, p, run) {
        (7, StepPhase::Test, 1) => RunOutcome::Fail,
        _ => regression_at(9)(i, p, run),
    });
    assert_eq!(found(&played), 9);
    let step = played
        .view
        .steps
        .iter()
        .find(|s| s.commit == sha(7) && s.phase == "test")
        .expect("commit 7 was a step");
    assert_eq!(step.queues.len(), 4);
    assert_eq!(step.verdict.as_deref(), Some("flaky"));
    assert_eq!(step.majority.as_deref(), Some("pass"));
}

#[test]
fn step_progress_follows_the_flaky_rule() {
    use RunOutcome::{Fail as F, Pass as P, Untestable as U};
    let progress = |n, runs: &[RunOutcome]| {
        let runs: Vec<_> = runs.iter().copied().map(Some).collect();
        step_progress(n, &runs)
    };
    assert_eq!(progress(2, &[P]), StepProgress::More { up_to: 2 });
    assert_eq!(
        progress(2, &[P, P]),
        StepProgress::Decided(StepVerdict::Pass, None)
    );
    assert_eq!(
        progress(2, &[F, F]),
        StepProgress::Decided(StepVerdict::Fail, None)
    );
    assert_eq!(progress(2, &[P, F]), StepProgress::More { up_to: 4 });
    assert_eq!(
        progress(2, &[P, F, F, F]),
        StepProgress::Decided(StepVerdict::Flaky, Some(RunSide::Fail))
    );
    assert_eq!(
        progress(1, &[F, P]),
        StepProgress::Decided(StepVerdict::Flaky, Some(RunSide::Fail)),
        "a tie counts as failing"
    );
    assert_eq!(
        progress(2, &[P, U]),
        StepProgress::Decided(StepVerdict::Skipped, None)
    );
    assert_eq!(step_progress(1, &[None]), StepProgress::Running);
}

#[test]
fn without_good_the_walk_back_doubles_until_a_pass_and_that_is_good() {
    assert_eq!(walk_back_probes(64), vec![63, 62, 60, 56, 48, 32, 0]);
    assert_eq!(walk_back_probes(5), vec![4, 3, 1, 0]);
    assert!(walk_back_probes(0).is_empty());
    let played = play(view(65, false, 1), regression_at(58));
    assert_eq!(found(&played), 58);
    assert_eq!(played.view.good, Some(sha(56)));
}

#[test]
fn a_walk_back_without_a_pass_is_inconclusive() {
    let played = play(view(10, false, 1), |_, _, _| RunOutcome::Fail);
    assert!(inconclusive_reason(&played).contains("walking back 9"));
}

#[test]
fn a_culprit_that_passes_when_run_again_is_not_found() {
    let played = play(view(8, true, 1), |i, p, r| match p {
        StepPhase::Confirm => RunOutcome::Pass,
        StepPhase::Test => regression_at(5)(i, p, r),
    });
    assert!(inconclusive_reason(&played).starts_with("confirmation failed"));
}

#[test]
fn a_cancel_names_the_unfinished_step_queues() {
    let mut bisect = view(16, true, 1);
    bisect.steps.push(BisectStepView {
        commit: sha(15),
        phase: "test".into(),
        queues: vec!["q-done".into(), "q-running".into()],
        verdict: None,
        majority: None,
    });
    bisect.cancel_requested = true;
    let outcomes = HashMap::from([("q-done".to_owned(), RunOutcome::Fail)]);
    assert_eq!(
        next(&bisect, &outcomes),
        Next::Cancel(vec!["q-running".into()])
    );
}

#[test]
fn an_unresolved_range_is_resolved_first_and_an_ended_bisect_does_nothing() {
    let mut bisect = view(2, true, 1);
    bisect.commits.clear();
    assert_eq!(next(&bisect, &HashMap::new()), Next::ResolveRange);
    bisect.status = "Found".into();
    assert_eq!(next(&bisect, &HashMap::new()), Next::Wait);
}

#[test]
fn good_and_bad_on_one_commit_is_one_step_and_inconclusive() {
    let played = play(view(1, true, 1), |_, _, _| RunOutcome::Fail);
    assert_eq!(played.runs, 1);
    assert!(inconclusive_reason(&played).contains("fails too"));
}

#[test]
fn a_step_queue_without_a_view_was_deleted_and_cannot_test_its_commit() {
    let mut bisect = view(16, true, 1);
    bisect.steps.push(BisectStepView {
        commit: sha(15),
        phase: "test".into(),
        queues: vec!["gone".into()],
        verdict: None,
        majority: None,
    });
    let outcomes = outcomes(&bisect, &[]);
    assert_eq!(outcomes.get("gone"), Some(&RunOutcome::Untestable));
    assert!(matches!(
        next(&bisect, &outcomes),
        Next::Decide {
            verdict: StepVerdict::Skipped,
            ..
        }
    ));
}

/// A finished one-task queue whose task reads `result` with these cases
/// (`(classname, name, result)`).
fn finished(result: &str, cases: &[(Option<&str>, &str, &str)]) -> QueueView {
    let cases: Vec<serde_json::Value> = cases
        .iter()
        .map(|(class, name, result)| {
            serde_json::json!({"name": name, "classname": class, "time_ms": 1,
                               "result": result, "message": null})
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "id": "q", "status": "Finished", "source": {"repo": "/r", "ref": "main"},
        "commit": null, "profile": null, "attempt": 1, "worker": "w",
        "submitted_at": "t", "started_at": "t", "finished_at": "t", "reason": null,
        "cancel_requested": false, "counts": {"total": 1, "waiting": 0, "running": 0,
        "pass": 0, "fail": 0, "timeout": 0, "error": 0, "skipped": 0, "cancelled": 0},
        "stages": [], "tasks": [{"id": "t", "scenario": "t.sh", "timeout_s": null,
        "status": "Finished", "result": result, "exit_code": 0, "duration_ms": 5,
        "started_at": "t", "finished_at": "t", "message": null,
        "junit": {"tests": cases.len(), "failures": 0, "errors": 0, "skipped": 0,
                  "failed_cases": [], "cases": cases}}]
    }))
    .unwrap()
}

#[test]
fn by_case_a_step_follows_that_case_not_the_task() {
    let queue = finished(
        "FAIL",
        &[
            (Some("aes"), "ecb", "failed"),
            (Some("aes"), "cbc", "passed"),
        ],
    );
    assert_eq!(RunOutcome::of(&queue, None), Some(RunOutcome::Fail));
    assert_eq!(
        RunOutcome::of(&queue, Some("aes.cbc")),
        Some(RunOutcome::Pass)
    );
    assert_eq!(RunOutcome::of(&queue, Some("cbc")), Some(RunOutcome::Pass));
    assert_eq!(
        RunOutcome::of(&queue, Some("aes.ecb")),
        Some(RunOutcome::Fail)
    );
    let error = finished("FAIL", &[(None, "boot", "error")]);
    assert_eq!(RunOutcome::of(&error, Some("boot")), Some(RunOutcome::Fail));
}

#[test]
fn by_case_a_commit_where_the_case_did_not_run_is_skipped() {
    let queue = finished("PASS", &[(Some("aes"), "ecb", "passed")]);
    let absent = RunOutcome::of(&queue, Some("aes.gcm"));
    assert_eq!(absent, Some(RunOutcome::Untestable), "not there yet");
    let skipped = finished("PASS", &[(Some("aes"), "gcm", "skipped")]);
    let outcome = RunOutcome::of(&skipped, Some("aes.gcm"));
    assert_eq!(outcome, Some(RunOutcome::Untestable));
    let other_class = finished("PASS", &[(Some("des"), "gcm", "failed")]);
    let outcome = RunOutcome::of(&other_class, Some("aes.gcm"));
    assert_eq!(
        outcome,
        Some(RunOutcome::Untestable),
        "another class's case"
    );
}
