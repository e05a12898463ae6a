//! `testarena workers`: the workers seen lately, live or offline, as a
//! table (or the API's JSON).

use std::process::ExitCode;

use testarena_events::{Presence, WorkerView};
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

/// One row per worker; a profile not `ready` shows with its state, a
/// worker not running as `offline` (`left` when it stopped cleanly).
pub fn workers_table(workers: &[WorkerView], now: OffsetDateTime) -> String {
    if workers.is_empty() {
        return "no workers seen lately\n".to_owned();
    }
    let header = [
        "ID",
        "HOST",
        "PROFILES",
        "LABELS",
        "BUSY",
        "STATE",
        "LAST SEEN",
    ];
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
            let age = |at: &str| when::parse(at).map_or_else(|| "-".into(), |t| when::age(t, now));
            let state = match (w.presence, &w.left) {
                (Presence::Live, _) => "live".to_owned(),
                (Presence::Offline, Some(left)) => format!("offline, left {}", age(left)),
                (Presence::Offline, None) => "offline".to_owned(),
            };
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
                state,
                age(&w.last_seen),
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
            presence: Presence::Live,
            left: None,
            running: Vec::new(),
            changes: Vec::new(),
        };
        let upgrading = WorkerView {
            id: "rack2".into(),
            presence: Presence::Offline,
            left: Some("2026-01-01T00:01:00Z".into()),
            last_seen: "2026-01-01T00:01:00Z".into(),
            state: BTreeMap::new(),
            busy: 0,
            ..worker.clone()
        };
        let now = when::parse("2026-01-01T00:02:00Z").unwrap();
        let table = workers_table(&[worker, upgrading], now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "ID     HOST  PROFILES                 LABELS            BUSY  STATE                    LAST SEEN"
        );
        assert_eq!(
            lines[1],
            "rack1  lab1  qemu-arm (draining), sh  board=mps2-an385  1/2   live                     2 min ago"
        );
        assert_eq!(
            lines[2],
            "rack2  lab1  qemu-arm, sh             board=mps2-an385  0/2   offline, left 1 min ago  1 min ago"
        );
        assert_eq!(workers_table(&[], now), "no workers seen lately\n");
    }
}
