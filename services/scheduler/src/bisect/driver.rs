//! The bisect driver's I/O. Every scheduler runs one: each tick it reads the
//! running bisects from the projector's view and their step queues'
//! outcomes, asks `search::next` what to do, does it (git, a step queue's
//! `submitted`, a bisect event), waits for the projector to show it, and
//! asks again.
//!
//! Why this is safe to restart and to run twice: it keeps no state of its
//! own (the views are its memory, refolded from the stream by the
//! projector), and each thing it does is idempotent: a step run's queue id
//! is derived from (bisect, commit, phase, run) and `submitted` is stored
//! only once per id; each bisect event carries a message id, and the fold
//! keeps the first range, decision and end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use testarena_events::{
    step_queue_id, BisectEnd, BisectEvent, BisectEventBody, BisectId, BisectView, GitRef, Label,
    Owner, Priority, ProfileName, RepoUrl, ScenarioPath, Source, TaskId, TaskSpec,
};
use tokio_util::sync::CancellationToken;

use testarena_events::{Event, EventBody, EventLog, EventLogError, QueueId};
use testarena_views::{AppliedWatch, Views, ViewsError};

use super::git_range;
use super::search::{self, Next, RunOutcome, RunRequest};
use testarena_git_mirror::Mirrors;

/// How often the running bisects are looked at.
const TICK: Duration = Duration::from_millis(250);
/// Most actions on one bisect per tick (each waits for the view).
const MAX_ACTIONS_PER_TICK: usize = 16;
/// How long an action waits for the projector before the next decision.
const VIEW_WAIT: Duration = Duration::from_secs(5);
/// Most running bisects looked at per tick (the oldest first).
const MAX_RUNNING: u32 = 1000;
/// Bisects acted on concurrently within a tick.
const DRIVEN_AT_ONCE: usize = 8;

/// Why one bisect could not be driven this tick (it is tried again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DriveError {
    #[error(transparent)]
    Views(#[from] ViewsError),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    /// A value the `requested` event carried no longer parses.
    #[error("{what} does not parse: {reason}")]
    Stored { what: &'static str, reason: String },
}

impl DriveError {
    fn stored(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Stored {
            what,
            reason: reason.to_string(),
        }
    }
}

/// What the driver reads and writes through.
pub(crate) struct BisectIo {
    pub events: EventLog,
    pub views: Views,
    pub applied: AppliedWatch,
}

/// Starts the driver; the task runs until `shutdown`.
pub(crate) fn start(
    io: Arc<BisectIo>,
    mirrors: PathBuf,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let driver = Driver {
            io,
            mirrors: Mirrors::new(mirrors),
            fetching: tokio::sync::Mutex::new(()),
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            if let Err(error) = driver.tick().await {
                tracing::debug!(error = %error, "bisect driver: views not readable yet");
            }
        }
    })
}

struct Driver {
    io: Arc<BisectIo>,
    mirrors: Mirrors,
    /// One fetch at a time: bisects of one repository share its mirror,
    /// and a slow fetch holds up only the other fetches, not the steps of
    /// the bisects already under way.
    fetching: tokio::sync::Mutex<()>,
}

impl Driver {
    async fn tick(&self) -> Result<(), DriveError> {
        let mut running = self.io.views.bisects(Some("Running"), MAX_RUNNING).await?;
        running.reverse();
        futures_util::stream::iter(running)
            .for_each_concurrent(DRIVEN_AT_ONCE, |view| async move {
                let id = view.id.clone();
                if let Err(error) = self.drive(view).await {
                    tracing::warn!(bisect = %id, error = %error, "bisect driver: will retry");
                }
            })
            .await;
        Ok(())
    }

    /// Acts on one bisect until it has to wait for its runs.
    async fn drive(&self, mut view: BisectView) -> Result<(), DriveError> {
        let id = BisectId::parse(view.id.clone())
            .map_err(|e| DriveError::stored("a stored bisect id", e))?;
        for _ in 0..MAX_ACTIONS_PER_TICK {
            let outcomes = self.outcomes(&view).await?;
            let next = search::next(&view, &outcomes);
            if next == Next::Wait {
                return Ok(());
            }
            tracing::info!(bisect = %id, action = ?next, "bisect driver");
            let seq = self.perform(&id, &view, next).await?;
            self.io.applied.wait_for(seq, VIEW_WAIT).await;
            match self.io.views.bisect(id.as_str()).await? {
                Some(fresh) => view = fresh,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// The ended step queues' outcomes, by queue id.
    async fn outcomes(&self, view: &BisectView) -> Result<HashMap<String, RunOutcome>, DriveError> {
        let ids: Vec<String> = view.steps.iter().flat_map(|s| s.queues.clone()).collect();
        let queues = self.io.views.queues(&ids).await?;
        Ok(search::outcomes(view, &queues))
    }

    /// Does what the search decided; the sequence of the last event stored.
    async fn perform(
        &self,
        id: &BisectId,
        view: &BisectView,
        next: Next,
    ) -> Result<u64, DriveError> {
        let (message_id, body) = match next {
            Next::Wait => return Ok(0),
            Next::ResolveRange => self.resolve_range(view).await?,
            Next::Queue(runs) => return self.queue_runs(id, view, &runs).await,
            Next::Decide {
                commit,
                phase,
                verdict,
                majority,
            } => (
                format!("{id}:decided:{}:{commit}", phase.as_str()),
                BisectEventBody::StepDecided {
                    commit,
                    phase,
                    verdict,
                    majority,
                },
            ),
            Next::GoodFound(commit) => (
                format!("{id}:good_found"),
                BisectEventBody::GoodFound { commit },
            ),
            Next::End {
                status,
                first_bad,
                reason,
            } => (
                format!("{id}:ended"),
                BisectEventBody::Ended {
                    status,
                    first_bad,
                    reason,
                },
            ),
            Next::Cancel(unfinished) => self.cancel(id, view, &unfinished).await?,
        };
        Ok(self
            .io
            .events
            .publish_bisect_event(&BisectEvent::new(id.clone(), body), message_id)
            .await?)
    }

    /// Stops the unfinished step queues; the bisect's end, `Cancelled`.
    async fn cancel(
        &self,
        id: &BisectId,
        view: &BisectView,
        unfinished: &[String],
    ) -> Result<(String, BisectEventBody), DriveError> {
        let queues = unfinished
            .iter()
            .map(|q| QueueId::parse(q.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DriveError::stored("a step queue id", e))?;
        let reason = format!("bisect {} stopped", view.id);
        self.io.events.cancel_queues(&queues, &reason).await?;
        let ended = BisectEventBody::Ended {
            status: BisectEnd::Cancelled,
            first_bad: None,
            reason: Some("cancelled by a user".into()),
        };
        Ok((format!("{id}:ended"), ended))
    }

    /// The range from git, or the bisect's end in `Error` with git's reason.
    async fn resolve_range(
        &self,
        view: &BisectView,
    ) -> Result<(String, BisectEventBody), DriveError> {
        let order = Order::of(view)?;
        let good = view
            .good_ref
            .as_ref()
            .map(|g| GitRef::parse(g.clone()))
            .transpose()
            .map_err(|e| DriveError::stored("the stored good ref", e))?;
        let bad = GitRef::parse(view.bad_ref.clone())
            .map_err(|e| DriveError::stored("the stored bad ref", e))?;
        let resolved = {
            let _fetching = self.fetching.lock().await;
            git_range::resolve(&self.mirrors, &order.repo, good.as_ref(), &bad).await
        };
        let body = match resolved {
            Ok(range) => BisectEventBody::RangeResolved {
                good: range.good,
                bad: range.bad,
                commits: range.commits,
            },
            Err(error) => BisectEventBody::Ended {
                status: BisectEnd::Error,
                first_bad: None,
                reason: Some(error.to_string()),
            },
        };
        let kind = body.kind();
        Ok((format!("{}:{kind}", view.id), body))
    }

    /// Submits each run's queue (a no-op for one submitted before), then
    /// records it as the step's.
    async fn queue_runs(
        &self,
        id: &BisectId,
        view: &BisectView,
        runs: &[RunRequest],
    ) -> Result<u64, DriveError> {
        let order = Order::of(view)?;
        let mut last = 0;
        for run in runs {
            let queue_id = step_queue_id(id, &run.commit, run.phase, run.run);
            let git_ref = GitRef::parse(run.commit.clone())
                .map_err(|e| DriveError::stored("a range commit", e))?;
            let submitted = EventBody::Submitted {
                source: Source {
                    repo: order.repo.clone(),
                    git_ref,
                },
                profile: order.profile.clone(),
                tasks: order.tasks.clone(),
                requires: order.requires.clone(),
                priority: Priority::Normal,
                owner: Some(order.owner.clone()),
                shards: 1,
                claim_order: Vec::new(),
                bisect: Some(id.clone()),
                rerun_of: None,
            };
            // Stored only once per id: a second scheduler's, or a repeat
            // after a restart, is a no-op.
            self.io
                .events
                .store_first(
                    self.io.events.names().event_subject(&queue_id, "submitted"),
                    format!("{queue_id}:submitted"),
                    Event::new(queue_id.clone(), submitted).to_json().into(),
                )
                .await?;
            let body = BisectEventBody::StepQueued {
                commit: run.commit.clone(),
                phase: run.phase,
                run: run.run,
                queue_id: queue_id.clone(),
            };
            last = self
                .io
                .events
                .publish_bisect_event(
                    &BisectEvent::new(id.clone(), body),
                    format!("{id}:queued:{queue_id}"),
                )
                .await?;
        }
        Ok(last)
    }
}

/// What a step queue is made of, read back from the view (values the
/// `requested` event carried, so they parse).
struct Order {
    repo: RepoUrl,
    profile: Option<ProfileName>,
    requires: Vec<Label>,
    tasks: Vec<TaskSpec>,
    owner: Owner,
}

impl Order {
    fn of(view: &BisectView) -> Result<Self, DriveError> {
        let stored = |e: &dyn std::fmt::Display| DriveError::stored("a stored bisect request", e);
        let tasks = view
            .tasks
            .iter()
            .map(|t| {
                Ok(TaskSpec {
                    id: TaskId::parse(t.id.clone()).map_err(|e| stored(&e))?,
                    scenario: ScenarioPath::parse(t.scenario.clone()).map_err(|e| stored(&e))?,
                    timeout_s: t.timeout_s,
                    retries: Some(0),
                })
            })
            .collect::<Result<_, DriveError>>()?;
        Ok(Self {
            repo: RepoUrl::parse(view.source.repo.clone()).map_err(|e| stored(&e))?,
            profile: view
                .profile
                .clone()
                .map(ProfileName::parse)
                .transpose()
                .map_err(|e| stored(&e))?,
            requires: testarena_events::parse_labels("requires", &view.requires, usize::MAX)
                .map_err(|e| stored(&e.reason))?,
            tasks,
            owner: Owner::parse(view.owner.clone()).map_err(|e| stored(&e.reason))?,
        })
    }
}
