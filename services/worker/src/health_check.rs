//! Takes a quarantined profile back when its `health` command passes: every
//! `health_interval_s`, for each profile with a `health` command that is
//! quarantined on this worker, the command runs (`sh -c`, in the work dir,
//! with the allow-listed environment and the profile's `env`, its own
//! process group, at most one interval, run as a board's commands are:
//! `board_commands.rs`); exit 0 re-admits the profile.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::board_commands::BoardCommand;
use crate::boot_health::BootHealth;
use crate::command_env::CommandEnv;
use crate::group_ledger::GroupLedger;
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
        let limit = profile.health.interval.min(Duration::from_secs(600));
        let command = BoardCommand {
            script: command.to_owned(),
            env,
            cwd: &self.work_dir,
            ledger: &self.ledger,
            limit,
        };
        command.run().await.map(drop)
    }
}
