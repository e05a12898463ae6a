//! The bisect's one decision: from the folded bisect (its view) and the
//! outcomes of its step queues that ended, what to do next. Pure; the
//! driver (`driver.rs`) does it and asks again once the view shows it.
//!
//! The order of concerns: a cancel first; then the range; then any step
//! whose runs are not all decided (rerun a mixed one up to 2n runs); then
//! the search itself: the endpoints (`bad` must fail, `good` pass), the
//! walk-back when there is no `good`, halving the first-parent range
//! around skipped commits, and last the confirmation of the culprit and
//! its parent by a fresh step each.
//!
//! Every answer depends only on its inputs, so a restarted or second
//! driver answers the same, and the queue ids it derives are the same.

use std::collections::HashMap;

use testarena_events::{
    BisectEnd, BisectStepView, BisectView, JunitCaseView, QueueStatus, QueueView, RunSide,
    StepPhase, StepVerdict, TaskResult, MAX_WALK_BACK,
};

/// How one ended run (one step queue) came out for the bisect's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunOutcome {
    /// Every task `PASS` (a task's own retries are off in a step).
    Pass,
    /// A task `FAIL` or `TIMEOUT`.
    Fail,
    /// Nothing to learn about the commit: the queue ended `Error` (checkout,
    /// build or boot failed, a task `ERROR`) or was cancelled by someone.
    Untestable,
}

impl RunOutcome {
    /// The outcome of an ended queue; `None` while it waits or runs. With
    /// `case`, the queue is decided by that case alone (see [`by_case`]).
    pub(crate) fn of(queue: &QueueView, case: Option<&str>) -> Option<Self> {
        match queue.status {
            QueueStatus::Finished => Some(match case {
                Some(case) => by_case(queue, case),
                None => by_tasks(queue),
            }),
            QueueStatus::Error | QueueStatus::Cancelled => Some(Self::Untestable),
            QueueStatus::Waiting | QueueStatus::Running => None,
        }
    }
}

fn by_tasks(queue: &QueueView) -> RunOutcome {
    let results = || queue.tasks.iter().map(|t| t.result);
    if results().any(|r| matches!(r, Some(TaskResult::Fail | TaskResult::Timeout))) {
        RunOutcome::Fail
    } else if results().all(|r| r.is_some_and(TaskResult::is_pass)) {
        RunOutcome::Pass
    } else {
        RunOutcome::Untestable
    }
}

/// A finished queue by one case of its tasks' cases (JUnit or console),
/// named `classname.name` or by its name alone: `failed` or `error` in any
/// task fails it; `passed` everywhere it ran passes it. A commit where the
/// case did not run (not built yet, renamed, skipped, its task `ERROR` or
/// `TIMEOUT` before it) says nothing about it: untestable, skipped.
fn by_case(queue: &QueueView, case: &str) -> RunOutcome {
    let results: Vec<&str> = queue
        .tasks
        .iter()
        .flat_map(|t| t.junit.iter().flat_map(|j| &j.cases))
        .filter(|c| case_is(c, case))
        .map(|c| c.result.as_str())
        .collect();
    if results.iter().any(|r| matches!(*r, "failed" | "error")) {
        RunOutcome::Fail
    } else if !results.is_empty() && results.iter().all(|r| *r == "passed") {
        RunOutcome::Pass
    } else {
        RunOutcome::Untestable
    }
}

fn case_is(case: &JunitCaseView, wanted: &str) -> bool {
    match &case.classname {
        Some(class) => {
            wanted == case.name
                || wanted
                    .strip_prefix(class.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    == Some(case.name.as_str())
        }
        None => wanted == case.name,
    }
}

/// The outcomes of a bisect's ended step queues, by queue id, from the
/// views of its step queues that exist. A step queue is in the bisect's
/// view only after its `submitted` was stored (the driver publishes
/// `step_queued` after it, and the projector applies the stream in order),
/// so one without a view was deleted: it cannot test its commit.
pub(crate) fn outcomes(view: &BisectView, queues: &[QueueView]) -> HashMap<String, RunOutcome> {
    let mut outcomes: HashMap<String, RunOutcome> = queues
        .iter()
        .filter_map(|q| RunOutcome::of(q, view.case.as_deref()).map(|o| (q.id.clone(), o)))
        .collect();
    for id in view.steps.iter().flat_map(|s| &s.queues) {
        if !queues.iter().any(|q| q.id == *id) {
            outcomes.insert(id.clone(), RunOutcome::Untestable);
        }
    }
    outcomes
}

/// One run of one step to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunRequest {
    pub commit: String,
    pub phase: StepPhase,
    /// From 1.
    pub run: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Runs are going on (or the bisect is over): nothing to do now.
    Wait,
    /// Resolve the refs and list the first-parent range (git).
    ResolveRange,
    Queue(Vec<RunRequest>),
    Decide {
        commit: String,
        phase: StepPhase,
        verdict: StepVerdict,
        majority: Option<RunSide>,
    },
    /// Without `good`: this commit passed walking back; it is `good`.
    GoodFound(String),
    End {
        status: BisectEnd,
        first_bad: Option<String>,
        reason: Option<String>,
    },
    /// Cancel these unfinished step queues, then end `Cancelled`.
    Cancel(Vec<String>),
}

/// `outcomes`: the bisect's step queues that ended, by queue id.
pub(crate) fn next(view: &BisectView, outcomes: &HashMap<String, RunOutcome>) -> Next {
    if view.is_ended() {
        return Next::Wait;
    }
    if view.cancel_requested {
        let unfinished = view
            .steps
            .iter()
            .flat_map(|s| &s.queues)
            .filter(|q| !outcomes.contains_key(*q))
            .cloned()
            .collect();
        return Next::Cancel(unfinished);
    }
    if view.commits.is_empty() {
        return Next::ResolveRange;
    }
    if let Some(next) = steps_under_way(view, outcomes) {
        return next;
    }
    Search::new(view).next()
}

/// What a step's runs so far say.
#[derive(Debug, PartialEq, Eq)]
enum StepProgress {
    Running,
    /// Submit runs `queued + 1 ..= up_to`.
    More {
        up_to: u8,
    },
    Decided(StepVerdict, Option<RunSide>),
}

/// `n` runs per step; `runs`: each queued run's outcome, `None` while it runs.
fn step_progress(n: u8, runs: &[Option<RunOutcome>]) -> StepProgress {
    let queued = runs.len() as u8;
    if queued < n {
        return StepProgress::More { up_to: n };
    }
    if runs.iter().any(Option::is_none) {
        return StepProgress::Running;
    }
    let count = |o: RunOutcome| runs.iter().filter(|r| **r == Some(o)).count();
    let (pass, fail) = (count(RunOutcome::Pass), count(RunOutcome::Fail));
    if count(RunOutcome::Untestable) > 0 {
        return StepProgress::Decided(StepVerdict::Skipped, None);
    }
    match (pass, fail) {
        (_, 0) => StepProgress::Decided(StepVerdict::Pass, None),
        (0, _) => StepProgress::Decided(StepVerdict::Fail, None),
        _ if queued < 2 * n => StepProgress::More { up_to: 2 * n },
        // A tie counts as failing: failing at all is evidence of the fault.
        _ if pass > fail => StepProgress::Decided(StepVerdict::Flaky, Some(RunSide::Pass)),
        _ => StepProgress::Decided(StepVerdict::Flaky, Some(RunSide::Fail)),
    }
}

/// A decision or runs to submit for the steps not decided yet; `None`
/// when every step is decided.
fn steps_under_way(view: &BisectView, outcomes: &HashMap<String, RunOutcome>) -> Option<Next> {
    let mut more = Vec::new();
    let mut running = false;
    for step in view.steps.iter().filter(|s| s.verdict.is_none()) {
        let phase = phase_of(step);
        let runs: Vec<Option<RunOutcome>> = step
            .queues
            .iter()
            .map(|q| outcomes.get(q).copied())
            .collect();
        match step_progress(view.runs_per_step, &runs) {
            StepProgress::Running => running = true,
            StepProgress::More { up_to } => {
                more.extend(runs_of(&step.commit, phase, runs.len() as u8 + 1, up_to))
            }
            StepProgress::Decided(verdict, majority) => {
                return Some(Next::Decide {
                    commit: step.commit.clone(),
                    phase,
                    verdict,
                    majority,
                })
            }
        }
    }
    match (more.is_empty(), running) {
        (false, _) => Some(Next::Queue(more)),
        (true, true) => Some(Next::Wait),
        (true, false) => None,
    }
}

fn phase_of(step: &BisectStepView) -> StepPhase {
    match step.phase.as_str() {
        "confirm" => StepPhase::Confirm,
        _ => StepPhase::Test,
    }
}

fn runs_of(commit: &str, phase: StepPhase, from: u8, to: u8) -> Vec<RunRequest> {
    (from..=to)
        .map(|run| RunRequest {
            commit: commit.to_owned(),
            phase,
            run,
        })
        .collect()
}

/// What a decided step says about its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tested {
    Side(RunSide),
    Skipped,
}

const PASSES: Option<Tested> = Some(Tested::Side(RunSide::Pass));
const FAILS: Option<Tested> = Some(Tested::Side(RunSide::Fail));

/// The search over the range, once every step so far is decided.
struct Search<'a> {
    view: &'a BisectView,
    test: HashMap<&'a str, Tested>,
    confirm: HashMap<&'a str, Tested>,
}

impl<'a> Search<'a> {
    fn new(view: &'a BisectView) -> Self {
        let mut test = HashMap::new();
        let mut confirm = HashMap::new();
        for step in &view.steps {
            let tested = match (step.verdict.as_deref(), step.majority.as_deref()) {
                (Some("pass"), _) | (Some("flaky"), Some("pass")) => Tested::Side(RunSide::Pass),
                (Some("skipped"), _) => Tested::Skipped,
                (Some(_), _) => Tested::Side(RunSide::Fail),
                (None, _) => continue,
            };
            match phase_of(step) {
                StepPhase::Test => test.insert(step.commit.as_str(), tested),
                StepPhase::Confirm => confirm.insert(step.commit.as_str(), tested),
            };
        }
        Self {
            view,
            test,
            confirm,
        }
    }

    fn sha(&self, index: usize) -> &'a str {
        &self.view.commits[index].commit
    }

    fn tested(&self, index: usize) -> Option<Tested> {
        self.test.get(self.sha(index)).copied()
    }

    fn queue(&self, indexes: &[usize], phase: StepPhase) -> Next {
        let n = self.view.runs_per_step;
        Next::Queue(
            indexes
                .iter()
                .flat_map(|i| runs_of(self.sha(*i), phase, 1, n))
                .collect(),
        )
    }

    fn next(&self) -> Next {
        if let Some(next) = self.check_endpoints() {
            return next;
        }
        let good = self
            .view
            .good
            .as_deref()
            .and_then(|g| self.view.commits.iter().position(|c| c.commit == g));
        match good {
            Some(good) => self.halve(good),
            None => self.walk_back(),
        }
    }

    /// `bad` must fail and a given `good` pass (both tested at once).
    fn check_endpoints(&self) -> Option<Next> {
        let bad = self.view.commits.len() - 1;
        let good = self.view.good_ref.as_ref().map(|_| 0);
        let mut untested: Vec<usize> = std::iter::once(bad)
            .chain(good)
            .filter(|i| self.tested(*i).is_none())
            .collect();
        // `good` and `bad` may name the same commit: one step.
        untested.dedup();
        if !untested.is_empty() {
            return Some(self.queue(&untested, StepPhase::Test));
        }
        let untestable = |which: &str, i: usize| {
            inconclusive(format!(
                "{which} {} could not be tested: its checkout, build or boot failed",
                short(self.sha(i))
            ))
        };
        match self.tested(bad) {
            Some(Tested::Skipped) => return Some(untestable("bad", bad)),
            PASSES => {
                return Some(inconclusive(format!(
                    "bad {} passes: there is no failure to bisect",
                    short(self.sha(bad))
                )))
            }
            _ => {}
        }
        match good.map(|g| (g, self.tested(g))) {
            Some((g, Some(Tested::Skipped))) => Some(untestable("good", g)),
            Some((g, FAILS)) => Some(inconclusive(format!(
                "good {} fails too: the failure is older than the range",
                short(self.sha(g))
            ))),
            _ => None,
        }
    }

    /// Without `good`: `bad~1`, `~2`, `~4`, … and last the range's oldest
    /// commit (`bad~64` or the root), until one passes.
    fn walk_back(&self) -> Next {
        let bad = self.view.commits.len() - 1;
        for probe in walk_back_probes(bad) {
            match self.tested(probe) {
                None => return self.queue(&[probe], StepPhase::Test),
                PASSES => return Next::GoodFound(self.sha(probe).to_owned()),
                _ => {}
            }
        }
        inconclusive(format!(
            "no commit passed walking back {bad} first-parent commits from bad {} \
             (at most {MAX_WALK_BACK}); give `good`",
            short(self.sha(bad))
        ))
    }

    /// Between the newest pass below the oldest fail above `good`: test
    /// the untested commit nearest the middle, skipped ones left out.
    fn halve(&self, good: usize) -> Next {
        let last = self.view.commits.len() - 1;
        let hi = (good + 1..=last)
            .find(|i| self.tested(*i) == FAILS)
            .unwrap_or(last);
        let lo = (good..hi)
            .rev()
            .find(|i| self.tested(*i) == PASSES)
            .unwrap_or(good);
        let middle = (lo + hi) / 2;
        let candidate = (lo + 1..hi)
            .filter(|i| self.tested(*i).is_none())
            .min_by_key(|i| (i.abs_diff(middle), *i));
        match candidate {
            Some(i) => self.queue(&[i], StepPhase::Test),
            None if hi == lo + 1 => self.confirm(hi),
            None => {
                let suspects: Vec<&str> = (lo + 1..=hi).map(|i| short(self.sha(i))).collect();
                inconclusive(format!(
                    "the first bad commit is one of {}: the commits between could not be tested",
                    suspects.join(", ")
                ))
            }
        }
    }

    /// The culprit must fail and its parent pass once more, each a fresh step.
    fn confirm(&self, culprit: usize) -> Next {
        let parent = culprit - 1;
        let confirmed = |i: usize| self.confirm.get(self.sha(i)).copied();
        let untested: Vec<usize> = [culprit, parent]
            .into_iter()
            .filter(|i| confirmed(*i).is_none())
            .collect();
        if !untested.is_empty() {
            return self.queue(&untested, StepPhase::Confirm);
        }
        if confirmed(culprit) == FAILS && confirmed(parent) == PASSES {
            return Next::End {
                status: BisectEnd::Found,
                first_bad: Some(self.sha(culprit).to_owned()),
                reason: None,
            };
        }
        inconclusive(format!(
            "confirmation failed: {} (expected to fail) {} and its parent {} (expected to pass) {} when run again",
            short(self.sha(culprit)),
            describe(confirmed(culprit)),
            short(self.sha(parent)),
            describe(confirmed(parent)),
        ))
    }
}

/// The walk-back's probes from `bad` (an index): `bad-1`, `bad-2`, `bad-4`, …, then 0.
fn walk_back_probes(bad: usize) -> Vec<usize> {
    let mut probes = Vec::new();
    let mut distance = 1;
    while distance < bad {
        probes.push(bad - distance);
        distance *= 2;
    }
    if bad > 0 {
        probes.push(0);
    }
    probes
}

fn inconclusive(reason: String) -> Next {
    Next::End {
        status: BisectEnd::Inconclusive,
        first_bad: None,
        reason: Some(reason),
    }
}

fn describe(tested: Option<Tested>) -> &'static str {
    match tested {
        PASSES => "passed",
        FAILS => "failed",
        _ => "could not be tested",
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
