//! `git` run with an allow-listed environment: a service's own variables
//! (tokens, NATS credentials) never reach git or a hook it might run.

use std::path::Path;
use std::process::Output;

use tokio::process::Command;

/// What git may see of the service's environment: enough to find itself,
/// its config and a proxy or SSH setup; nothing else.
const GIT_ENV: [&str; 10] = [
    "PATH",
    "HOME",
    "GIT_ALLOW_PROTOCOL",
    "GIT_SSH_COMMAND",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSH_AUTH_SOCK",
];

pub(crate) async fn git(dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    let mut command = Command::new("git");
    command.env_clear();
    for key in GIT_ENV {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .output()
        .await
}
