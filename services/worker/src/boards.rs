//! This worker's boards at run time: each with its console (board_console.rs),
//! its standing (board_health.rs) and the queue it runs, if any. Starts
//! their consoles and health checks, powers every board off at start (a
//! worker killed mid-queue left its board on: the next queue's `power_on`
//! is then a power cycle), and runs power actions asked by an operator.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testarena_events::{
    ArenaNames, BoardEvent, BoardEventBody, BoardName, BoardRecord, ConsoleTailRequest,
    OperatorReply, PowerAction, PowerRequest, QueueId,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::board_commands::{BoardCommand, Ran};
use crate::board_console::{forward_input, Console, ConsoleTask};
use crate::board_health::BoardStatus;
use crate::boards_config::BoardConfig;
use crate::command_env::CommandEnv;
use crate::group_ledger::GroupLedger;
use crate::placeholders::Placeholders;
use crate::presence::Presence;
use crate::worker_events::WorkerEvents;

/// Longest a `power_on`, `power_off` or `health` command may take.
pub(crate) const POWER_LIMIT: Duration = Duration::from_secs(60);

pub(crate) struct Board {
    pub config: BoardConfig,
    pub console: Arc<Console>,
    pub status: Arc<BoardStatus>,
    running: Mutex<Option<QueueId>>,
}

/// A queue's hold on a board; dropped, the board is free.
pub(crate) struct BoardHold(Arc<Board>);

impl BoardHold {
    pub(crate) fn board(&self) -> &Board {
        &self.0
    }
}

impl Drop for BoardHold {
    fn drop(&mut self) {
        *self.0.running.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Board {
    /// `{board}`, `{serial_port}` and `{port}` (the bridge).
    pub(crate) fn placeholders(&self) -> Placeholders {
        Placeholders {
            port: self.console.bridge_port,
            board: Some(self.config.name.to_string()),
            serial_port: Some(self.config.serial.port_text().to_owned()),
            ..Default::default()
        }
    }

    /// Holds the board for `queue`; refused while another queue has it.
    pub(crate) fn hold(self: &Arc<Self>, queue: &QueueId) -> Result<BoardHold, String> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match &*running {
            Some(other) => Err(format!("board {} runs queue {other}", self.config.name)),
            None => {
                *running = Some(queue.clone());
                Ok(BoardHold(self.clone()))
            }
        }
    }

    fn running(&self) -> Option<QueueId> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub(crate) struct Boards {
    boards: BTreeMap<BoardName, Arc<Board>>,
    env: CommandEnv,
    ledger: GroupLedger,
    work_dir: PathBuf,
    events: WorkerEvents,
    worker: String,
}

/// What starting the boards needs from the worker.
pub(crate) struct BoardsSetup {
    pub configs: Vec<BoardConfig>,
    pub client: async_nats::Client,
    pub names: ArenaNames,
    pub presence: Presence,
    pub events: WorkerEvents,
    pub env: CommandEnv,
    pub ledger: GroupLedger,
    pub work_dir: PathBuf,
}

/// Pure: a board's entry in the worker's record, as it starts.
pub(crate) fn record_of(config: &BoardConfig) -> BoardRecord {
    BoardRecord {
        name: config.name.clone(),
        labels: config.labels.clone(),
        admission: Default::default(),
        reason: None,
        health: None,
    }
}

impl Boards {
    /// Each board's console and health check, owned by `tasks`.
    pub(crate) async fn start(
        setup: BoardsSetup,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let worker = setup.presence.id();
        let mut boards = BTreeMap::new();
        for config in setup.configs {
            // A board with power_off is off once the start's power_off ran;
            // one without power commands is always on.
            let powered = config.power_off.is_none();
            let status = Arc::new(BoardStatus::new(
                config.name.clone(),
                powered,
                setup.presence.clone(),
                setup.events.clone(),
            ));
            let out = setup.names.console_out_subject(&worker, &config.name);
            let task = ConsoleTask::new(
                config.serial.clone(),
                status.clone(),
                Some((setup.client.clone(), out)),
            )
            .await?;
            let console = task.console.clone();
            tasks.spawn(task.run(shutdown.clone()));
            let input = setup.names.console_in_subject(&worker, &config.name);
            tasks.spawn(forward_input(
                setup.client.clone(),
                input,
                console.clone(),
                shutdown.clone(),
            ));
            let board = Arc::new(Board {
                config,
                console,
                status,
                running: Mutex::new(None),
            });
            boards.insert(board.config.name.clone(), board);
        }
        let boards = Self {
            boards,
            env: setup.env,
            ledger: setup.ledger,
            work_dir: setup.work_dir,
            events: setup.events,
            worker,
        };
        Ok(boards)
    }

    pub(crate) fn get(&self, name: &BoardName) -> Option<&Arc<Board>> {
        self.boards.get(name)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.boards.is_empty()
    }

    /// Runs one of the board's commands outside a queue's log.
    pub(crate) async fn command(&self, board: &Board, template: &str, limit: Duration) -> Ran {
        let values = board.placeholders();
        BoardCommand {
            script: values.in_command(template),
            env: self.env.with(values.env()),
            cwd: &self.work_dir,
            ledger: &self.ledger,
            limit,
        }
        .run()
        .await
    }

    /// Runs `power_on` (`on`) or `power_off`; a board without that command
    /// has nothing to run.
    pub(crate) async fn power(&self, board: &Board, on: bool) -> Ran {
        let command = if on {
            &board.config.power_on
        } else {
            &board.config.power_off
        };
        let Some(template) = command else {
            return Ok(String::new());
        };
        let ran = self.command(board, template, POWER_LIMIT).await;
        if ran.is_ok() {
            board.status.set_powered(on);
        }
        ran
    }

    /// At start: every board with a `power_off` is powered off, recorded as
    /// this worker's own power action.
    pub(crate) async fn power_off_all(&self) {
        for board in self
            .boards
            .values()
            .filter(|b| b.config.power_off.is_some())
        {
            let ran = self.power(board, false).await;
            if let Err(why) = &ran {
                tracing::warn!(board = %board.config.name, %why, "powering the board off at start failed");
            }
            let body = BoardEventBody::Power {
                action: PowerAction::Off,
                ok: ran.is_ok(),
                message: ran
                    .err()
                    .map(|e| testarena_events::bounded_reason(&e))
                    .unwrap_or_default(),
            };
            let (worker, name) = (self.worker.clone(), board.config.name.clone());
            self.events
                .send_board(BoardEvent::new(worker.clone(), name, worker, body));
        }
    }

    /// Every `interval`, each quarantined board's `health` command; a pass
    /// re-admits it.
    pub(crate) async fn watch_health(
        self: Arc<Self>,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            for board in self.boards.values() {
                let Some(health) = &board.config.health else {
                    continue;
                };
                if !board.status.is_quarantined() || board.running().is_some() {
                    continue;
                }
                // Not bounded by the interval: checks run one after the
                // other, and a boot check may well take longer than it.
                let ran = self.command(board, health, POWER_LIMIT).await;
                tracing::info!(board = %board.config.name, ok = ran.is_ok(), "the board's health command ran");
                board.status.health_ran(ran.map(|_| ()));
            }
        }
    }

    /// The `power` control request: refused for a board this worker does
    /// not have or one running a queue.
    pub(crate) async fn power_request(&self, payload: &[u8]) -> OperatorReply {
        let refuse = |message: String| OperatorReply { ok: false, message };
        let request = match serde_json::from_slice::<PowerRequest>(payload) {
            Ok(request) => request,
            Err(e) => return refuse(format!("a power request names a board and an action: {e}")),
        };
        let Some(board) = self.get(&request.board) else {
            return refuse(format!("this worker has no board {}", request.board));
        };
        if let Some(queue) = board.running() {
            return refuse(format!(
                "board {} runs queue {queue}; power it once the queue ends",
                request.board
            ));
        }
        let steps: &[bool] = match request.action {
            PowerAction::On => &[true],
            PowerAction::Off => &[false],
            PowerAction::Cycle => &[false, true],
        };
        for &on in steps {
            if let Err(why) = self.power(board, on).await {
                let which = if on { "power_on" } else { "power_off" };
                return refuse(format!("{which} of board {} failed: {why}", request.board));
            }
        }
        OperatorReply {
            ok: true,
            message: format!(
                "board {}: power {} done",
                request.board,
                request.action.as_str()
            ),
        }
    }

    /// The `console` control request: the board's recent output.
    pub(crate) fn console_tail(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let request = serde_json::from_slice::<ConsoleTailRequest>(payload)
            .map_err(|e| format!("a console request names a board: {e}"))?;
        let board = self
            .get(&request.board)
            .ok_or_else(|| format!("this worker has no board {}", request.board))?;
        Ok(board.console.tail())
    }
}
