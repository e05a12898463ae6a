//! `testarena workers`: the live workers as a table (or the API's JSON).

use std::process::ExitCode;

use testarena_events::WorkerView;
use time::OffsetDateTime;

use super::api_client::{ApiClient, ClientError};
use super::{render, when};

pub async fn run(client: &ApiClient, json: bool) -> Result<ExitCode, ClientError> {
    let page = client.workers().await?;
    if json {
        let value = serde_json::json!({ "workers": page.workers });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print!(
            "{}",
            workers_table(&page.workers, OffsetDateTime::now_utc())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per worker; a profile not `ready` shows with its state.
pub fn workers_table(workers: &[WorkerView], now: OffsetDateTime) -> String {
    if workers.is_empty() {
        return "no live workers\n".to_owned();
    }
    let header = ["ID", "HOST", "PROFILES", "LABELS", "BUSY", "LAST SEEN"];
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            let profiles: Vec<String> = w
                .profiles
                .iter()
                .map(|p| match w.state.get(p).map(|s| s.state.as_str()) {
                    Some("ready") | None => p.clone(),
                    Some(state) => format!("{p} ({state})"),
                })
                .collect();
            let seen = when::parse(&w.last_seen).map_or_else(|| "-".into(), |t| when::age(t, now));
            vec![
                w.id.clone(),
                w.host.clone(),
                profiles.join(", "),
                if w.labels.is_empty() {
                    "-".into()
                } else {
                    w.labels.join(", ")
                },
                format!("{}/{}", w.busy, w.slots),
                seen,
            ]
        })
        .collect();
    render::table(&header, &rows, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use testarena_events::ProfileStateView;

    #[test]
    fn a_table_row_per_worker_with_states_that_are_not_ready() {
        let mut state = BTreeMap::new();
        state.insert(
            "qemu-arm".to_owned(),
            ProfileStateView {
                state: "draining".into(),
                reason: None,
            },
        );
        let worker = WorkerView {
            id: "rack1".into(),
            host: "lab1".into(),
            version: "0.1.0".into(),
            profiles: vec!["qemu-arm".into(), "sh".into()],
            default_profile: Some("sh".into()),
            labels: vec!["board=mps2-an385".into()],
            slots: 2,
            busy: 1,
            state,
            last_seen: "2026-01-01T00:00:00Z".into(),
        };
        let now = when::parse("2026-01-01T00:02:00Z").unwrap();
        let table = workers_table(&[worker], now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "ID     HOST  PROFILES                 LABELS            BUSY  LAST SEEN"
        );
        assert_eq!(
            lines[1],
            "rack1  lab1  qemu-arm (draining), sh  board=mps2-an385  1/2   2 min ago"
        );
        assert_eq!(workers_table(&[], now), "no live workers\n");
    }
}
