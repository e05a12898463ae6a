//! Pure: which queues (or shards) each worker runs now, read from the
//! views of the running queues, for `GET /api/workers` and the Workers
//! page. The view, not the registry, says it: a worker's record counts
//! only its busy slots, the events say which queue holds each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::QueueView;

/// A queue, or one shard of it, that a worker runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct RunningQueue {
    pub id: String,
    /// The shard it runs of a sharded queue; null for an unsharded one.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub shard: Option<u8>,
    /// Null: the worker's default profile.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub profile: Option<String>,
    /// RFC 3339, UTC: when the queue started.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub started_at: Option<String>,
}

/// Per worker id, what it runs now among `views` (only `Running` queues
/// count; a sharded queue counts once per running shard), by queue id.
pub fn running_by_worker(views: &[QueueView]) -> BTreeMap<String, Vec<RunningQueue>> {
    let mut by_worker: BTreeMap<String, Vec<RunningQueue>> = BTreeMap::new();
    for view in views
        .iter()
        .filter(|v| v.status == crate::QueueStatus::Running)
    {
        let entry = |shard: Option<u8>| RunningQueue {
            id: view.id.clone(),
            shard,
            profile: view.profile.clone(),
            started_at: view.started_at.clone(),
        };
        if view.shards.is_empty() {
            if let Some(worker) = &view.worker {
                by_worker
                    .entry(worker.clone())
                    .or_default()
                    .push(entry(None));
            }
            continue;
        }
        for shard in view.shards.iter().filter(|s| s.status == "running") {
            if let Some(worker) = &shard.worker {
                by_worker
                    .entry(worker.clone())
                    .or_default()
                    .push(entry(Some(shard.shard)));
            }
        }
    }
    for queues in by_worker.values_mut() {
        queues.sort_by(|a, b| a.id.cmp(&b.id).then(a.shard.cmp(&b.shard)));
    }
    by_worker
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, status: &str, worker: Option<&str>, shards: serde_json::Value) -> QueueView {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": status, "source": {"repo": "/r", "ref": "main"},
            "commit": null, "profile": "qemu", "attempt": 1, "worker": worker,
            "submitted_at": "2026-01-01T00:00:00Z", "started_at": "2026-01-01T00:00:01Z",
            "finished_at": null, "reason": null, "cancel_requested": false,
            "counts": crate::Counts::default(), "stages": [], "tasks": [], "shards": shards
        }))
        .unwrap()
    }

    #[test]
    fn a_running_queue_counts_for_its_worker_and_each_running_shard_for_its_own() {
        let shard = |n: u8, status: &str, worker: &str| serde_json::json!({"shard": n, "status": status, "worker": worker, "attempt": 1});
        let views = [
            view("b", "Running", Some("w1"), serde_json::json!([])),
            view("done", "Finished", Some("w1"), serde_json::json!([])),
            view(
                "a",
                "Running",
                None,
                serde_json::json!([
                    shard(0, "running", "w1"),
                    shard(1, "running", "w2"),
                    shard(2, "finished", "w2")
                ]),
            ),
        ];
        let running = running_by_worker(&views);
        let ids = |w: &str| -> Vec<(String, Option<u8>)> {
            running[w].iter().map(|q| (q.id.clone(), q.shard)).collect()
        };
        assert_eq!(ids("w1"), vec![("a".into(), Some(0)), ("b".into(), None)]);
        assert_eq!(ids("w2"), vec![("a".into(), Some(1))]);
        assert_eq!(running["w1"][1].profile.as_deref(), Some("qemu"));
    }
}
