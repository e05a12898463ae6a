//! `testarena run --repo URL --ref REF [--wait]`: the repository's
//! `testarena.toml` at the ref, one queue per `[[queue]]`. With `--wait`,
//! each queue's log to its end, then the exit code `submit --wait` gives,
//! over all of them: 0 only when every queue passed.

use std::process::ExitCode;

use super::api_client::{ApiClient, ClientError};
use super::submit::exit_number;
use super::{colour, follow, render, ClientCommand};

struct RunOptions {
    wait: bool,
    strict: bool,
}

/// `run` and `junit`.
pub async fn command(command: ClientCommand) -> Result<ExitCode, ClientError> {
    match command {
        ClientCommand::Run {
            repo,
            git_ref,
            wait,
            strict,
            server,
        } => {
            let options = RunOptions { wait, strict };
            run(&ApiClient::new(&server)?, &repo, &git_ref, options).await
        }
        ClientCommand::Junit { id, server } => junit(&ApiClient::new(&server)?, &id).await,
        _ => unreachable!("dispatch sends only run and junit here"),
    }
}

async fn run(
    client: &ApiClient,
    repo: &str,
    git_ref: &str,
    options: RunOptions,
) -> Result<ExitCode, ClientError> {
    let started = client.run_repo(repo, git_ref).await?;
    eprintln!(
        "{repo} at {git_ref} is {}: {} queue(s)",
        started.commit,
        started.queues.len()
    );
    for id in &started.queues {
        eprintln!("queue {id}: {}", client.dashboard_url(id));
    }
    if !options.wait {
        started.queues.iter().for_each(|id| println!("{id}"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut worst = 0;
    let mut views = Vec::with_capacity(started.queues.len());
    for id in &started.queues {
        // The queues run at once; each log is printed whole, one after another.
        let view = follow::print_log(client, id, true, true).await?;
        worst = worst.max(exit_number(&view, options.strict));
        views.push(view);
    }
    for view in &views {
        eprint!("{}", colour::for_stderr(render::queue_detail(view)));
    }
    Ok(ExitCode::from(worst))
}

/// `testarena junit ID`: the queue's merged JUnit report on stdout.
async fn junit(client: &ApiClient, id: &str) -> Result<ExitCode, ClientError> {
    print!("{}", client.junit(id).await?);
    Ok(ExitCode::SUCCESS)
}
