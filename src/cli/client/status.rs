//! `testarena status ID`: one queue for people (its detail) or the API's
//! JSON; exits as `submit --wait` would on the same view.

use std::process::ExitCode;

use super::api_client::{ApiClient, ClientError};
use super::{colour, render, submit};

pub async fn run(
    client: &ApiClient,
    id: &str,
    json: bool,
    strict: bool,
) -> Result<ExitCode, ClientError> {
    let view = client.queue(id).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&view).unwrap_or_default()
        );
    } else {
        print!("{}", colour::for_stdout(render::queue_detail(&view)));
    }
    Ok(submit::exit_code(&view, strict))
}
