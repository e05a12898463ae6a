//! `testarena list`: newest queues first, as a table for people (ages,
//! local times) or as the API's JSON for scripts.

use std::process::ExitCode;

use testarena_events::{BisectSteps, QueueStatus};
use time::OffsetDateTime;

use super::api_client::{ApiClient, ClientError, ListFrom};
use super::when::TimeStyle;
use super::{colour, render};

/// What `list` prints.
pub struct ListOptions {
    pub status: Option<String>,
    /// `--cursor`: after the page that printed it.
    pub cursor: Option<String>,
    /// `--page`: the n-th page.
    pub page: Option<u32>,
    pub per_page: u32,
    /// Bisect step queues too (the API leaves them out by default).
    pub bisect_steps: bool,
    pub json: bool,
    pub style: TimeStyle,
}

pub async fn run(client: &ApiClient, options: ListOptions) -> Result<ExitCode, ClientError> {
    let status = options
        .status
        .as_deref()
        .map(canonical_status)
        .transpose()?;
    let mut filter: Vec<(&str, &str)> =
        status.map(|s| ("status", s.as_str())).into_iter().collect();
    if options.bisect_steps {
        filter.push(("bisect", BisectSteps::Include.as_str()));
    }
    let from = match (&options.cursor, options.page) {
        (Some(cursor), _) => ListFrom::Cursor(cursor),
        (None, Some(page)) => ListFrom::Page(page),
        (None, None) => ListFrom::First,
    };
    let page = client.list(&filter, from, options.per_page).await?;
    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&page).unwrap_or_default()
        );
    } else {
        let table = render::queue_table(&page, OffsetDateTime::now_utc(), options.style);
        print!("{}", colour::for_stdout(table));
    }
    Ok(ExitCode::SUCCESS)
}

/// A status in any case (`finished`, `RUNNING`) → the API's spelling.
pub fn canonical_status(word: &str) -> Result<QueueStatus, ClientError> {
    QueueStatus::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(word.trim()))
        .ok_or_else(|| {
            let all: Vec<&str> = QueueStatus::ALL.iter().map(|s| s.as_str()).collect();
            ClientError::Usage(format!(
                "unknown status {word:?}: one of {} (any case)",
                all.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_in_any_case_is_understood() {
        assert_eq!(canonical_status("finished").unwrap(), QueueStatus::Finished);
        assert_eq!(canonical_status(" RUNNING ").unwrap(), QueueStatus::Running);
        let unknown = canonical_status("done").unwrap_err().to_string();
        assert!(unknown.contains("one of Waiting, Running"), "{unknown}");
    }
}
