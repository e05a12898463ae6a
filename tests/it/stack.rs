//! `TestStack`: a real nats-server on a free loopback port with a temp
//! store, and the services as real `testarena` processes, torn down on Drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testarena::nats_server::{free_port, NatsServer};

use crate::small_disk::SmallDisk;

pub const BIN: &str = env!("CARGO_BIN_EXE_testarena");

/// A shell profile for tests: `{scenario}` is a script in the repo.
pub const SHELL_PROFILE: &str = r#"
default_profile = "sh"
[profiles.sh]
build = "test ! -f build.sh || sh build.sh"
task = "sh {scenario}"
task_timeout_s = 60

[profiles.booted]
boot = "sh boot.sh"
boot_ready = { log_regex = "^READY$" }
boot_ready_timeout_s = 3
task = "sh {scenario}"
"#;

pub struct TestStack {
    pub nats: NatsServer,
    /// Small disks mounted in `dir`, unmounted before it is removed.
    disks: Vec<SmallDisk>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub base: String,
    pub prefix: String,
    gateway: Option<Child>,
    /// The gateway's command line, to start it again.
    gateway_args: Vec<String>,
    projector: Option<Child>,
    /// The schedulers, by index (`scheduler`, `scheduler-2`, …); a killed
    /// one is `None`.
    schedulers: Vec<Option<Child>>,
    workers: Vec<Child>,
    worker_config: PathBuf,
    worker_args: Vec<String>,
    /// Workers started with a config and arguments of their own, by index.
    worker_overrides: std::collections::HashMap<usize, (PathBuf, Vec<String>)>,
    nats_url: String,
    service_args: Vec<String>,
    service_env: Vec<(String, String)>,
    role_users: bool,
}

pub struct StackOptions {
    pub workers: usize,
    pub worker_config: String,
    pub worker_args: Vec<String>,
    pub gateway_args: Vec<String>,
    /// Services talk to this NATS (comma-separated URLs) instead of the
    /// stack's own nats-server, and pass these extra arguments.
    pub nats_url: Option<String>,
    pub service_args: Vec<String>,
    /// Extra environment variables of every service process.
    pub service_env: Vec<(String, String)>,
    /// NATS runs with deploy/nats/users.conf; `testarena init` runs as
    /// `admin`, and each service connects as its own role.
    pub role_users: bool,
    /// With `role_users`: this users.conf instead of deploy/nats/users.conf.
    pub users_conf: Option<String>,
    /// The data dir (the projector's views and queue folders) is a disk
    /// of this many bytes of its own.
    pub data_dir_bytes: Option<u64>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            worker_config: SHELL_PROFILE.to_owned(),
            worker_args: vec![],
            gateway_args: vec![],
            nats_url: None,
            service_args: vec![],
            service_env: vec![],
            role_users: false,
            users_conf: None,
            data_dir_bytes: None,
        }
    }
}

impl TestStack {
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let nats = if options.role_users {
            let config = dir.path().join("users.conf");
            let users = options.users_conf.clone().unwrap_or_else(users_conf);
            std::fs::write(&config, users).unwrap();
            NatsServer::start_with_config(&dir.path().join("nats"), free_port().unwrap(), &config)
        } else {
            NatsServer::start(&dir.path().join("nats"))
        }
        .expect("nats-server starts");
        let worker_config = dir.path().join("worker.toml");
        std::fs::write(&worker_config, &options.worker_config).unwrap();
        let port = free_port().unwrap();
        let disks = options
            .data_dir_bytes
            .map(|bytes| SmallDisk::mount(&dir.path().join("data"), bytes))
            .into_iter()
            .collect();
        let mut stack = Self {
            nats,
            disks,
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
            prefix: "arena".into(),
            gateway: None,
            gateway_args: Vec::new(),
            projector: None,
            schedulers: Vec::new(),
            workers: Vec::new(),
            worker_config,
            worker_args: options.worker_args,
            worker_overrides: Default::default(),
            nats_url: String::new(),
            service_args: options.service_args,
            service_env: options.service_env,
            role_users: options.role_users,
            dir,
        };
        stack.nats_url = options.nats_url.unwrap_or_else(|| stack.nats.url());
        if stack.role_users {
            let status = stack
                .command(&["init"], "init")
                .status()
                .expect("init runs");
            assert!(status.success(), "testarena init failed");
        }
        stack.projector = Some(stack.spawn_projector(&[]));
        stack.gateway_args = ["gateway", "--listen", &format!("127.0.0.1:{port}")]
            .into_iter()
            .map(str::to_owned)
            .chain(options.gateway_args)
            .collect();
        stack.gateway = Some(stack.spawn_gateway());
        stack.start_another_scheduler();
        for _ in 0..options.workers {
            stack.add_worker();
        }
        stack.wait_ready().await;
        stack
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The data dir's own disk, with `StackOptions::data_dir_bytes`.
    pub fn data_disk(&self) -> &SmallDisk {
        self.disks.first().expect("started with data_dir_bytes")
    }

    fn command(&self, args: &[&str], log_name: &str) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .args(&self.service_args)
            .env("TESTARENA_NATS_URL", &self.nats_url)
            .env("TESTARENA_DATA_DIR", self.data_dir())
            .env("TESTARENA_PREFIX", &self.prefix)
            .env("RUST_LOG", "info")
            .envs(self.service_env.iter().map(|(k, v)| (k, v)))
            .envs(
                self.role_users
                    .then(|| role_credentials(args[0]))
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(self.dir.path(), log_name));
        command
    }

    /// A `testarena` service process of this stack, logging to `<log_name>.log`.
    pub fn spawn(&self, args: &[&str], log_name: &str) -> Child {
        self.command(args, log_name)
            .spawn()
            .expect("testarena starts")
    }

    fn spawn_gateway(&self) -> Child {
        let args: Vec<&str> = self.gateway_args.iter().map(String::as_str).collect();
        self.spawn(&args, "gateway")
    }

    /// One more scheduler on the same NATS and views, as a deployment with
    /// several has; returns its index.
    pub fn start_another_scheduler(&mut self) -> usize {
        let index = self.schedulers.len();
        let name = match index {
            0 => "scheduler".to_owned(),
            n => format!("scheduler-{}", n + 1),
        };
        let child = self.spawn(&["scheduler"], &name);
        self.schedulers.push(Some(child));
        index
    }

    /// SIGKILL to scheduler `index`.
    pub fn kill_scheduler(&mut self, index: usize) {
        if let Some(mut child) = self.schedulers[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn spawn_projector(&self, extra: &[&str]) -> Child {
        let mut args = vec!["projector"];
        args.extend_from_slice(extra);
        self.spawn(&args, "projector")
    }

    pub fn add_worker(&mut self) {
        let child = self.spawn_worker(self.workers.len());
        self.workers.push(child);
    }

    /// A worker with a config (TOML text) and arguments of its own; returns
    /// its index. Its name is `worker-<index>`, as every worker's.
    pub fn add_worker_with(&mut self, config: &str, args: &[&str]) -> usize {
        let index = self.workers.len();
        let path = self.dir.path().join(format!("worker-{index}.toml"));
        std::fs::write(&path, config).unwrap();
        let args = args.iter().map(|a| a.to_string()).collect();
        self.worker_overrides.insert(index, (path, args));
        self.add_worker();
        index
    }

    /// Starts worker `index` again, on its work dir (after it was stopped).
    pub fn restart_worker(&mut self, index: usize) {
        self.workers[index] = self.spawn_worker(index);
    }

    fn spawn_worker(&self, n: usize) -> Child {
        let name = format!("worker-{n}");
        let work_dir = self.dir.path().join(&name);
        let (config, extra) = match self.worker_overrides.get(&n) {
            Some((config, extra)) => (config, extra.as_slice()),
            None => (&self.worker_config, &[][..]),
        };
        let mut args: Vec<String> = vec![
            "worker".into(),
            "--config".into(),
            config.display().to_string(),
            "--worker-name".into(),
            name.clone(),
            "--work-dir".into(),
            work_dir.display().to_string(),
            "--kill-grace-s".into(),
            "1".into(),
        ];
        args.extend(self.worker_args.iter().cloned());
        args.extend(extra.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn(&refs, &name)
    }

    /// The process id of worker `index` (to pause its session, say).
    pub fn worker_pid(&self, index: usize) -> u32 {
        self.workers[index].id()
    }

    /// Peak resident memory of a worker process, in bytes (VmHWM).
    pub fn worker_peak_rss(&self, index: usize) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.workers[index].id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    }

    /// SIGTERM, then wait for the worker to exit (it hands back its queue).
    pub fn terminate_worker(&mut self, index: usize) {
        let child = &mut self.workers[index];
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let _ = child.wait();
    }

    /// SIGTERM, then how long the worker took to exit; `None` (and a
    /// SIGKILL) when it did not within `limit`.
    pub fn terminate_worker_within(&mut self, index: usize, limit: Duration) -> Option<Duration> {
        let child = &mut self.workers[index];
        let started = Instant::now();
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        while started.elapsed() < limit {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// A service's own log (`worker-0`, `gateway`, `projector`).
    pub fn service_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// SIGKILL: the worker dies without a word, like a crashed host.
    pub fn kill_worker(&mut self, index: usize) {
        let _ = self.workers[index].kill();
        let _ = self.workers[index].wait();
    }

    pub fn kill_projector(&mut self) {
        if let Some(mut child) = self.projector.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart_projector(&mut self) {
        self.kill_projector();
        self.projector = Some(self.spawn_projector(&[]));
    }

    /// SIGTERM to the projector, and waits for it: a clean shutdown (it
    /// stores a last snapshot when it takes them).
    pub fn terminate_projector(&mut self) {
        if let Some(mut child) = self.projector.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }

    /// Starts the projector again after `terminate_projector` or `kill_projector`.
    pub fn start_projector(&mut self) {
        assert!(self.projector.is_none(), "the projector runs");
        self.projector = Some(self.spawn_projector(&[]));
    }

    /// SIGTERM to the gateway; returns how long it took to exit.
    pub fn terminate_gateway(&mut self) -> Duration {
        let mut child = self.gateway.take().expect("the gateway runs");
        let asked = Instant::now();
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let _ = child.wait();
        asked.elapsed()
    }

    pub fn stop_gateway_side(&mut self) {
        for child in [self.gateway.take(), self.projector.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `testarena projector --rebuild` into another data dir and
    /// returns that dir.
    pub fn rebuild_into(&self, name: &str) -> PathBuf {
        self.rebuild_into_with(name, &[])
    }

    /// `rebuild_into` with more arguments (`--from-start`).
    pub fn rebuild_into_with(&self, name: &str, extra: &[&str]) -> PathBuf {
        let data = self.dir.path().join(name);
        let args: Vec<&str> = ["projector", "--rebuild"]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let status = self
            .command(&args, &format!("rebuild-{name}"))
            .env("TESTARENA_DATA_DIR", &data)
            .status()
            .expect("rebuild runs");
        assert!(
            status.success(),
            "rebuild failed; see {}",
            self.dir
                .path()
                .join(format!("rebuild-{name}.log"))
                .display()
        );
        data
    }

    /// Runs a following projector over a data dir a rebuild from a
    /// snapshot left until it has written the restored queues' folders
    /// (which it does in the background), then kills it.
    pub fn restore_folders(&self, name: &str, data: &Path) {
        let log_name = format!("folders-{name}");
        let mut child = self
            .command(&["projector"], &log_name)
            .env("TESTARENA_DATA_DIR", data)
            .spawn()
            .expect("projector starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self
            .service_log(&log_name)
            .contains("queue folders restored")
        {
            if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
                let _ = child.kill();
                panic!("the queue folders were not restored; see {log_name}.log");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self.http.get(format!("{}/readyz", self.base)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "stack not ready in 20s; logs in {}",
                self.dir.path().display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn submit(&self, body: &Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, "/api/queue", Some(body))
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("gateway answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(name, value)
            .send()
            .await
            .expect("gateway answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("gateway answers")
            .text()
            .await
            .unwrap()
    }

    /// Polls the queue view until `done` holds (or panics after `timeout`).
    pub async fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_for_path(&format!("/api/queue/{id}"), timeout, done)
            .await
    }

    /// Polls a GET route until it answers 200 with a body where `done`
    /// holds (or panics after `timeout`).
    pub async fn wait_for_path(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, view) = self.get(path).await;
            if status == 200 && done(&view) {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "{path} did not get there in {timeout:?}; last answer ({status}): {view:#}\nlogs in {}",
                self.dir.path().display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_terminal(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, |v| {
            matches!(
                v["status"].as_str(),
                Some("Finished" | "Error" | "Cancelled")
            )
        })
        .await
    }

    pub async fn nats_client(&self) -> async_nats::Client {
        let mut options = async_nats::ConnectOptions::new();
        if self.role_users {
            options = options.user_and_password("admin".into(), "admin-pass".into());
        }
        options
            .connect(self.nats.url())
            .await
            .expect("connect to nats")
    }

    /// A NATS client as one of the roles of deploy/nats/users.conf.
    pub async fn nats_client_as(&self, role: &str) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .user_and_password(role.into(), format!("{role}-pass"))
            .connect(self.nats.url())
            .await
            .expect("connect to nats")
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        for child in self
            .workers
            .iter_mut()
            .chain(self.gateway.iter_mut())
            .chain(self.schedulers.iter_mut().flatten())
            .chain(self.projector.iter_mut())
        {
            // SIGTERM first so workers stop their process groups.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for child in self
            .workers
            .iter_mut()
            .chain(self.gateway.iter_mut())
            .chain(self.schedulers.iter_mut().flatten())
            .chain(self.projector.iter_mut())
        {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("TESTARENA_KEEP_TEST_DIRS").is_some() || std::thread::panicking() {
            let path = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
            eprintln!("kept test dir {}", path.display());
        }
    }
}

/// The NATS users of deploy/nats/users.conf, each with password `<role>-pass`.
pub fn users_conf() -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nats/users.conf"),
    )
    .unwrap();
    [
        "admin",
        "gateway",
        "scheduler",
        "worker",
        "projector",
        "notifier",
    ]
    .iter()
    .fold(text, |text, role| {
        text.replace(
            &format!("${}_NATS_PASSWORD", role.to_uppercase()),
            &format!("{role}-pass"),
        )
    })
}

/// The environment that makes a `testarena <subcommand>` connect as its role.
fn role_credentials(subcommand: &str) -> Vec<(String, String)> {
    let role = match subcommand {
        "init" => "admin",
        "projector" => "projector",
        "gateway" => "gateway",
        "scheduler" => "scheduler",
        "worker" => "worker",
        "notifier" => "notifier",
        other => panic!("no NATS role for {other}"),
    };
    vec![
        ("TESTARENA_NATS_USER".into(), role.into()),
        ("TESTARENA_NATS_PASSWORD".into(), format!("{role}-pass")),
    ]
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// A real git repository in a temp dir with the given files, committed on `main`.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let repo = Self { dir };
        repo.commit(files, "initial");
        repo
    }

    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            let full = self.dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        git(self.dir.path(), &["add", "-A"]);
        git(
            self.dir.path(),
            &[
                "-c",
                "user.email=t@t",
                "-c",
                "user.name=t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                message,
            ],
        );
        git(self.dir.path(), &["rev-parse", "HEAD"])
            .trim()
            .to_owned()
    }

    pub fn url(&self) -> String {
        self.dir.path().display().to_string()
    }
}

/// `text` percent-encoded for a URL's path segment or query value
/// (RFC 3986 unreserved characters kept).
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A queue body: `tasks` are (id, scenario) pairs.
pub fn queue(id: &str, repo: &str, tasks: &[(&str, &str)]) -> Value {
    json!({
        "id": id,
        "source": {"repo": repo, "ref": "main"},
        "tasks": tasks.iter().map(|(id, scenario)| json!({"id": id, "scenario": scenario})).collect::<Vec<_>>(),
    })
}

/// Processes whose command line contains `marker` (to prove none is left).
pub fn processes_with(marker: &str) -> Vec<String> {
    processes_with_in(marker, Path::new("/"))
}

/// `processes_with`, of the processes working under `dir` only: another
/// test's QEMU beside this one is not this one's leftover.
pub fn processes_with_in(marker: &str, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let cmdline = entry.path().join("cmdline");
        if let Ok(bytes) = std::fs::read(&cmdline) {
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
            if text.contains(marker) && !text.contains("processes_with") && cwd.starts_with(dir) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Fails the test, saying how to install it, when a tool the real-firmware
/// tests need is not on PATH (never a silent skip).
pub fn require_tools(tools: &[&str]) {
    for tool in tools {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "{tool} is not installed: run scripts/setup (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
        );
    }
}
