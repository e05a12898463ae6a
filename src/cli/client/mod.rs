//! Client subcommands: they speak the HTTP API of a running gateway.
//! Exit codes: 0 success (for `submit --wait` and `status`: the queue
//! finished and every task is `PASS`, `FLAKY` — not with `--strict` — or
//! failed under a quarantine), 1 the queue did not pass (a failed task,
//! `Error`, `Cancelled`; for `logs --follow`: it ended `Cancelled` or in
//! `Error`), 2 the API refused the request, 3 the server could not be
//! reached, 4 (`status`) the queue has not ended: `Waiting` or `Running`. `bisect` has its own (see `bisect.rs`): 0 Found (or, without
//! `--wait`, started), 1 Inconclusive or Cancelled, 2 Error or any failure
//! to ask the server. Any command whose stdout is a closed pipe ends by
//! SIGPIPE, quietly, as `cat` does (`end_quietly_on_a_closed_pipe`).

mod api_client;
mod artifacts;
mod bisect;
mod bisect_show;
mod boards;
mod cancel;
mod colour;
mod console;
mod delete;
mod follow;
mod list;
mod raw_terminal;
mod render;
mod repo_run;
mod sse;
mod status;
mod submit;
mod when;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use testarena_events::{BoardRef, PowerAction};

use self::api_client::{ApiClient, ClientError};

#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "TESTARENA_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Bearer token for the API, when it needs one.
    #[arg(long, env = "TESTARENA_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Submit a queue from a JSON file (`-` reads stdin).
    Submit {
        file: PathBuf,
        /// Follow the log until the queue ends; exit 0 only if every task
        /// passed (`PASS`, `FLAKY`, or a failure under quarantine).
        #[arg(long)]
        wait: bool,
        /// Print the queue view as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// A `FLAKY` task (passed only on a retry) fails the queue too.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Run a queue again at the commit it resolved (same profile, labels,
    /// priority and shards): a new queue, whose id is printed.
    Rerun {
        id: String,
        /// Only the tasks that did not pass (FAIL, TIMEOUT, ERROR, skipped,
        /// cancelled).
        #[arg(long)]
        failed: bool,
        /// Follow the new queue's log until it ends; exit as `submit --wait`.
        #[arg(long)]
        wait: bool,
        /// Print the new queue's view as JSON instead of its id.
        #[arg(long)]
        json: bool,
        /// A `FLAKY` task (passed only on a retry) fails the queue too.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Run a repository's `testarena.toml` at a ref: one queue per
    /// `[[queue]]`, whose ids are printed. A second run of the same commit
    /// starts nothing new.
    Run {
        /// The repository's URL, as the gateway and the workers fetch it.
        #[arg(long)]
        repo: String,
        /// The branch, tag or commit to run at.
        #[arg(long = "ref", value_name = "REF")]
        git_ref: String,
        /// Follow every queue's log until it ends; exit as `submit --wait`
        /// over all of them (0 only if every queue passed).
        #[arg(long)]
        wait: bool,
        /// A `FLAKY` task (passed only on a retry) fails its queue too.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Print a queue's merged JUnit report (every task's cases) to stdout.
    Junit {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List queues, newest first.
    List(ListArgs),
    /// Show one queue: status, stages, tasks. Exits 0 if it passed, 1 if it
    /// ended otherwise, 4 while it is Waiting or Running.
    Status {
        id: String,
        #[arg(long)]
        json: bool,
        /// A `FLAKY` task (passed only on a retry) fails the queue too.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Print a queue's log; with --follow, keep printing until it ends, and
    /// exit 1 if it ended Cancelled or in Error.
    Logs {
        id: String,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Cancel a queue and say what it was doing.
    Cancel {
        id: String,
        /// Wait until the queue has ended (Cancelled, or how it ended first).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List a queue's artifacts, or download them all.
    Artifacts {
        id: String,
        /// Download every artifact into this folder, under its name
        /// (`<task>/<file>` for a task's), checking each SHA-256.
        #[arg(long, value_name = "DIR")]
        download: Option<PathBuf>,
        /// The API's JSON list instead of a table.
        #[arg(long, conflicts_with = "download")]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Delete a queue, its log and folder.
    Delete {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Find the first commit where a task fails: start a bisect between a
    /// good and a bad commit (`bisect show|cancel|delete ID` for one already
    /// started). Exits 0 when started (with --wait: Found), 1 Inconclusive or
    /// Cancelled, 2 Error or a failed request.
    Bisect(Box<BisectArgs>),
    /// List the bisects.
    Bisects {
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// The live workers: profiles, labels, busy slots, last heartbeat.
    Workers {
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Every board of the workers seen lately: state, queue, reservation.
    Boards {
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Take a board (`WORKER/BOARD`) out of the pool for this token: no
    /// queue gets it until `release` or the time runs out. Again: extends.
    Reserve {
        #[arg(value_parser = board_ref)]
        board: BoardRef,
        /// How long: 1 to 1440.
        #[arg(long, default_value_t = 30)]
        minutes: u32,
        /// Why, for the others who see it.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Give back a board this token reserved.
    Release {
        #[arg(value_parser = board_ref)]
        board: BoardRef,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Power a board this token reserved on, off, or cycle it (exit 1 when
    /// the worker's command failed).
    Power {
        #[arg(value_parser = board_ref)]
        board: BoardRef,
        #[arg(value_enum)]
        action: PowerArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// A board's serial in this terminal (raw); typing needs the board's
    /// reservation, reading does not. `Ctrl-]` leaves.
    Console {
        #[arg(value_parser = board_ref)]
        board: BoardRef,
        #[command(flatten)]
        server: ServerArg,
    },
}

/// `power`'s action.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PowerArg {
    On,
    Off,
    Cycle,
}

impl From<PowerArg> for PowerAction {
    fn from(arg: PowerArg) -> Self {
        match arg {
            PowerArg::On => Self::On,
            PowerArg::Off => Self::Off,
            PowerArg::Cycle => Self::Cycle,
        }
    }
}

fn board_ref(value: &str) -> Result<BoardRef, String> {
    BoardRef::parse(value).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only queues in this status (Waiting, Running, Finished, Error, Cancelled; any case).
    #[arg(long)]
    status: Option<String>,
    /// Where the page starts: the `--cursor` the previous page printed.
    #[arg(long, conflicts_with = "page")]
    cursor: Option<String>,
    /// The n-th page (for gateways older than cursors; `--cursor` is
    /// preferred: a deep page costs the same as the first).
    #[arg(long)]
    page: Option<u32>,
    #[arg(long, default_value_t = 20)]
    per_page: u32,
    /// List bisect step queues too (left out by default).
    #[arg(long)]
    bisect_steps: bool,
    /// Absolute UTC times instead of ages and local times.
    #[arg(long)]
    utc: bool,
    /// The API's JSON page instead of a table.
    #[arg(long, conflicts_with = "utc")]
    json: bool,
    #[command(flatten)]
    server: ServerArg,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BisectArgs {
    #[command(subcommand)]
    action: Option<BisectAction>,
    #[command(flatten)]
    start: BisectStart,
}

/// `testarena bisect --repo URL --bad SHA --task ID …`.
#[derive(Debug, Args)]
pub struct BisectStart {
    /// The repository's URL, as queues submit it.
    #[arg(long, required = true)]
    repo: Option<String>,
    /// A commit (or ref) where the task fails.
    #[arg(long, required = true)]
    bad: Option<String>,
    /// A commit (or ref) where it passes; without it the bisect walks back
    /// from `bad` until the task passes.
    #[arg(long)]
    good: Option<String>,
    /// The task's id.
    #[arg(long, required = true)]
    task: Option<String>,
    /// The task's scenario; by default the one the newest queue of the
    /// repository ran under that task id.
    #[arg(long, value_name = "PATH")]
    scenario: Option<String>,
    /// The worker profile to run the steps on (the workers' default when absent).
    #[arg(long)]
    profile: Option<String>,
    /// Runs per tested commit, 1–10 (the server's default: 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=10))]
    runs_per_step: Option<u8>,
    /// Decide each step by this case of the task's cases (JUnit or console),
    /// named as the test history names it (`classname.name`, or the name
    /// alone), not by the task's result: a commit where the case did not
    /// run is skipped.
    #[arg(long, value_name = "NAME")]
    case: Option<String>,
    /// Follow the bisect, printing each step as it is decided, until it ends.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    server: ServerArg,
}

#[derive(Debug, Subcommand)]
pub enum BisectAction {
    /// One bisect: status, range, steps, culprit. Exits as `--wait` would
    /// (1 while it runs).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Cancel a bisect: its running step queues are stopped.
    Cancel {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Delete a bisect's record (its step queues stay).
    Delete {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
}

pub fn run(command: ClientCommand) -> ExitCode {
    end_quietly_on_a_closed_pipe();
    // Read before the runtime starts threads (see `when::local_offset`).
    let style = match when::local_offset() {
        Some(offset) => when::TimeStyle::Local(offset),
        None => when::TimeStyle::Utc,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // A bisect's exit codes keep 1 for "no culprit": every failure is 2.
    let is_bisect = matches!(
        command,
        ClientCommand::Bisect(_) | ClientCommand::Bisects { .. }
    );
    match runtime.block_on(dispatch(command, style)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                ClientError::Unreachable { .. } if !is_bisect => 3,
                _ => 2,
            })
        }
    }
}

/// `testarena logs ID | head -1`: once the reader is gone, the command ends
/// as `cat` or `git log` would — killed by SIGPIPE, without a word (status
/// 141 in a shell). Rust ignores SIGPIPE, so `println!` into the closed pipe
/// would panic (exit 101) instead. Only the client path: a service never
/// writes to a pipe, and its sockets are written with `MSG_NOSIGNAL`.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: on the main thread before any other starts; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn dispatch(command: ClientCommand, style: when::TimeStyle) -> Result<ExitCode, ClientError> {
    match command {
        ClientCommand::Submit {
            file,
            wait,
            json,
            strict,
            server,
        } => {
            let options = submit::SubmitOptions { wait, json, strict };
            submit::run(&ApiClient::new(&server)?, &file, options).await
        }
        ClientCommand::Rerun {
            id,
            failed,
            wait,
            json,
            strict,
            server,
        } => {
            let client = ApiClient::new(&server)?;
            let submitted = client.rerun(&id, failed).await?;
            let options = submit::SubmitOptions { wait, json, strict };
            submit::report(&client, submitted, options).await
        }
        command @ (ClientCommand::Run { .. } | ClientCommand::Junit { .. }) => {
            repo_run::command(command).await
        }
        ClientCommand::List(args) => list_command(args, style).await,
        ClientCommand::Status {
            id,
            json,
            strict,
            server,
        } => status::run(&ApiClient::new(&server)?, &id, json, strict).await,
        ClientCommand::Logs { id, follow, server } => {
            follow::logs(&ApiClient::new(&server)?, &id, follow).await
        }
        ClientCommand::Cancel { id, wait, server } => {
            cancel::run(&ApiClient::new(&server)?, &id, wait).await
        }
        ClientCommand::Artifacts {
            id,
            download,
            json,
            server,
        } => artifacts::run(&ApiClient::new(&server)?, &id, download.as_deref(), json).await,
        ClientCommand::Delete { id, server } => delete::run(&ApiClient::new(&server)?, &id).await,
        ClientCommand::Bisect(args) => bisect_command(*args).await,
        ClientCommand::Bisects { json, server } => {
            bisect_show::list(&ApiClient::new(&server)?, json).await
        }
        ClientCommand::Workers { json, server } => {
            workers::run(&ApiClient::new(&server)?, json).await
        }
        command => board_command(command).await,
    }
}

async fn board_command(command: ClientCommand) -> Result<ExitCode, ClientError> {
    match command {
        ClientCommand::Boards { json, server } => {
            boards::list(&ApiClient::new(&server)?, json).await
        }
        ClientCommand::Reserve {
            board,
            minutes,
            reason,
            server,
        } => boards::reserve(&ApiClient::new(&server)?, &board, minutes, &reason).await,
        ClientCommand::Release { board, server } => {
            boards::release(&ApiClient::new(&server)?, &board).await
        }
        ClientCommand::Power {
            board,
            action,
            server,
        } => boards::power(&ApiClient::new(&server)?, &board, action.into()).await,
        ClientCommand::Console { board, server } => {
            console::run(&ApiClient::new(&server)?, &board).await
        }
        _ => Err(ClientError::Usage("not a board command".into())),
    }
}

async fn list_command(args: ListArgs, style: when::TimeStyle) -> Result<ExitCode, ClientError> {
    let options = list::ListOptions {
        status: args.status,
        cursor: args.cursor,
        page: args.page,
        per_page: args.per_page,
        bisect_steps: args.bisect_steps,
        json: args.json,
        style: if args.utc {
            when::TimeStyle::Utc
        } else {
            style
        },
    };
    list::run(&ApiClient::new(&args.server)?, options).await
}

async fn bisect_command(args: BisectArgs) -> Result<ExitCode, ClientError> {
    match args.action {
        Some(BisectAction::Show { id, json, server }) => {
            bisect_show::show(&ApiClient::new(&server)?, &id, json).await
        }
        Some(BisectAction::Cancel { id, server }) => {
            bisect_show::cancel(&ApiClient::new(&server)?, &id).await
        }
        Some(BisectAction::Delete { id, server }) => {
            bisect_show::delete(&ApiClient::new(&server)?, &id).await
        }
        None => {
            let start = args.start;
            let client = ApiClient::new(&start.server)?;
            // clap requires these three when no subcommand is given.
            let (Some(repo), Some(bad), Some(task)) = (start.repo, start.bad, start.task) else {
                return Err(ClientError::Usage(
                    "bisect needs --repo, --bad and --task".into(),
                ));
            };
            let options = bisect::StartOptions {
                repo,
                bad,
                good: start.good,
                task,
                scenario: start.scenario,
                profile: start.profile,
                runs_per_step: start.runs_per_step,
                case: start.case,
                wait: start.wait,
            };
            bisect::start(&client, options).await
        }
    }
}
