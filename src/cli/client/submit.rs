//! `testarena submit FILE [--wait]`: usable as a CI step.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::api_client::{ApiClient, ClientError};
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
    let (status, view) = client.submit(&body).await?;
    let id = view["id"].as_str().unwrap_or_default().to_owned();
    let note = if status == 200 {
        " (already submitted)"
    } else {
        ""
    };
    eprintln!("queue {id}{note}: {}/api/queue/{id}", client.base());
    if !wait {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&view).unwrap_or_default()
            );
        } else {
            println!("{id}");
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
pub fn passed(view: &Value) -> bool {
    view["status"] == "Finished"
        && view["tasks"]
            .as_array()
            .is_some_and(|tasks| tasks.iter().all(|t| t["result"] == "PASS"))
}
