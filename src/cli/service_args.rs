//! Flags shared by the service subcommands, each also read from a
//! `TESTARENA_*` environment variable, and their conversion into the typed
//! configuration of each service.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use testarena_events::{ArenaNames, StreamLimits};
use testarena_gateway::GatewayConfig;
use testarena_notifier::NotifierConfig;
use testarena_projector::ProjectorConfig;
use testarena_scheduler::SchedulerConfig;
use testarena_worker::{ArtifactCaps, Ccache, CommandEnv, EngineSettings, Profiles, WorkerConfig};

#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Subject prefix and stream-name stem; arenas with different prefixes
    /// can share one NATS.
    #[arg(long, env = "TESTARENA_PREFIX", default_value = "arena")]
    pub prefix: String,
    /// Stream replicas (3 or 5 on a JetStream cluster).
    #[arg(long, env = "TESTARENA_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// How long log batches are kept, in hours.
    #[arg(long, env = "TESTARENA_LOG_RETENTION_HOURS", default_value_t = 168)]
    pub log_retention_hours: u64,
    /// Log stream size limit in MiB.
    #[arg(long, env = "TESTARENA_LOG_RETENTION_MB", default_value_t = 1024)]
    pub log_retention_mb: i64,
    /// How long artifacts are kept, in days (the artifacts bucket's max age,
    /// set by `init`); a fraction is allowed (0.5 is 12 hours).
    #[arg(long, env = "TESTARENA_ARTIFACT_RETENTION_DAYS", default_value_t = 30.0, value_parser = positive_days)]
    pub artifact_retention_days: f64,
}

impl StreamArgs {
    pub fn names(&self) -> anyhow::Result<ArenaNames> {
        let valid = !self.prefix.is_empty()
            && self.prefix.split('.').all(|t| {
                !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        anyhow::ensure!(
            valid,
            "--prefix {:?}: use dot-separated tokens of letters, digits, '_' or '-'",
            self.prefix
        );
        Ok(ArenaNames::new(&self.prefix))
    }

    pub fn limits(&self) -> StreamLimits {
        StreamLimits {
            log_max_age: Duration::from_secs(self.log_retention_hours * 3600),
            log_max_bytes: self.log_retention_mb << 20,
            replicas: self.replicas,
            artifact_max_age: Duration::from_secs_f64(self.artifact_retention_days * 86_400.0),
        }
    }
}

/// A number of days JetStream can keep something for: more than 0 and
/// at most about 100 years.
fn positive_days(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(days) if days > 0.0 && days <= 36_500.0 => Ok(days),
        _ => Err(format!(
            "{text:?} is not a number of days above 0 (and at most 36500)"
        )),
    }
}

/// How to reach NATS: URL(s), and credentials or TLS where the server wants them.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS URL; comma-separated for a cluster. `up` starts a private
    /// nats-server when absent; the other commands use nats://127.0.0.1:4222.
    #[arg(long, env = "TESTARENA_NATS_URL")]
    pub nats_url: Option<String>,
    /// A NATS credentials file (JWT + nkey seed).
    #[arg(long, env = "TESTARENA_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate (PEM) to verify a TLS NATS server; requires TLS.
    #[arg(long, env = "TESTARENA_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    #[arg(long, env = "TESTARENA_NATS_USER")]
    pub nats_user: Option<String>,
    /// Prefer `--nats-password-file`: a value given here or in the
    /// environment is wiped from /proc at start, but a file never gets there.
    #[arg(long, env = "TESTARENA_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// A file holding the NATS password (a trailing newline is ignored), such
    /// as a compose secret.
    #[arg(
        long,
        env = "TESTARENA_NATS_PASSWORD_FILE",
        conflicts_with = "nats_password"
    )]
    pub nats_password_file: Option<PathBuf>,
}

impl NatsArgs {
    pub fn url(&self) -> String {
        self.nats_url
            .clone()
            .unwrap_or_else(|| "nats://127.0.0.1:4222".into())
    }

    fn password(&self) -> anyhow::Result<Option<String>> {
        match &self.nats_password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("reading the NATS password from {}", path.display())
                })?;
                let password = text.trim_end_matches(['\n', '\r']);
                anyhow::ensure!(
                    !password.is_empty(),
                    "the NATS password file {} is empty",
                    path.display()
                );
                Ok(Some(password.to_owned()))
            }
            None => Ok(self.nats_password.clone()),
        }
    }

    /// Connects as `testarena-<role>`. Starts even if NATS is not up yet
    /// (it keeps retrying; readiness reports it).
    pub async fn connect(&self, url: &str, role: &str) -> anyhow::Result<async_nats::Client> {
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("testarena-{role}"))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2));
        if let Some(path) = &self.nats_creds {
            options = options
                .credentials_file(path)
                .await
                .with_context(|| format!("reading NATS credentials {}", path.display()))?;
        }
        if let Some(ca) = &self.nats_tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        match (&self.nats_user, self.password()?) {
            (Some(user), Some(password)) => {
                options = options.user_and_password(user.clone(), password)
            }
            (None, None) => {}
            _ => anyhow::bail!(
                "--nats-user and --nats-password (or --nats-password-file) go together"
            ),
        }
        let servers: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        options
            .connect(servers.as_slice())
            .await
            .with_context(|| format!("connecting to NATS at {url}"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ViewArgs {
    /// Data folder: the view database and the per-queue folders.
    #[arg(long, env = "TESTARENA_DATA_DIR", default_value = "testarena-data")]
    pub data_dir: PathBuf,
    /// Per-queue folders (`<id>/queue_status.json`, `<id>/queue_log.txt`);
    /// `<data-dir>/queues` when absent. `/testarena` matches the original system.
    #[arg(long, env = "TESTARENA_QUEUES_DIR")]
    pub queues_dir: Option<PathBuf>,
    /// Names the projector whose views a gateway reads (one per host).
    #[arg(long, env = "TESTARENA_PROJECTOR_NAME", default_value = "local")]
    pub projector_name: String,
}

impl ViewArgs {
    pub fn queues_dir(&self) -> PathBuf {
        self.queues_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("queues"))
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("views.sqlite")
    }

    pub fn projector(&self, nats: &StreamArgs) -> anyhow::Result<ProjectorConfig> {
        Ok(ProjectorConfig {
            names: nats.names()?,
            limits: nats.limits(),
            data_dir: self.queues_dir(),
            db_path: self.db_path(),
            name: self.projector_name.clone(),
            auto_quarantine: None,
            retention: None,
            snapshot_every: None,
        })
    }
}

/// How long history stays in JetStream, and the views' snapshots that keep
/// what left it: flags of `testarena projector` and `testarena up`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Queues that ended this many days ago leave JetStream: their events
    /// (but `submitted` and how they ended), log batches and artifacts; the
    /// views keep them, their test history and sizes. 0 keeps everything.
    #[arg(long, env = "TESTARENA_RETENTION_DAYS", default_value_t = 90.0, value_parser = days_or_zero)]
    pub retention_days: f64,
    /// Minutes between snapshots of the views in the snapshots bucket (one
    /// more at a clean shutdown); `--rebuild` starts from the newest. 0: none.
    #[arg(long, env = "TESTARENA_SNAPSHOT_MINUTES", default_value_t = 60.0, value_parser = minutes_or_zero)]
    pub snapshot_minutes: f64,
}

impl HistoryArgs {
    /// Sets the projector's retention and snapshot period from the flags.
    pub fn apply(&self, config: &mut ProjectorConfig) {
        config.retention = testarena_projector::Retention::days(self.retention_days);
        config.snapshot_every = (self.snapshot_minutes > 0.0)
            .then(|| Duration::from_secs_f64(self.snapshot_minutes * 60.0));
    }
}

/// `--retention-days`: 0 (keep everything) or a number of days
/// `positive_days` takes.
fn days_or_zero(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(0.0) => Ok(0.0),
        _ => positive_days(text),
    }
}

/// `--snapshot-minutes`: 0 (no snapshots) up to a year.
fn minutes_or_zero(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(minutes) if (0.0..=525_600.0).contains(&minutes) => Ok(minutes),
        _ => Err(format!(
            "{text:?} is not a number of minutes from 0 (no snapshots) to 525600"
        )),
    }
}

/// The projector's own flags.
#[derive(Debug, Clone, Args)]
pub struct ProjectorArgs {
    /// Replay the streams into a fresh database and folders, then exit:
    /// from the newest snapshot in the snapshots bucket, when there is one.
    #[arg(long)]
    pub rebuild: bool,
    /// With `--rebuild`: from the start of the streams, not a snapshot
    /// (queues that left JetStream by `--retention-days` are not rebuilt).
    #[arg(long, requires = "rebuild")]
    pub from_start: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Quarantine tests that turn `flaky` (never `failing` ones), with a
    /// `quarantined` event (`by: "auto"`).
    #[arg(long, env = "TESTARENA_AUTO_QUARANTINE")]
    pub auto_quarantine: bool,
    /// The flip rate at or above which `--auto-quarantine` calls a test
    /// `flaky` (0 < rate ≤ 1); like the gateway's.
    #[arg(long, env = "TESTARENA_FLAKY_FLIP_RATE", default_value_t = testarena_events::DEFAULT_FLAKY_FLIP_RATE)]
    pub flaky_flip_rate: f64,
}

impl ProjectorArgs {
    /// Where `--rebuild` starts; `None`: follow the streams instead.
    pub fn rebuild_from(&self) -> Option<testarena_projector::RebuildFrom> {
        use testarena_projector::RebuildFrom;
        self.rebuild.then_some(if self.from_start {
            RebuildFrom::Start
        } else {
            RebuildFrom::NewestSnapshot
        })
    }

    /// `--auto-quarantine`'s flip rate, checked; `None` when it is off.
    pub fn auto_quarantine(&self) -> anyhow::Result<Option<f64>> {
        anyhow::ensure!(
            self.flaky_flip_rate > 0.0 && self.flaky_flip_rate <= 1.0,
            "--flaky-flip-rate must be above 0 and at most 1, not {}",
            self.flaky_flip_rate
        );
        Ok(self.auto_quarantine.then_some(self.flaky_flip_rate))
    }
}

#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Address the HTTP API and dashboard listen on.
    #[arg(long, env = "TESTARENA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Longest a write waits for its view, in milliseconds.
    #[arg(long, env = "TESTARENA_SUBMIT_WAIT_MS", default_value_t = 5000)]
    pub submit_wait_ms: u64,
    /// Workers seen within this many hours count when a submit's profile
    /// and `requires` are checked (at most 168: the registry keeps a week).
    #[arg(long, env = "TESTARENA_WORKER_MEMORY_HOURS", default_value_t = 24)]
    pub worker_memory_hours: u64,
    /// Bearer tokens, comma-separated; when set, submit, cancel and delete
    /// need one of them.
    #[arg(
        long,
        env = "TESTARENA_API_TOKENS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub api_tokens: Vec<String>,
    /// A file with one bearer token per line (`#` comments allowed).
    #[arg(long, env = "TESTARENA_API_TOKENS_FILE")]
    pub api_tokens_file: Option<PathBuf>,
    /// Reads (queues, logs, events, metrics) need a token too.
    #[arg(long, env = "TESTARENA_PROTECT_READS")]
    pub protect_reads: bool,
    /// A test whose results flip this often over its window (changes ÷
    /// (runs − 1)) is `flaky` in `/api/tests`; 0 < rate ≤ 1.
    #[arg(long, env = "TESTARENA_FLAKY_FLIP_RATE", default_value_t = testarena_events::DEFAULT_FLAKY_FLIP_RATE)]
    pub flaky_flip_rate: f64,
}

impl GatewayArgs {
    pub fn config(&self, nats: &StreamArgs, views: &ViewArgs) -> anyhow::Result<GatewayConfig> {
        let mut tokens: Vec<String> = self
            .api_tokens
            .iter()
            .map(|t| t.trim().to_owned())
            .collect();
        if let Some(path) = &self.api_tokens_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading API tokens from {}", path.display()))?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        tokens.retain(|t| !t.is_empty());
        anyhow::ensure!(
            tokens.is_empty() || tokens.iter().all(|t| t.len() >= 16),
            "API tokens must be at least 16 characters long"
        );
        anyhow::ensure!(
            !self.protect_reads || !tokens.is_empty(),
            "--protect-reads needs API tokens (--api-tokens or --api-tokens-file)"
        );
        anyhow::ensure!(
            self.flaky_flip_rate > 0.0 && self.flaky_flip_rate <= 1.0,
            "--flaky-flip-rate must be above 0 and at most 1, not {}",
            self.flaky_flip_rate
        );
        Ok(GatewayConfig {
            names: nats.names()?,
            limits: nats.limits(),
            listen: self.listen.clone(),
            data_dir: views.queues_dir(),
            db_path: views.db_path(),
            projector_name: views.projector_name.clone(),
            submit_wait: Duration::from_millis(self.submit_wait_ms),
            nats_timeout: Duration::from_secs(1),
            extra_metrics: None,
            auth: testarena_gateway::ApiAuth::new(tokens, self.protect_reads),
            worker_memory: Duration::from_secs(self.worker_memory_hours.max(1) * 3600),
            flaky_flip_rate: self.flaky_flip_rate,
            gateway_file: Default::default(),
            mirrors_dir: views.data_dir.join("gateway-mirrors"),
        })
    }
}

/// The gateway config file (`gateway --config`, `up --gateway-config`):
/// checked and its secret files read now, so a mistake stops the start
/// with the file and line instead of failing a hook later.
pub fn gateway_file(
    path: Option<&std::path::Path>,
) -> anyhow::Result<std::sync::Arc<testarena_integrations::GatewayFile>> {
    let file = match path {
        Some(path) => testarena_integrations::GatewayFile::load(path)?,
        None => Default::default(),
    };
    Ok(std::sync::Arc::new(file))
}

/// The scheduler's own flags.
#[derive(Debug, Clone, Args)]
pub struct SchedulerArgs {
    /// Where the bisect driver keeps its bare git mirrors (one per
    /// repository); `<data-dir>/bisect-mirrors` when absent.
    #[arg(long, env = "TESTARENA_BISECT_MIRRORS")]
    pub bisect_mirrors: Option<PathBuf>,
}

impl SchedulerArgs {
    pub fn config(&self, nats: &StreamArgs, views: &ViewArgs) -> anyhow::Result<SchedulerConfig> {
        Ok(SchedulerConfig {
            names: nats.names()?,
            db_path: views.db_path(),
            projector_name: views.projector_name.clone(),
            nats_timeout: Duration::from_secs(1),
            bisect_mirrors: self
                .bisect_mirrors
                .clone()
                .unwrap_or_else(|| views.data_dir.join("bisect-mirrors")),
        })
    }
}

/// The notifier's own flags; its repositories and rules come from the
/// gateway config file.
#[derive(Debug, Clone, Args)]
pub struct NotifierArgs {
    /// The gateway's address as people reach it (`https://arena.example.com`):
    /// statuses and notifications link to `<public-url>/#/queue/<id>`.
    /// `testarena up` uses its own gateway's address when absent.
    #[arg(long, env = "TESTARENA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds one status or notification request may take.
    #[arg(long, env = "TESTARENA_NOTIFY_TIMEOUT_S", default_value_t = 10)]
    pub notify_timeout_s: u64,
}

impl NotifierArgs {
    /// `integrations`: the gateway config file's content (`gateway_file`);
    /// `fallback_url` where `--public-url` is absent.
    pub fn config(
        &self,
        streams: &StreamArgs,
        views: &ViewArgs,
        integrations: std::sync::Arc<testarena_integrations::GatewayFile>,
        fallback_url: Option<&str>,
    ) -> anyhow::Result<NotifierConfig> {
        let public_url = match (&self.public_url, fallback_url) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url.to_owned(),
            (None, None) => anyhow::bail!(
                "--public-url is needed: the address people open queues at, for links"
            ),
        };
        anyhow::ensure!(
            public_url.starts_with("http://") || public_url.starts_with("https://"),
            "--public-url {public_url:?} is not an http(s) URL"
        );
        anyhow::ensure!(
            (1..=300).contains(&self.notify_timeout_s),
            "--notify-timeout-s must be 1 to 300"
        );
        Ok(NotifierConfig {
            names: streams.names()?,
            limits: streams.limits(),
            db_path: views.db_path(),
            projector_name: views.projector_name.clone(),
            nats_timeout: Duration::from_secs(1),
            integrations,
            public_url,
            http_timeout: Duration::from_secs(self.notify_timeout_s),
        })
    }
}

/// The workers' shared consumer: set by `testarena init`, asked for by each
/// worker.
#[derive(Debug, Clone, Args)]
pub struct ConsumerArgs {
    /// Seconds without a heartbeat before a queue is redelivered.
    #[arg(long, env = "TESTARENA_ACK_WAIT_S", default_value_t = 30)]
    pub ack_wait_s: u64,
    /// Runs of one queue before it ends in Error.
    #[arg(long, env = "TESTARENA_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: u32,
}

impl ConsumerArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_attempts >= 1, "--max-attempts must be at least 1");
        anyhow::ensure!(self.ack_wait_s >= 1, "--ack-wait-s must be at least 1");
        Ok(())
    }

    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_s)
    }
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Mirrors and workspaces; `<data-dir>/worker` when absent.
    #[arg(long, env = "TESTARENA_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Queues run at once by this process.
    #[arg(long, env = "TESTARENA_CONCURRENCY", default_value_t = 1)]
    pub concurrency: usize,
    /// Name shown in the views; host name and pid when absent. As a
    /// subject token (other characters become `_`) it is the worker's id.
    #[arg(long, env = "TESTARENA_WORKER_NAME")]
    pub worker_name: Option<String>,
    /// How often the worker puts its record in the registry; silent for
    /// three of these, it is gone and its queues go to other workers. Each
    /// put is a KV write every scheduler and gateway watch receives: 50
    /// workers at 2 s cost an idle stack 1.7 % of a core, at 5 s 1.0 %.
    #[arg(long, env = "TESTARENA_HEARTBEAT_MS", default_value_t = 5000)]
    pub heartbeat_ms: u64,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
    /// On SIGTERM, seconds running queues get to finish before being handed back.
    #[arg(long, env = "TESTARENA_SHUTDOWN_GRACE_S", default_value_t = 30)]
    pub shutdown_grace_s: u64,
    /// Seconds between SIGTERM and SIGKILL when stopping a command.
    #[arg(long, env = "TESTARENA_KILL_GRACE_S", default_value_t = 5)]
    pub kill_grace_s: u64,
    /// Days after which a repository mirror no queue used is removed (with
    /// its worktrees); checked at start and hourly. 0 keeps them forever.
    #[arg(long, env = "TESTARENA_CACHE_MAX_AGE_DAYS", default_value_t = 14)]
    pub cache_max_age_days: u64,
    /// Most gigabytes (GiB) the build cache keeps (profiles' `build_outputs`);
    /// past it the least recently used entries go. Fractions allowed.
    #[arg(long, env = "TESTARENA_BUILD_CACHE_MAX_GB", default_value_t = 10.0)]
    pub build_cache_max_gb: f64,
    /// Most gigabytes (GiB) the build cache bucket shared by every worker
    /// host keeps (`<PREFIX>_BUILDS`); past it whole builds go, least
    /// recently used first. 0 keeps builds on each host only.
    #[arg(long, env = "TESTARENA_BUILD_CACHE_BUCKET_GB", default_value_t = 10.0)]
    pub build_cache_bucket_gb: f64,
    /// Log bytes one command may store; past it lines are counted only.
    #[arg(long, env = "TESTARENA_LOG_CAP_BYTES", default_value_t = 64 << 20)]
    pub log_cap_bytes: u64,
    /// Largest artifact stored, in bytes; a larger file is skipped with a log line.
    #[arg(long, env = "TESTARENA_ARTIFACT_MAX_FILE_BYTES", default_value_t = 256 << 20)]
    pub artifact_max_file_bytes: u64,
    /// Most artifact bytes one run of a queue stores; past it files are
    /// skipped with a log line.
    #[arg(long, env = "TESTARENA_ARTIFACT_MAX_QUEUE_BYTES", default_value_t = 1 << 30)]
    pub artifact_max_queue_bytes: u64,
    /// Serve the worker's Prometheus metrics at http://ADDR/metrics
    /// (under `up`, the gateway's /metrics includes them).
    #[arg(long, env = "TESTARENA_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
}

impl WorkerArgs {
    pub fn config(
        &self,
        nats: &StreamArgs,
        profiles: Profiles,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<WorkerConfig> {
        anyhow::ensure!(self.concurrency >= 1, "--concurrency must be at least 1");
        self.consumer.validate()?;
        for (flag, gb) in [
            ("--build-cache-max-gb", self.build_cache_max_gb),
            ("--build-cache-bucket-gb", self.build_cache_bucket_gb),
        ] {
            anyhow::ensure!(
                gb.is_finite() && gb >= 0.0,
                "{flag} must be a number of GiB, 0 or more"
            );
        }
        let command_env = CommandEnv::from_worker(profiles.pass_env());
        let ccache = worker_ccache(&profiles)?;
        Ok(WorkerConfig {
            names: nats.names()?,
            limits: nats.limits(),
            worker_name: self.worker_name.clone().unwrap_or_else(default_worker_name),
            heartbeat: Duration::from_millis(self.heartbeat_ms.max(50)),
            profiles,
            work_dir: self
                .work_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("worker")),
            concurrency: self.concurrency,
            ack_wait: self.consumer.ack_wait(),
            max_attempts: self.consumer.max_attempts,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_s),
            cache_max_age: (self.cache_max_age_days > 0)
                .then(|| Duration::from_secs(self.cache_max_age_days * 24 * 3600)),
            engine: EngineSettings {
                kill_grace: Duration::from_secs(self.kill_grace_s),
                log_cap_bytes: self.log_cap_bytes,
                command_env,
                artifact_caps: ArtifactCaps {
                    per_file: self.artifact_max_file_bytes,
                    per_queue: self.artifact_max_queue_bytes,
                },
                build_cache_max_bytes: gib_to_bytes(self.build_cache_max_gb),
                build_bucket_max_bytes: gib_to_bytes(self.build_cache_bucket_gb),
                ccache,
            },
            reaper_command: reaper_command(),
            metrics: Default::default(),
        })
    }
}

fn gib_to_bytes(gib: f64) -> u64 {
    (gib * (1u64 << 30) as f64) as u64
}

/// The host's ccache when a profile sets `ccache = true`; a worker that
/// has none refuses to start, naming the profiles.
fn worker_ccache(profiles: &Profiles) -> anyhow::Result<Option<Ccache>> {
    let wanting: Vec<&str> = profiles
        .all()
        .filter(|p| p.ccache)
        .map(|p| p.name.as_str())
        .collect();
    if wanting.is_empty() {
        return Ok(None);
    }
    Ccache::locate().map(Some).map_err(|e| {
        anyhow::anyhow!(
            "profile(s) {} set ccache = true, but {e}",
            wanting.join(", ")
        )
    })
}

/// This binary's `reap-process-groups`, which kills what a dead worker
/// left; without a path to this binary, the worker runs without it.
fn reaper_command() -> Vec<std::ffi::OsString> {
    match std::env::current_exe() {
        Ok(exe) => vec![exe.into(), "reap-process-groups".into()],
        Err(e) => {
            tracing::warn!(error = %e, "cannot find this binary; commands may outlive a killed worker");
            Vec::new()
        }
    }
}

fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}
