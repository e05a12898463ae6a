//! Client subcommands: they speak the HTTP API of a running gateway.
//! Exit codes: 0 success (for `submit --wait` and `status`: the queue
//! finished and every task is `PASS`, `FLAKY` — not with `--strict` — or
//! failed under a quarantine), 1 the queue did not pass, 2 the API refused the request, 3 the server could not
//! be reached.

mod api_client;
mod artifacts;
mod cancel;
mod follow;
mod list;
mod render;
mod sse;
mod submit;
mod when;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

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
    /// List queues, newest first.
    List {
        /// Only queues in this status (Waiting, Running, Finished, Error, Cancelled; any case).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 20)]
        per_page: u32,
        /// Absolute UTC times instead of ages and local times.
        #[arg(long)]
        utc: bool,
        /// The API's JSON page instead of a table.
        #[arg(long, conflicts_with = "utc")]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Show one queue: status, stages, tasks. Exits 0 only if it passed,
    /// like `submit --wait`.
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
    /// Print a queue's log; with --follow, keep printing until it ends.
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
    /// The live workers: profiles, labels, busy slots, last heartbeat.
    Workers {
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
}

pub fn run(command: ClientCommand) -> ExitCode {
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
    match runtime.block_on(dispatch(command, style)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                ClientError::Unreachable { .. } => 3,
                _ => 2,
            })
        }
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
        ClientCommand::List {
            status,
            page,
            per_page,
            utc,
            json,
            server,
        } => {
            let options = list::ListOptions {
                status,
                page,
                per_page,
                json,
                style: if utc { when::TimeStyle::Utc } else { style },
            };
            list::run(&ApiClient::new(&server)?, options).await
        }
        ClientCommand::Status {
            id,
            json,
            strict,
            server,
        } => {
            let view = ApiClient::new(&server)?.queue(&id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&view).unwrap_or_default()
                );
            } else {
                print!("{}", render::queue_detail(&view));
            }
            Ok(submit::exit_code(&view, strict))
        }
        ClientCommand::Logs { id, follow, server } => {
            let client = ApiClient::new(&server)?;
            follow::print_log(&client, &id, follow, false).await?;
            Ok(ExitCode::SUCCESS)
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
        ClientCommand::Delete { id, server } => {
            ApiClient::new(&server)?.delete(&id).await?;
            println!("{id}: deleted");
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Workers { json, server } => {
            workers::run(&ApiClient::new(&server)?, json).await
        }
    }
}
