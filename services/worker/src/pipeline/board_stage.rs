//! The boot stage and teardown of a board profile's run: the board's
//! `power_on`, then the profile's `flash`, then ready (a `log_regex`
//! matched on the console's lines; otherwise the serial open and, for
//! `tcp`, a connection to the bridge, the run's `{port}`). A failed try is
//! powered off before the next one (`boot_retries`); the stage's outcome
//! counts towards the board's own quarantine (board_health.rs), never the
//! profile's. Teardown is the board's `power_off`.

use std::time::Duration;

use testarena_events::{LogStream, Stage};

use super::{Run, StageEnd};
use crate::board_commands::{BoardCommand, Ran};
use crate::boards::{Board, POWER_LIMIT};
use crate::boot_health::BootOutcome;
use crate::console_lines::ConsoleLines;
use crate::emitter::EmitError;
use crate::pipeline::RunEnd;
use crate::profile::BootReady;

/// Longest a profile's `flash` may take.
const FLASH_LIMIT: Duration = Duration::from_secs(600);

impl Run<'_> {
    /// The boot stage on `board`, tried `boot_retries` more times.
    pub(super) async fn board_boot(&self, board: &Board) -> Result<Option<RunEnd>, EmitError> {
        let started = self.stage_started(Stage::Boot).await?;
        let tries = self.profile.boot_retries + 1;
        let mut failures: Vec<String> = Vec::new();
        let end = loop {
            match self.board_boot_once(board).await {
                StageEnd::Failed(reason) if (failures.len() as u32) + 1 < tries => {
                    // Its output, a failure's too, is in the log already.
                    let _ = self
                        .board_command(board.config.power_off.as_deref(), "power_off", POWER_LIMIT)
                        .await;
                    let line = format!(
                        "{reason}; booting board {} again (try {} of {tries})",
                        board.config.name,
                        failures.len() + 2
                    );
                    self.log.system("boot", line).await;
                    failures.push(reason);
                }
                StageEnd::Ok { .. } if !failures.is_empty() => break super::ready_after(&failures),
                end => break end,
            }
        };
        self.record_board_health(board, &end).await;
        self.end_stage(Stage::Boot, started, end).await
    }

    /// power_on, flash, ready: or why not.
    async fn board_boot_once(&self, board: &Board) -> StageEnd {
        // Tapped before power_on: a banner printed at once is not missed.
        let mut tap = board.console.tap();
        let mut open = board.console.open_state();
        let power_on = board.config.power_on.as_deref();
        if let Err(why) = self.board_command(power_on, "power_on", POWER_LIMIT).await {
            return StageEnd::Failed(format!(
                "power_on of board {} failed: {why}",
                board.config.name
            ));
        }
        if let Err(why) = self
            .board_command(self.profile.flash.as_deref(), "flash", FLASH_LIMIT)
            .await
        {
            return StageEnd::Failed(format!("flash failed: {why}"));
        }
        let timeout = self.profile.boot_ready_timeout;
        let not_ready = || {
            format!(
                "board {} not ready within {}s",
                board.config.name,
                timeout.as_secs()
            )
        };
        let ready = self.board_ready(&mut tap, &mut open);
        tokio::select! {
            ready = tokio::time::timeout(timeout, ready) => match ready {
                Ok(Ok(())) => {
                    self.log.system("boot", format!("board {} ready", board.config.name)).await;
                    StageEnd::Ok { commit: None }
                }
                Ok(Err(why)) => StageEnd::Failed(format!("{}: {why}", not_ready())),
                Err(_) => StageEnd::Failed(not_ready()),
            },
            _ = self.stop.token().cancelled() => StageEnd::Cancelled,
        }
    }

    /// Waits for the profile's `boot_ready` on the board: a console line
    /// matching its `log_regex`, or its serial open and, for `tcp`, a
    /// connection to the bridge.
    async fn board_ready(
        &self,
        tap: &mut tokio::sync::broadcast::Receiver<bytes::Bytes>,
        open: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), String> {
        use tokio::sync::broadcast::error::RecvError;
        match &self.profile.boot_ready {
            Some(BootReady::LogRegex(regex)) => {
                let mut lines = ConsoleLines::default();
                loop {
                    match tap.recv().await {
                        Ok(bytes) if lines.push(&bytes).iter().any(|l| regex.is_match(l)) => {
                            return Ok(())
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return Err("the console ended".to_owned()),
                    }
                }
            }
            check => {
                open.wait_for(|open| *open)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(BootReady::Tcp(template)) = check {
                    let addr = self.placeholders(None, None).in_value(template);
                    tokio::net::TcpStream::connect(addr.as_str())
                        .await
                        .map_err(|e| format!("connecting to {addr}: {e}"))?;
                }
                Ok(())
            }
        }
    }

    /// Runs one of the board's commands in the checkout with the run's
    /// placeholders and the profile's `env`; its output goes into the log
    /// as `source`. Nothing to run is a success.
    pub(super) async fn board_command(
        &self,
        template: Option<&str>,
        source: &str,
        limit: Duration,
    ) -> Ran {
        let Some(template) = template else {
            return Ok(String::new());
        };
        let values = self.placeholders(None, None);
        let checkout = self.checkout_dir();
        let spec = self.spec(template, source.to_owned(), &values, &checkout);
        let cwd = if checkout.is_dir() {
            checkout.as_path()
        } else {
            self.workspace.as_path()
        };
        let ran = BoardCommand {
            script: spec.script,
            env: spec.env,
            cwd,
            ledger: self.ledger,
            limit,
        }
        .run()
        .await;
        let output = match &ran {
            Ok(output) => output.as_str(),
            Err(why) => why.as_str(),
        };
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            self.log
                .line(source, LogStream::Stdout, line.to_owned())
                .await;
        }
        if let (Some(board), Ok(_)) = (self.board, &ran) {
            match source {
                "power_on" => board.status.set_powered(true),
                "power_off" => board.status.set_powered(false),
                _ => {}
            }
        }
        ran
    }

    /// Tells the board's standing how the stage went; says so in the log
    /// when it quarantined the board.
    async fn record_board_health(&self, board: &Board, end: &StageEnd) {
        let outcome = match end {
            StageEnd::Ok { .. } | StageEnd::Ready { .. } => BootOutcome::Ready,
            StageEnd::Failed(reason) => BootOutcome::Failed(reason.clone()),
            StageEnd::Cancelled => BootOutcome::Stopped,
        };
        if let Some(reason) = board
            .status
            .boot_ended(&outcome, self.profile.health.quarantine_after)
        {
            let line = format!(
                "board {} quarantined on this worker: {reason}",
                board.config.name
            );
            self.log.system("boot", line).await;
        }
    }

    /// Teardown on a board: its `power_off`.
    pub(super) async fn board_teardown(&self) {
        if let Some(board) = self.board {
            if let Err(why) = self
                .board_command(board.config.power_off.as_deref(), "power_off", POWER_LIMIT)
                .await
            {
                let line = format!("power_off of board {} failed: {why}", board.config.name);
                self.log.system("teardown", line).await;
            }
        }
    }
}
