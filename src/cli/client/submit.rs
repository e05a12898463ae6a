//! `testarena submit FILE [--wait]`: usable as a CI step.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use testarena_events::QueueView;

use super::api_client::{ApiClient, ClientError, Submitted};
use super::{follow, render};

pub async fn run(
    client: &ApiClient,
    file: &Path,
    wait: bool,
    json: bool,
) -> Result<ExitCode, ClientError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| ClientError::Usage(format!("reading stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| ClientError::Usage(format!("reading {}: {e}", file.display())))?
    };
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("{} is not valid JSON: {e}", file.display())))?;
    let (id, note, view) = match client.submit(&body).await? {
        Submitted::View { view, existing } => {
            let note = if existing { " (already submitted)" } else { "" };
            (view.id.clone(), note, Some(view))
        }
        Submitted::Accepted { id } => (id, " (accepted; the view is catching up)", None),
    };
    eprintln!("queue {id}{note}: {}", client.dashboard_url(&id));
    if !wait {
        match view {
            Some(view) if json => println!(
                "{}",
                serde_json::to_string_pretty(&view).unwrap_or_default()
            ),
            _ => println!("{id}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let view = follow::print_log(client, &id, true, true).await?;
    eprint!("{}", render::queue_detail(&view));
    Ok(if passed(&view) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A queue passes when it finished and every task's result is PASS.
pub fn passed(view: &QueueView) -> bool {
    view.status == "Finished"
        && view
            .tasks
            .iter()
            .all(|t| t.result.as_deref() == Some("PASS"))
}
