//! One run of a queue: checkout → build → boot → tasks in order → teardown
//! (always). Each stage emits its start and finish; the first failure ends
//! the run in `Error` with its reason, and a stop signal ends it where it is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use testarena_events::{
    over_budget, percent_of, CommitContext, EventBody, FinalStatus, FirmwareSize, ScenarioPath,
    SizeBudget, Source, Stage, StageOutcome, TaskId, TaskResult, TaskSpec, TaskTry,
};
use tokio::sync::mpsc;

use crate::artifact_caps::ArtifactCaps;
use crate::artifact_files;
use crate::artifact_upload::ArtifactSink;
use crate::boot_health::{BootHealth, BootOutcome};
use crate::build_bucket::BuildBucket;
use crate::build_cache_store::BuildCache;
use crate::ccache::Ccache;
use crate::command_env::CommandEnv;
use crate::disk_space::with_full_disk_note;
use crate::emitter::{EmitError, Emitter};
use crate::firmware_size::{firmware_size, firmware_symbols};
use crate::git_mirror::{Checkout, GitCache};
use crate::group_ledger::GroupLedger;
use crate::junit;
use crate::log_batcher::LogSink;
use crate::metrics::{ResultLabel, StageLabel};
use crate::outcome::{
    after_try, over_tries, reboot_before_next, task_done, task_retries, task_timeout, AfterTry,
    TaskDone,
};
use crate::placeholders::Placeholders;
use crate::process_group::{CommandSpec, ProcessGroup};
use crate::profile::{BootReady, Profile};
use crate::scenario_check::missing_scenarios;
use crate::stop_signal::{StopReason, StopSignal};
use crate::task_cases;
use crate::task_claims::SharedTasks;

mod board_stage;
mod build_stage;

/// Settings of the engine that are not per profile.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Log bytes one command may store; past it lines are counted only.
    pub log_cap_bytes: u64,
    /// What of the worker's environment every command starts from.
    pub command_env: CommandEnv,
    /// Largest artifact, and most artifact bytes per run.
    pub artifact_caps: ArtifactCaps,
    /// Most bytes the build cache keeps (`--build-cache-max-gb`).
    pub build_cache_max_bytes: u64,
    /// Most bytes the shared build bucket keeps (`--build-cache-bucket-gb`);
    /// 0 turns it off.
    pub build_bucket_max_bytes: u64,
    /// The ccache found at start; `None` when no profile asked for it.
    pub ccache: Option<Ccache>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            kill_grace: Duration::from_secs(5),
            log_cap_bytes: 64 << 20,
            command_env: CommandEnv::default(),
            artifact_caps: ArtifactCaps::default(),
            build_cache_max_bytes: 10 << 30,
            build_bucket_max_bytes: 10 << 30,
            ccache: None,
        }
    }
}

pub(crate) struct Run<'a> {
    pub emitter: &'a Emitter,
    pub log: &'a LogSink,
    pub stop: &'a StopSignal,
    pub profile: &'a Profile,
    pub source: &'a Source,
    pub tasks: &'a [TaskSpec],
    pub git: &'a GitCache,
    pub build_cache: &'a BuildCache,
    /// The bucket every worker host shares builds in; `None` when off.
    pub build_bucket: Option<&'a BuildBucket>,
    pub ccache_dir: &'a Path,
    pub settings: &'a EngineSettings,
    pub ledger: &'a GroupLedger,
    pub boot_health: &'a BootHealth,
    /// The board the scheduler leased a board profile's queue; its bridge
    /// is `port`.
    pub board: Option<&'a crate::boards::Board>,
    /// This run's own folder: `results/<task>/`.
    pub workspace: PathBuf,
    pub port: u16,
    /// The `submitted` event's sequence in the events stream: a mirror
    /// fetch begun after the stream held it serves this queue too.
    pub submitted_seq: u64,
    /// The leased worktree, once the checkout stage has one; released when
    /// the run is dropped, after teardown.
    pub checkout: OnceLock<Checkout>,
    /// The tasks whose scenario file the checkout lacks, with their
    /// `ERROR` message (scenario_check.rs); set with the checkout.
    pub missing_scenarios: OnceLock<HashMap<TaskId, String>>,
    /// Where this run's artifacts go, within its caps.
    pub artifacts: ArtifactSink,
    /// A shard of a sharded queue takes its tasks from the queue's shared
    /// list; `None`: every task, in order.
    pub shared_tasks: Option<SharedTasks>,
}

/// The commit a checkout resolved, and what it is when the mirror could say.
struct Resolved {
    sha: String,
    context: Option<CommitContext>,
}

/// How one stage ended.
enum StageEnd {
    Ok {
        commit: Option<Resolved>,
    },
    /// Booted, after failed tries the message tells of.
    Ready {
        message: String,
    },
    Failed(String),
    Cancelled,
}

/// How the run ended. `Stopped` means a stop signal cut it short; the
/// caller decides from the signal's reason what that means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RunEnd {
    Completed,
    Failed(String),
    Stopped,
}

impl RunEnd {
    pub(crate) fn final_status(&self) -> (FinalStatus, Option<String>) {
        match self {
            Self::Completed => (FinalStatus::Finished, None),
            Self::Failed(reason) => (FinalStatus::Error, Some(reason.clone())),
            Self::Stopped => (FinalStatus::Cancelled, None),
        }
    }
}

impl Run<'_> {
    /// The checkout's folder. Stages after checkout run only once it
    /// succeeded; before that, a path that does not exist.
    fn checkout_dir(&self) -> PathBuf {
        match self.checkout.get() {
            Some(checkout) => checkout.dir.clone(),
            None => self.workspace.join("no-checkout"),
        }
    }

    fn placeholders(&self, task: Option<&TaskSpec>, result_dir: Option<&Path>) -> Placeholders {
        Placeholders {
            scenario: task.map(|t| t.scenario.to_string()),
            port: self.port,
            workdir: self.checkout_dir().display().to_string(),
            queue_id: self.emitter.queue_id.to_string(),
            task_id: task.map(|t| t.id.to_string()),
            result_dir: result_dir.map(|d| d.display().to_string()),
            board: self.board.map(|b| b.config.name.to_string()),
            serial_port: self.board.map(|b| b.config.serial.port_text().to_owned()),
        }
    }

    /// A profile command: run in the checkout, with the allow-listed part of
    /// the worker's environment, the placeholders' variables and the
    /// profile's `env`.
    fn spec<'c>(
        &self,
        template: &str,
        source: String,
        values: &Placeholders,
        checkout: &'c Path,
    ) -> CommandSpec<'c> {
        let mut env = values.env();
        env.extend(
            self.profile
                .env
                .iter()
                .map(|(k, v)| (k.clone(), values.in_value(v))),
        );
        CommandSpec {
            script: values.in_command(template),
            cwd: checkout,
            env: self.settings.command_env.with(env),
            source,
            log_cap_bytes: self.settings.log_cap_bytes,
            ledger: self.ledger.clone(),
            task_lines: None,
        }
    }

    /// Runs the stages, then the teardown. `ready` is what the run needs
    /// before anything but the checkout (queue_run.rs: the run's folder
    /// made); it runs beside the checkout, a wait less on the way to the
    /// first task. Its error ends the run.
    pub(crate) async fn execute(
        &self,
        ready: impl std::future::Future<Output = Result<(), String>>,
    ) -> Result<RunEnd, EmitError> {
        let mut boot: Option<ProcessGroup> = None;
        if let Some(board) = self.board {
            board.console.record_into(self.log.clone());
        }
        let end = self.stages(&mut boot, ready).await;
        // Teardown always runs, whatever happened before: also when its
        // events cannot be published (a superseded run), the boot's group
        // is stopped as on any teardown, not only killed when dropped.
        let attempt = self.emitter.attempt;
        let teardown_started = self
            .emitter
            .send(EventBody::StageStarted {
                stage: Stage::Teardown,
                attempt,
            })
            .await;
        let started = Instant::now();
        if let Some(mut group) = boot.take() {
            self.log
                .system("teardown", "stopping the boot process group")
                .await;
            group.stop().await;
        }
        self.board_teardown().await;
        if let Some(board) = self.board {
            board.console.stop_recording().await;
        }
        teardown_started?;
        self.emitter
            .send(EventBody::StageFinished {
                stage: Stage::Teardown,
                attempt,
                outcome: StageOutcome::Ok,
                duration_ms: elapsed_ms(started),
                commit: None,
                commit_context: None,
                message: None,
            })
            .await?;
        end
    }

    async fn stages(
        &self,
        boot: &mut Option<ProcessGroup>,
        ready: impl std::future::Future<Output = Result<(), String>>,
    ) -> Result<RunEnd, EmitError> {
        let (checkout, ready) = tokio::join!(self.checkout(), ready);
        if let Some(end) = checkout? {
            return Ok(end);
        }
        if let Err(reason) = ready {
            self.log.system("worker", reason.clone()).await;
            return Ok(RunEnd::Failed(reason));
        }
        if let Some(end) = self.build().await? {
            return Ok(end);
        }
        self.after_build().await?;
        if let Some(end) = self.boot(boot).await? {
            return Ok(end);
        }
        self.run_tasks(boot).await
    }

    async fn stage_started(&self, stage: Stage) -> Result<Instant, EmitError> {
        self.emitter
            .send(EventBody::StageStarted {
                stage,
                attempt: self.emitter.attempt,
            })
            .await?;
        self.log
            .system(stage.as_str(), format!("--- {} ---", stage.as_str()))
            .await;
        Ok(Instant::now())
    }

    async fn stage_finished(
        &self,
        stage: Stage,
        started: Instant,
        outcome: StageOutcome,
        commit: Option<Resolved>,
        message: Option<String>,
    ) -> Result<(), EmitError> {
        self.log
            .metrics()
            .stage_seconds
            .get_or_create(&StageLabel {
                stage: stage.as_str().to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
        self.emitter
            .send(EventBody::StageFinished {
                stage,
                attempt: self.emitter.attempt,
                outcome,
                duration_ms: elapsed_ms(started),
                commit_context: commit.as_ref().and_then(|c| c.context.clone()),
                commit: commit.map(|c| c.sha),
                message,
            })
            .await
    }

    /// Emits the stage's end and says whether the run goes on (`None`) or
    /// how it ends.
    async fn end_stage(
        &self,
        stage: Stage,
        started: Instant,
        end: StageEnd,
    ) -> Result<Option<RunEnd>, EmitError> {
        let (outcome, commit, message, run_end) = match end {
            StageEnd::Ok { commit } => (StageOutcome::Ok, commit, None, None),
            StageEnd::Ready { message } => (StageOutcome::Ok, None, Some(message), None),
            StageEnd::Cancelled => (StageOutcome::Cancelled, None, None, Some(RunEnd::Stopped)),
            StageEnd::Failed(reason) => {
                let reason = with_full_disk_note(reason, &self.checkout_dir());
                self.log.system(stage.as_str(), reason.clone()).await;
                (
                    StageOutcome::Failed,
                    None,
                    Some(reason.clone()),
                    Some(RunEnd::Failed(reason)),
                )
            }
        };
        self.stage_finished(stage, started, outcome, commit, message)
            .await?;
        Ok(run_end)
    }

    async fn checkout(&self) -> Result<Option<RunEnd>, EmitError> {
        let started = self.stage_started(Stage::Checkout).await?;
        let result = tokio::select! {
            result = self.git.checkout(&self.source.repo, &self.source.git_ref, self.submitted_seq, self.log) => Some(result),
            _ = self.stop.token().cancelled() => None,
        };
        let end = match result {
            None => StageEnd::Cancelled,
            Some(Ok(checkout)) => {
                let sha = checkout.sha.clone();
                let (missing, context) = tokio::join!(
                    self.missing_scenarios_in(&checkout),
                    self.git.commit_context(&self.source.repo, &sha)
                );
                let _ = self.missing_scenarios.set(missing);
                let _ = self.checkout.set(checkout);
                StageEnd::Ok {
                    commit: Some(Resolved { sha, context }),
                }
            }
            Some(Err(e)) => StageEnd::Failed(format!("checkout failed: {e}")),
        };
        self.end_stage(Stage::Checkout, started, end).await
    }

    /// The boot stage: up to `boot_retries` more tries on this worker when
    /// the target fails to come up, each said in the log; the outcome
    /// counts towards the profile's boot health (boot_health.rs).
    async fn boot(&self, slot: &mut Option<ProcessGroup>) -> Result<Option<RunEnd>, EmitError> {
        if let Some(board) = self.board {
            return self.board_boot(board).await;
        }
        let Some(template) = &self.profile.boot else {
            return Ok(None);
        };
        let started = self.stage_started(Stage::Boot).await?;
        let tries = self.profile.boot_retries + 1;
        let mut failures: Vec<String> = Vec::new();
        let end = loop {
            match self.boot_once(template, slot).await {
                StageEnd::Failed(reason) if (failures.len() as u32) + 1 < tries => {
                    if let Some(mut group) = slot.take() {
                        group.stop().await;
                    }
                    let line = format!(
                        "{reason}; booting again on this worker (try {} of {tries})",
                        failures.len() + 2
                    );
                    self.log.system("boot", line).await;
                    failures.push(reason);
                }
                StageEnd::Ok { .. } if !failures.is_empty() => break ready_after(&failures),
                end => break end,
            }
        };
        self.record_boot_health(&end).await;
        self.end_stage(Stage::Boot, started, end).await
    }

    /// One try at booting the target: started and ready, or why not.
    async fn boot_once(&self, template: &str, slot: &mut Option<ProcessGroup>) -> StageEnd {
        let values = self.placeholders(None, None);
        let checkout = self.checkout_dir();
        let spec = self.spec(template, "boot".into(), &values, &checkout);
        let (tap, lines) = match self.profile.boot_ready {
            Some(BootReady::LogRegex(_)) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            _ => (None, None),
        };
        let group = match ProcessGroup::spawn(spec, self.log, self.settings.kill_grace, tap) {
            Ok(group) => slot.insert(group),
            Err(e) => return StageEnd::Failed(format!("boot could not start: {e}")),
        };
        let ready = tokio::select! {
            ready = wait_ready(group, self.profile.boot_ready.as_ref(), lines, &values, self.profile.boot_ready_timeout) => Some(ready),
            _ = self.stop.token().cancelled() => None,
        };
        match ready {
            None => StageEnd::Cancelled,
            Some(Ok(())) => {
                self.log.system("boot", "ready").await;
                StageEnd::Ok { commit: None }
            }
            Some(Err(reason)) => StageEnd::Failed(reason),
        }
    }

    /// Tells boot health how the stage went; says so in the log when it
    /// quarantined the profile on this worker.
    async fn record_boot_health(&self, end: &StageEnd) {
        let outcome = match end {
            StageEnd::Ok { .. } | StageEnd::Ready { .. } => BootOutcome::Ready,
            StageEnd::Failed(reason) => BootOutcome::Failed(reason.clone()),
            StageEnd::Cancelled => BootOutcome::Stopped,
        };
        if let Some(reason) = self.boot_health.record(self.profile, &outcome) {
            let line = format!(
                "profile {} quarantined on this worker: {reason}",
                self.profile.name
            );
            self.log.system("boot", line).await;
        }
    }

    async fn run_tasks(&self, boot: &mut Option<ProcessGroup>) -> Result<RunEnd, EmitError> {
        let mut in_order = self.tasks.iter();
        let mut last_result = None;
        loop {
            if self.stop.token().is_cancelled() {
                return Ok(RunEnd::Stopped);
            }
            let task = match &self.shared_tasks {
                None => in_order.next(),
                Some(shared) => match shared.next(self.tasks).await {
                    Ok(index) => index.map(|i| &self.tasks[i]),
                    Err(e) => {
                        let why = format!("claiming a task: {e:#}");
                        self.stop.stop(StopReason::NatsUnreachable(why));
                        return Ok(RunEnd::Stopped);
                    }
                },
            };
            let Some(task) = task else {
                return Ok(RunEnd::Completed);
            };
            let after_failure = self.profile.reboot_after_failure && self.profile.boot.is_some();
            if reboot_before_next(last_result, after_failure) {
                let source = format!("task:{}", task.id);
                let why =
                    "rebooting the target: the task before did not pass (reboot_after_failure)";
                if let Some(end) = self.reboot(&source, why, boot).await? {
                    return Ok(end);
                }
            }
            match self.run_task(task, boot).await? {
                TaskEnd::Done(result) => last_result = Some(result),
                TaskEnd::Stopped => return Ok(RunEnd::Stopped),
                TaskEnd::RunEnded(end) => return Ok(end),
            }
        }
    }

    /// Stops the booted target (saying `why` in the log as `source`) and
    /// boots it again. `Some` when that boot failed or was stopped: the run
    /// ends there.
    async fn reboot(
        &self,
        source: &str,
        why: &str,
        boot: &mut Option<ProcessGroup>,
    ) -> Result<Option<RunEnd>, EmitError> {
        if let Some(mut group) = boot.take() {
            self.log.system(source, why).await;
            group.stop().await;
        }
        self.boot(boot).await
    }

    /// One task: `task_started`, its command (again for each retry a `FAIL`
    /// or `TIMEOUT` earns, `outcome::after_try`), `task_finished` with every
    /// try — or no result at all when a stop cut it short.
    async fn run_task(
        &self,
        task: &TaskSpec,
        boot: &mut Option<ProcessGroup>,
    ) -> Result<TaskEnd, EmitError> {
        let attempt = self.emitter.attempt;
        let result_dir = self.workspace.join("results").join(task.id.as_str());
        self.emitter
            .send(EventBody::TaskStarted {
                task_id: task.id.clone(),
                attempt,
            })
            .await?;
        let source = format!("task:{}", task.id);
        let banner = format!("--- task {} ({}) ---", task.id, task.scenario);
        self.log.system(&source, banner).await;
        let started = Instant::now();
        let Some(tried) = self.tries(task, &source, &result_dir, boot).await? else {
            return Ok(TaskEnd::Stopped);
        };
        let Tried {
            last: mut done,
            tries,
            run_end,
        } = tried;
        let results: Vec<TaskResult> = tries.iter().map(|t| t.result).collect();
        let result = over_tries(&results).unwrap_or(done.result);
        let task_id = task.id.clone();
        // A profile that reads cases read the last try's JUnit with them.
        let read_junit = self.profile.cases.is_none();
        let (junit, files) = spawn_blocking_or(Default::default(), move || {
            let junit = read_junit
                .then(|| junit::summarize_dir(&result_dir))
                .flatten();
            (junit, artifact_files::task_files(&task_id, &result_dir))
        })
        .await;
        let junit = junit.or(done.cases.take());
        self.record_task(result, started);
        self.emitter
            .send(EventBody::TaskFinished {
                task_id: task.id.clone(),
                attempt,
                result,
                exit_code: done.exit_code,
                duration_ms: elapsed_ms(started),
                junit,
                message: done.message,
                tries: if tries.len() > 1 { tries } else { Vec::new() },
            })
            .await?;
        self.artifacts
            .store_all(self.emitter, self.log, &source, Some(&task.id), files)
            .await?;
        Ok(run_end.map_or(TaskEnd::Done(result), TaskEnd::RunEnded))
    }

    /// The task's command, again for each retry a `FAIL` or `TIMEOUT` earns
    /// (`outcome::after_try`); `None` when a stop cut it short.
    async fn tries(
        &self,
        task: &TaskSpec,
        source: &str,
        result_dir: &Path,
        boot: &mut Option<ProcessGroup>,
    ) -> Result<Option<Tried>, EmitError> {
        let retries = task_retries(task.retries, self.profile.retries);
        let mut tries: Vec<TaskTry> = Vec::new();
        loop {
            let try_started = Instant::now();
            let Some(done) = self.task_command(task, source, result_dir).await else {
                return Ok(None);
            };
            if let Some(message) = &done.message {
                self.log.system(source, message.clone()).await;
            }
            tries.push(TaskTry {
                result: done.result,
                exit_code: done.exit_code,
                duration_ms: elapsed_ms(try_started),
            });
            let mut run_end = None;
            if after_try(done.result, tries.len(), retries) == AfterTry::Retry {
                run_end = self
                    .before_retry(task, source, result_dir, &tries, retries, boot)
                    .await?;
                if run_end.is_none() {
                    continue;
                }
            }
            return Ok(Some(Tried {
                last: done,
                tries,
                run_end,
            }));
        }
    }

    /// Between two tries: says so in the log, empties the result folder (the
    /// next try's JUnit is the one that counts) and, with the profile's
    /// `reboot_between_retries`, boots the target again. `Some` when that
    /// reboot failed or was stopped: the run ends there.
    async fn before_retry(
        &self,
        task: &TaskSpec,
        source: &str,
        result_dir: &Path,
        tries: &[TaskTry],
        retries: u8,
        boot: &mut Option<ProcessGroup>,
    ) -> Result<Option<RunEnd>, EmitError> {
        let last = tries.last().map_or("", |t| t.result.as_str());
        let line = format!(
            "--- task {} try {} of {} (the last ended {last}) ---",
            task.id,
            tries.len() + 1,
            usize::from(retries) + 1
        );
        self.log.system(source, line).await;
        let _ = tokio::fs::remove_dir_all(result_dir).await;
        if !self.profile.reboot_between_retries || self.profile.boot.is_none() {
            return Ok(None);
        }
        self.reboot(source, "rebooting the target before the retry", boot)
            .await
    }

    /// Runs the task's command (its result folder made first); `None` when
    /// a stop cut it short.
    async fn task_command(
        &self,
        task: &TaskSpec,
        source: &str,
        result_dir: &Path,
    ) -> Option<TaskDone> {
        // Two mkdirs at most: inline, cheaper than a hop to the blocking
        // pool on the way to the task's start.
        if let Err(e) = std::fs::create_dir_all(result_dir) {
            return Some(TaskDone::error(format!(
                "could not create the result directory: {e}"
            )));
        }
        let timeout = task_timeout(task.timeout_s, self.profile.task_timeout);
        let values = self.placeholders(Some(task), Some(result_dir));
        let checkout = self.checkout_dir();
        let mut spec = self.spec(&self.profile.task, source.to_owned(), &values, &checkout);
        spec.task_lines = Some(self.profile.task_lines.clone());
        if let Some(message) = self.missing_scenarios.get().and_then(|m| m.get(&task.id)) {
            return Some(TaskDone::error(message.clone()));
        }
        let (tap, cases) = task_cases::tap(self.profile.cases.as_deref());
        let done = match ProcessGroup::spawn(spec, self.log, self.settings.kill_grace, tap) {
            Err(e) => TaskDone::error(format!("the task could not start: {e}")),
            Ok(group) => {
                // The task runs; meanwhile the events sent before it are
                // confirmed, so none sent after it waits on an earlier
                // one unconfirmed (emitter.rs). One that is not stored
                // has stopped the run, which `wait` sees; the next `emit`
                // reports it.
                let _ = self.emitter.stored().await;
                let waited = group.wait(Some(timeout), self.stop.token());
                let (exit, parsed) = tokio::join!(waited, task_cases::read(cases));
                let done = task_done(exit, timeout)?;
                task_cases::settle(parsed, done, exit, result_dir, self.log, source).await
            }
        };
        Some(done)
    }

    /// Every task's scenario looked for in the checkout, once, before build
    /// and boot (none for a profile whose scenarios are names).
    async fn missing_scenarios_in(&self, checkout: &Checkout) -> HashMap<TaskId, String> {
        let (kind, tasks) = (self.profile.scenario_kind, self.tasks.to_vec());
        let (dir, sha) = (checkout.dir.clone(), checkout.sha.clone());
        spawn_blocking_or(HashMap::new(), move || {
            // A path that cannot be read is not called missing: the
            // command then says what is wrong with it.
            let exists = |p: &ScenarioPath| dir.join(p.as_str()).try_exists().unwrap_or(true);
            missing_scenarios(kind, &tasks, &sha, exists)
        })
        .await
    }

    /// The profile's build artifacts go to the bucket and its `elf` is
    /// measured; neither can fail the run, only an event that cannot be
    /// stored does.
    async fn after_build(&self) -> Result<(), EmitError> {
        if self.stop.token().is_cancelled() {
            return Ok(());
        }
        if let Some(elf) = &self.profile.elf {
            self.measure_firmware(elf).await?;
        }
        if self.profile.artifacts.is_empty() {
            return Ok(());
        }
        let (checkout, globs) = (self.checkout_dir(), self.profile.artifacts.clone());
        let files = list_files(move || artifact_files::build_artifacts(&checkout, &globs)).await;
        self.artifacts
            .store_all(self.emitter, self.log, "build", None, files)
            .await
    }

    async fn measure_firmware(&self, elf: &str) -> Result<(), EmitError> {
        let path = self.checkout_dir().join(elf);
        let name = elf.to_owned();
        let measured = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path).map_err(|e| format!("reading {name}: {e}"))?;
            let size = firmware_size(&bytes).map_err(|e| format!("{name}: {e}"))?;
            // A symbol table that cannot be read still leaves the sizes.
            Ok::<_, String>((size, firmware_symbols(&bytes).unwrap_or_default()))
        })
        .await
        .unwrap_or_else(|e| Err(format!("measuring the firmware panicked: {e}")));
        let (size, symbols) = match measured {
            Ok(measured) => measured,
            Err(reason) => {
                let line = format!("firmware size not measured: {reason}");
                self.log.system("build", line).await;
                return Ok(());
            }
        };
        let budget = self.profile.size_budget;
        let line = firmware_line(elf, &size, budget.as_ref());
        self.log.system("build", line).await;
        self.emitter
            .emit(EventBody::FirmwareMeasured {
                attempt: self.emitter.attempt,
                profile: self.profile.name.clone(),
                size,
                budget,
                symbols,
            })
            .await
            .map(|_| ())
    }

    fn record_task(&self, result: TaskResult, started: Instant) {
        let label = ResultLabel {
            result: result.as_str().to_owned(),
        };
        let metrics = self.log.metrics();
        metrics.tasks.get_or_create(&label).inc();
        metrics
            .task_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The build log's line about the firmware: its sections, and its use of
/// the profile's budget when it has one.
fn firmware_line(elf: &str, size: &FirmwareSize, budget: Option<&SizeBudget>) -> String {
    let mut line = format!(
        "firmware {elf}: text {} data {} bss {} bytes",
        size.text, size.data, size.bss
    );
    if let Some(budget) = budget {
        let uses = [
            ("flash", size.flash(), budget.flash_bytes),
            ("ram", size.ram(), budget.ram_bytes),
        ];
        for (what, used, most) in uses {
            if let (Some(most), Some(percent)) = (most, percent_of(used, most)) {
                line.push_str(&format!("; {what} {used} of {most} bytes ({percent} %)"));
            }
        }
    }
    if let Some(over) = budget.and_then(|b| over_budget(size, b)) {
        line.push_str(&format!("; over budget: {over}"));
    }
    line
}

/// A task's tries: the last one's end, every one's record, and how the
/// run ends when a reboot between tries failed.
struct Tried {
    last: TaskDone,
    tries: Vec<TaskTry>,
    run_end: Option<RunEnd>,
}

/// Whether the run goes on after a task.
enum TaskEnd {
    Done(TaskResult),
    Stopped,
    /// A reboot between tries failed or was stopped.
    RunEnded(RunEnd),
}

/// Lists files off the async threads (a result dir may be deep).
async fn list_files(
    list: impl FnOnce() -> Vec<artifact_files::Candidate> + Send + 'static,
) -> Vec<artifact_files::Candidate> {
    spawn_blocking_or(Vec::new(), list).await
}

/// `work` on the blocking pool; `fallback` if it panicked.
async fn spawn_blocking_or<T: Send + 'static>(
    fallback: T,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(work).await.unwrap_or(fallback)
}

/// Waits until the booted target is ready, or says why it is not.
async fn wait_ready(
    group: &mut ProcessGroup,
    check: Option<&BootReady>,
    mut lines: Option<mpsc::UnboundedReceiver<String>>,
    values: &Placeholders,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let not_ready = || format!("boot not ready within {}s", timeout.as_secs());
    match check {
        None => Ok(()),
        Some(BootReady::Tcp(template)) => {
            let addr = values.in_value(template);
            loop {
                if let Some(exit) = group.exited() {
                    return Err(format!("boot process ended ({exit}) before it was ready"));
                }
                let attempt = tokio::time::timeout(
                    Duration::from_millis(500),
                    tokio::net::TcpStream::connect(addr.as_str()),
                );
                if let Ok(Ok(_stream)) = attempt.await {
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(not_ready());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Some(BootReady::LogRegex(regex)) => {
            let Some(lines) = lines.as_mut() else {
                return Err(not_ready());
            };
            loop {
                match tokio::time::timeout_at(deadline, lines.recv()).await {
                    Err(_) => return Err(not_ready()),
                    Ok(None) => {
                        return Err(format!(
                            "boot process ended before printing a line matching /{}/",
                            regex.as_str()
                        ))
                    }
                    Ok(Some(line)) if regex.is_match(&line) => return Ok(()),
                    Ok(Some(_)) => {}
                }
            }
        }
    }
}

/// Milliseconds since `started`.
fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// A boot that came up after failed tries: ready, saying what failed.
fn ready_after(failures: &[String]) -> StageEnd {
    let message = format!(
        "ready after {} failed boot(s): {}",
        failures.len(),
        failures.join("; ")
    );
    StageEnd::Ready { message }
}
