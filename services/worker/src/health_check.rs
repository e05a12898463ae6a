//! Takes a quarantined profile back when its `health` command passes: every
//! `health_interval_s`, for each profile with a `health` command that is
//! quarantined on this worker, the command runs (`sh -c`, in the work dir,
//! with the allow-listed environment and the profile's `env`, its own
//! process group, at most one interval); exit 0 re-admits the profile.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::boot_health::BootHealth;
use crate::command_env::CommandEnv;
use crate::group_ledger::GroupLedger;
use crate::process_group::SHELL;
use crate::profile::Profile;

pub(crate) struct HealthCheck {
    pub boot_health: Arc<BootHealth>,
    pub command_env: CommandEnv,
    pub ledger: GroupLedger,
    pub work_dir: PathBuf,
}

impl HealthCheck {
    /// Checks `profile` every interval until `shutdown`.
    pub async fn watch(&self, profile: Profile, shutdown: CancellationToken) {
        let Some(command) = profile.health.command.clone() else {
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(profile.health.interval) => {}
            }
            if !self.boot_health.is_quarantined(&profile.name) {
                continue;
            }
            match self.run(&profile, &command).await {
                Ok(()) => {
                    tracing::info!(profile = %profile.name, "health command passed; the profile takes queues again");
                    self.boot_health.passed_health(&profile.name);
                }
                Err(why) => {
                    tracing::info!(profile = %profile.name, %why, "health command failed; still quarantined");
                }
            }
        }
    }

    async fn run(&self, profile: &Profile, command: &str) -> Result<(), String> {
        let env = self.command_env.with(
            profile
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let mut child = tokio::process::Command::new(SHELL)
            .arg("-c")
            .arg(command)
            .current_dir(&self.work_dir)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("could not start: {e}"))?;
        let pgid = child.id().map_or(0, |id| id as i32);
        self.ledger.opened(pgid);
        let limit = profile.health.interval.min(Duration::from_secs(600));
        let outcome = match tokio::time::timeout(limit, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("ended with {status}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("did not end within {}s", limit.as_secs())),
        };
        if pgid > 0 {
            // SAFETY: kill(2) of the group this command led: whatever it left.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        self.ledger.closed(pgid);
        outcome
    }
}
