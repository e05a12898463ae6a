//! The build stage of a run. With `build_outputs`, a build is kept under
//! its key: on this host's disk (build_cache_store.rs) and in the bucket
//! every host shares (build_bucket.rs). A later queue of the same key
//! restores it (`cached`); the shards of one sharded queue build once
//! (build_claims.rs): one builds, the others restore its outputs
//! (`shared`) or end as its build did.

use std::path::PathBuf;

use testarena_events::{Stage, StageOutcome};

use super::{Run, StageEnd};
use crate::build_bucket::Uploaded;
use crate::build_cache::{BuildKey, KeyInputs};
use crate::build_cache_store::Stored;
use crate::build_claims::BuildTurn;
use crate::emitter::EmitError;
use crate::outcome::command_failure;
use crate::pipeline::RunEnd;
use crate::process_group::{Exit, ProcessGroup};

/// Where a kept build came back from.
enum Restored {
    /// This host's cache.
    Here(usize),
    /// The shared bucket (and now this host's cache too).
    Bucket(usize),
}

impl Run<'_> {
    /// The build stage: restored when an earlier queue kept this key
    /// (`cached`), shared with the shard that built it (`shared`), else
    /// built and kept.
    pub(super) async fn build(&self) -> Result<Option<RunEnd>, EmitError> {
        let Some(template) = &self.profile.build else {
            return Ok(None);
        };
        let started = self.stage_started(Stage::Build).await?;
        let key = self.build_key(template);
        if let Some(key) = &key {
            if let Some(message) = self.restore_build(key).await {
                let cached = StageOutcome::Cached;
                self.stage_finished(Stage::Build, started, cached, None, Some(message))
                    .await?;
                return Ok(None);
            }
            match self.build_turn(key).await {
                Some(Ok(message)) => {
                    let shared = StageOutcome::Shared;
                    self.stage_finished(Stage::Build, started, shared, None, Some(message))
                        .await?;
                    return Ok(None);
                }
                Some(Err(reason)) => {
                    return self
                        .end_stage(Stage::Build, started, StageEnd::Failed(reason))
                        .await
                }
                None => {}
            }
        }
        let end = self.run_build(template).await;
        if let (Some(key), StageEnd::Ok { .. }) = (&key, &end) {
            self.keep_build(key).await;
        }
        self.end_stage(Stage::Build, started, end).await
    }

    /// The build cache key of this run, when the profile caches its build
    /// (`template`: its build command as written).
    fn build_key(&self, template: &str) -> Option<BuildKey> {
        let checkout = self.checkout.get()?;
        if self.profile.build_outputs.is_empty() {
            return None;
        }
        Some(BuildKey::of(&KeyInputs {
            repo: self.source.repo.as_str(),
            commit: &checkout.sha,
            profile: self.profile.name.as_str(),
            build_command: template,
            env: &self.profile.env,
            outputs: &self.profile.build_outputs,
        }))
    }

    /// For a shard of a sharded queue: `None` when this shard builds;
    /// `Some(Ok(message))` when it restored the build another shard ran;
    /// `Some(Err(reason))` when that build failed.
    async fn build_turn(&self, key: &BuildKey) -> Option<Result<String, String>> {
        let share = self.shared_tasks.as_ref()?.build_share();
        let turn = tokio::select! {
            turn = share.turn(key.as_str(), self.profile.build_timeout) => turn,
            // The stop ends the run where it is; building is the safe way on.
            _ = self.stop.token().cancelled() => return None,
        };
        match turn {
            Ok(BuildTurn::Build) => None,
            Ok(BuildTurn::Fail { shard, reason }) => {
                Some(Err(format!("the build of shard {shard}: {reason}")))
            }
            Ok(BuildTurn::Restore { shard }) => self.restore_shared(key, shard).await.map(Ok),
            Err(e) => {
                let line = format!("could not settle which shard builds ({e:#}); building here");
                self.log.system("build", line).await;
                None
            }
        }
    }

    /// The stage's message when the build shard `shard` ran was restored;
    /// `None` (and a log line why) when this shard builds after all.
    async fn restore_shared(&self, key: &BuildKey, shard: u8) -> Option<String> {
        let files = match self.restore_from_caches(key).await {
            Ok(Some(Restored::Here(files) | Restored::Bucket(files))) => files,
            Ok(None) => {
                let line = format!(
                    "shard {shard} built key {}, but neither this host's cache nor the shared bucket has it; building here",
                    key.short()
                );
                self.log.system("build", line).await;
                return None;
            }
            Err(why) => {
                let line =
                    format!("restoring the build of shard {shard} failed: {why}; building here");
                self.log.system("build", line).await;
                return None;
            }
        };
        let message = format!(
            "build shared with shard {shard}: its outputs restored (key {}, {}); build skipped",
            key.short(),
            files_count(files)
        );
        self.log.system("build", message.clone()).await;
        Some(message)
    }

    /// The stage's message when the entry of `key` was restored into the
    /// checkout; `None` (and a log line why) when the build has to run.
    async fn restore_build(&self, key: &BuildKey) -> Option<String> {
        let (message, line) = match self.restore_from_caches(key).await {
            Ok(Some(Restored::Here(files))) => (
                format!(
                    "build outputs restored from the cache (key {}, {}); build skipped",
                    key.short(),
                    files_count(files)
                ),
                None,
            ),
            Ok(Some(Restored::Bucket(files))) => (
                format!(
                    "build outputs restored from the shared build cache (bucket {}, key {}, {}); build skipped",
                    self.build_bucket.map_or("", |b| b.name()),
                    key.short(),
                    files_count(files)
                ),
                None,
            ),
            Ok(None) => (
                String::new(),
                Some(format!("no build outputs cached for key {}; building", key.short())),
            ),
            Err(why) => (String::new(), Some(format!("{why}; building"))),
        };
        let said = line.is_none();
        self.log
            .system("build", line.unwrap_or(message.clone()))
            .await;
        said.then_some(message)
    }

    /// This host's cache first, then the shared bucket (its object then
    /// goes into this host's cache, and is restored from there).
    async fn restore_from_caches(&self, key: &BuildKey) -> Result<Option<Restored>, String> {
        let checkout = self.checkout_dir();
        match self.build_cache.restore(key, &checkout).await {
            Ok(Some(files)) => return Ok(Some(Restored::Here(files))),
            Ok(None) => {}
            Err(e) => {
                let line = format!("restoring build outputs of key {} failed: {e}", key.short());
                return Err(line);
            }
        }
        let Some(bucket) = self.build_bucket else {
            return Ok(None);
        };
        let archive = self.build_archive_path(key).await;
        let restored = match bucket.fetch(key, &archive).await {
            Ok(false) => Ok(None),
            Ok(true) => self
                .build_cache
                .restore_archive(key, &archive, &checkout)
                .await
                .map_err(|e| format!("restoring build outputs of key {}: {e}", key.short())),
            Err(e) => Err(e.to_string()),
        };
        let _ = tokio::fs::remove_file(&archive).await;
        Ok(restored?.map(Restored::Bucket))
    }

    /// Where this run keeps a build's archive on its way to or from the
    /// bucket: in its own folder, removed with it.
    async fn build_archive_path(&self, key: &BuildKey) -> PathBuf {
        let _ = tokio::fs::create_dir_all(&self.workspace).await;
        self.workspace.join(format!("build-{}.tar", key.short()))
    }

    /// Keeps a successful build's outputs under `key`, here and in the
    /// shared bucket; a failure to keep them is said in the log and does
    /// not fail the build.
    async fn keep_build(&self, key: &BuildKey) {
        let globs = &self.profile.build_outputs;
        let stored = self
            .build_cache
            .store(key, &self.checkout_dir(), globs)
            .await;
        let line = match &stored {
            Ok(Stored::New { files, evicted }) if evicted.is_empty() => format!(
                "build outputs kept in the cache (key {}, {})",
                key.short(),
                files_count(*files)
            ),
            Ok(Stored::New { files, evicted }) => format!(
                "build outputs kept in the cache (key {}, {}); {} least recently used entries evicted for room",
                key.short(),
                files_count(*files),
                evicted.len()
            ),
            Ok(Stored::AlreadyThere) => format!(
                "build outputs of key {} were already in the cache",
                key.short()
            ),
            Ok(Stored::NothingMatched) => {
                "build_outputs matched no file after the build; nothing cached".to_owned()
            }
            Err(e) => format!("keeping the build outputs in the cache failed: {e}"),
        };
        self.log.system("build", line).await;
        if matches!(stored, Ok(Stored::New { .. } | Stored::AlreadyThere)) {
            self.share_build(key).await;
        }
    }

    /// Puts the kept build into the shared bucket, for other hosts.
    async fn share_build(&self, key: &BuildKey) {
        let Some(bucket) = self.build_bucket else {
            return;
        };
        let archive = self.build_archive_path(key).await;
        let uploaded = match self.build_cache.pack(key, &archive).await {
            Ok(Some(_)) => bucket
                .upload(key, &archive)
                .await
                .map_err(|e| e.to_string()),
            Ok(None) => Err("the entry was evicted before it was packed".to_owned()),
            Err(e) => Err(format!("packing it failed: {e}")),
        };
        let _ = tokio::fs::remove_file(&archive).await;
        let line = match uploaded {
            Ok(Uploaded::New { evicted }) if evicted.is_empty() => {
                format!("build outputs shared in the bucket {}", bucket.name())
            }
            Ok(Uploaded::New { evicted }) => format!(
                "build outputs shared in the bucket {}; {} least recently used builds evicted for room",
                bucket.name(),
                evicted.len()
            ),
            Ok(Uploaded::AlreadyThere) => {
                format!("build outputs were already in the bucket {}", bucket.name())
            }
            Err(why) => format!("build outputs not shared in the bucket {}: {why}", bucket.name()),
        };
        self.log.system("build", line).await;
    }

    /// The build command, through ccache when the profile asks for it.
    async fn run_build(&self, template: &str) -> StageEnd {
        let values = self.placeholders(None, None);
        let checkout = self.checkout_dir();
        let mut spec = self.spec(template, "build".into(), &values, &checkout);
        if self.profile.ccache {
            let Some(ccache) = &self.settings.ccache else {
                return StageEnd::Failed(
                    "the profile sets ccache = true but this worker found no ccache at start"
                        .into(),
                );
            };
            spec.env = ccache.in_env(spec.env, self.ccache_dir, &checkout);
        }
        match ProcessGroup::spawn(spec, self.log, self.settings.kill_grace, None) {
            Err(e) => StageEnd::Failed(format!("build could not start: {e}")),
            Ok(group) => {
                let exit = group
                    .wait(Some(self.profile.build_timeout), self.stop.token())
                    .await;
                match command_failure("build", exit, self.profile.build_timeout) {
                    _ if exit == Exit::Cancelled => StageEnd::Cancelled,
                    None => StageEnd::Ok { commit: None },
                    Some(reason) => StageEnd::Failed(reason),
                }
            }
        }
    }
}

fn files_count(n: usize) -> String {
    if n == 1 {
        "1 file".into()
    } else {
        format!("{n} files")
    }
}
