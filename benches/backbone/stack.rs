//! A real TestArena for one scenario: a private nats-server on a free
//! loopback port with its store in a temp dir, and the services as release
//! `testarena` processes (separately, or all in one with `testarena up`).
//! Everything it started is stopped when it is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use testarena::nats_server::{free_port, NatsServer};

use crate::fixtures;
use crate::procfs;

pub const BIN: &str = env!("CARGO_BIN_EXE_testarena");

/// Which services run, each as its own process.
pub struct Services {
    pub gateway: bool,
    pub projector: bool,
    pub workers: usize,
    pub worker_args: Vec<String>,
}

impl Services {
    /// Gateway, projector and `workers` workers: the compose layout.
    pub fn all(workers: usize) -> Self {
        Self {
            gateway: true,
            projector: true,
            workers,
            worker_args: Vec::new(),
        }
    }

    pub fn with_worker_args(mut self, args: &[&str]) -> Self {
        self.worker_args = args.iter().map(|a| a.to_string()).collect();
        self
    }
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    /// Ours, or `None` under `testarena up` (which starts its own).
    pub nats: Option<NatsServer>,
    pub http: reqwest::Client,
    pub base: String,
    worker_config: PathBuf,
    children: Vec<(String, Child)>,
    /// The nats-server `testarena up` started, to be sure it goes too.
    up_nats_pid: Option<u32>,
    /// Services talk to this NATS (a cluster's URLs) instead of `nats`.
    pub nats_url_override: Option<String>,
}

impl Stack {
    /// Only nats-server; services are started by the scenario.
    pub fn nats_only() -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        let nats = NatsServer::start(&dir.path().join("nats")).context("starting nats-server")?;
        let worker_config = dir.path().join("worker.toml");
        std::fs::write(
            &worker_config,
            fixtures::worker_config(&fixtures::python3()),
        )?;
        Ok(Self {
            dir,
            nats: Some(nats),
            http: http_client()?,
            base: String::new(),
            worker_config,
            children: Vec::new(),
            up_nats_pid: None,
            nats_url_override: None,
        })
    }

    pub async fn start(services: Services) -> Result<Self> {
        let mut stack = Self::nats_only()?;
        if services.projector {
            stack.spawn("projector", &["projector"])?;
        }
        if services.gateway {
            let port = free_port()?;
            stack.base = format!("http://127.0.0.1:{port}");
            stack.spawn(
                "gateway",
                &["gateway", "--listen", &format!("127.0.0.1:{port}")],
            )?;
            // Queues wait until a scheduler gives them to a worker.
            stack.spawn("scheduler", &["scheduler"])?;
        }
        for n in 0..services.workers {
            stack.spawn_worker(n, &services.worker_args)?;
        }
        if services.gateway {
            stack.wait_ready().await?;
        }
        Ok(stack)
    }

    /// `testarena up`: everything in one process with its own nats-server.
    pub async fn up() -> Result<Self> {
        Self::up_with(&[]).await
    }

    /// `testarena up` with its nats-server on a known port, which workers
    /// started by `spawn_worker_with` join (the many-workers layout).
    pub async fn up_with_nats_listen() -> Result<Self> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut stack = Self::up_with(&["--nats-listen", &listen]).await?;
        stack.nats_url_override = Some(format!("nats://{listen}"));
        Ok(stack)
    }

    async fn up_with(extra: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        let worker_config = dir.path().join("worker.toml");
        std::fs::write(
            &worker_config,
            fixtures::worker_config(&fixtures::python3()),
        )?;
        let port = free_port()?;
        let mut stack = Self {
            http: http_client()?,
            base: format!("http://127.0.0.1:{port}"),
            nats: None,
            worker_config: worker_config.clone(),
            children: Vec::new(),
            up_nats_pid: None,
            nats_url_override: None,
            dir,
        };
        let data = stack.data_dir();
        let work = stack.dir.path().join("worker-up");
        let args = [
            "up",
            "--data-dir",
            path_str(&data),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--worker-config",
            path_str(&worker_config),
            "--work-dir",
            path_str(&work),
            "--worker-name",
            "up",
            "--shutdown-grace-s",
            "1",
            "--kill-grace-s",
            "1",
        ];
        let args: Vec<&str> = args.iter().chain(extra).copied().collect();
        stack.spawn("up", &args)?;
        stack.wait_ready().await?;
        let up_pid = stack.pid("up").context("up has a pid")?;
        stack.up_nats_pid = procfs::children_named(up_pid, "nats-server")
            .first()
            .copied();
        Ok(stack)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub fn nats_url(&self) -> String {
        self.nats.as_ref().map(NatsServer::url).unwrap_or_default()
    }

    pub fn nats_pid(&self) -> Option<u32> {
        self.nats.as_ref().map(NatsServer::pid).or(self.up_nats_pid)
    }

    /// Every process of the stack by name, nats-server included.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let mut all: Vec<(String, u32)> = self
            .children
            .iter()
            .map(|(name, child)| (name.clone(), child.id()))
            .collect();
        if let Some(pid) = self.nats_pid() {
            all.push(("nats-server".into(), pid));
        }
        all
    }

    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, child)| child.id())
    }

    /// A `testarena` command wired to this stack's NATS and data dir, its
    /// stderr (the service log) in `<dir>/<log_name>.log`.
    pub fn command(&self, args: &[&str], log_name: &str) -> Result<Command> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(log_name))?;
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("TESTARENA_DATA_DIR", self.data_dir())
            .env("TESTARENA_PREFIX", "arena")
            // The default filter, as an operator would run it.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(url) = &self.nats_url_override {
            command.env("TESTARENA_NATS_URL", url);
        } else if self.nats.is_some() {
            command.env("TESTARENA_NATS_URL", self.nats_url());
        } else {
            command.env_remove("TESTARENA_NATS_URL");
        }
        Ok(command)
    }

    pub fn spawn(&mut self, name: &str, args: &[&str]) -> Result<u32> {
        let child = self
            .command(args, name)?
            .spawn()
            .with_context(|| format!("starting {BIN} {}", args.join(" ")))?;
        let pid = child.id();
        self.children.push((name.to_owned(), child));
        Ok(pid)
    }

    /// A worker `worker-<n>` with a config (TOML text) of its own.
    pub fn spawn_worker_with(&mut self, n: usize, config: &str, extra: &[String]) -> Result<u32> {
        let path = self.dir.path().join(format!("worker-{n}.toml"));
        std::fs::write(&path, config)?;
        self.spawn_worker_from(n, &path, extra)
    }

    fn spawn_worker(&mut self, n: usize, extra: &[String]) -> Result<u32> {
        let config = self.worker_config.clone();
        self.spawn_worker_from(n, &config, extra)
    }

    fn spawn_worker_from(&mut self, n: usize, config: &Path, extra: &[String]) -> Result<u32> {
        let name = format!("worker-{n}");
        let work_dir = self.dir.path().join(&name);
        let config = config.display().to_string();
        let work = work_dir.display().to_string();
        let mut args = vec![
            "worker",
            "--config",
            &config,
            "--worker-name",
            &name,
            "--work-dir",
            &work,
            "--kill-grace-s",
            "1",
            "--shutdown-grace-s",
            "1",
        ];
        args.extend(extra.iter().map(String::as_str));
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn(&name, &refs)
    }

    pub async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = self.http.get(format!("{}/readyz", self.base)).send().await {
                if response.status() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the stack was not ready within 30 s; logs in {}",
                    self.dir.path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn nats_client(&self) -> Result<async_nats::Client> {
        async_nats::connect(self.nats_url())
            .await
            .context("connecting to nats-server")
    }

    pub async fn submit(&self, body: &Value) -> Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/api/queue", self.base))
            .json(body)
            .send()
            .await
            .context("POST /api/queue")?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Submits and insists on 201 Created.
    pub async fn create(&self, body: &Value) -> Result<Value> {
        let (status, view) = self.submit(body).await?;
        if status != 201 {
            bail!("submit answered {status}: {view}");
        }
        Ok(view)
    }

    /// Times `n` sequential GETs of `path(i)`, after `warmup` unmeasured
    /// ones, in milliseconds; any answer but a success is an error.
    pub async fn time_gets(
        &self,
        n: usize,
        warmup: usize,
        path: impl Fn(usize) -> String,
    ) -> Result<Vec<f64>> {
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + warmup {
            let started = Instant::now();
            let response = self
                .http
                .get(format!("{}{}", self.base, path(i)))
                .send()
                .await
                .with_context(|| path(i))?;
            let status = response.status();
            let body = response.bytes().await?;
            let elapsed = started.elapsed();
            if !status.is_success() {
                bail!(
                    "{} answered {status}: {}",
                    path(i),
                    String::from_utf8_lossy(&body)
                );
            }
            if i >= warmup {
                samples.push(crate::stats::ms(elapsed));
            }
        }
        Ok(samples)
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Polls the view until `done` holds.
    pub async fn wait_view(
        &self,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, view) = self.get(&format!("/api/queue/{id}")).await?;
            if status == 200 && done(&view) {
                return Ok(view);
            }
            if Instant::now() > deadline {
                bail!(
                    "queue {id} not there within {timeout:?} (last view {status}: {view}); logs in {}",
                    self.dir.path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the queue to end and insists every task passed: a
    /// scenario whose tasks did not run would measure nothing.
    pub async fn wait_passed(&self, id: &str, timeout: Duration) -> Result<Value> {
        let view = self.wait_terminal(id, timeout).await?;
        let counts = &view["counts"];
        if view["status"] != "Finished" || counts["pass"] != counts["total"] {
            bail!(
                "queue {id} did not pass: {view}; logs in {}",
                self.dir.path().display()
            );
        }
        Ok(view)
    }

    pub async fn wait_terminal(&self, id: &str, timeout: Duration) -> Result<Value> {
        self.wait_view(id, timeout, |v| {
            matches!(
                v["status"].as_str(),
                Some("Finished" | "Error" | "Cancelled")
            )
        })
        .await
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SIGTERM first: workers stop their process groups, `up` its nats-server.
        for (_, child) in &self.children {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, child) in &mut self.children {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.up_nats_pid {
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(path_str(self.dir.path())))
                .unwrap_or(false);
            if ours && procfs::is_alive(pid) {
                // SAFETY: the nats-server our `up` child started (checked by its store path).
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
        let Ok(empty) = tempfile::tempdir() else {
            return;
        };
        let dir = std::mem::replace(&mut self.dir, empty);
        if std::env::var_os("TESTARENA_KEEP_BENCH_DIRS").is_some() {
            eprintln!("kept {}", dir.keep().display());
        } else {
            remove_later(dir);
        }
    }
}

/// Temp dirs whose removal waits for the end of the run: on a journal-less
/// ext4 (this machine's disk), deleting thousands of files makes every file
/// created in the next minutes slower, which would charge one scenario's
/// clean-up to the next scenario's figures.
static REMOVE_LATER: std::sync::Mutex<Vec<tempfile::TempDir>> = std::sync::Mutex::new(Vec::new());

pub fn remove_later(dir: tempfile::TempDir) {
    REMOVE_LATER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir);
}

/// Removes every temp dir put aside by [`remove_later`].
pub fn remove_deferred() {
    REMOVE_LATER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .context("building the HTTP client")
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}
