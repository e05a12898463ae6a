//! `testarena delete ID`: deletes a queue, its log and folder, and says so.

use std::process::ExitCode;

use super::api_client::{ApiClient, ClientError};

pub async fn run(client: &ApiClient, id: &str) -> Result<ExitCode, ClientError> {
    client.delete(id).await?;
    println!("{id}: deleted");
    Ok(ExitCode::SUCCESS)
}
