//! An example body for every request of the OpenAPI document, so Swagger's
//! "Try it out" starts from something that runs: the example firmware's
//! queue (`examples/qemu-arm/queue.json`) against the repository
//! `scripts/demo` makes at `<data-dir>/example-repo`, and requests about
//! that queue and its tests. Pure: the document adds them (document.rs).

use serde_json::{json, Value};

/// The example queue as the repository ships it; its `source.repo` is a
/// placeholder that [`examples`] fills in.
const EXAMPLE_QUEUE: &str = include_str!("../../../../examples/qemu-arm/queue.json");

/// (path as the document writes it, method, example body) for each request
/// that has a body; `repo` is where the example repository is.
pub(crate) fn examples(repo: &str) -> Vec<(&'static str, &'static str, Value)> {
    let mut queue: Value = serde_json::from_str(EXAMPLE_QUEUE).unwrap_or_else(|_| json!({}));
    queue["source"]["repo"] = json!(repo);
    let test = json!({
        "repo": repo, "profile": "qemu-arm", "task": "fault",
        "case": "fault.still answers after fault",
    });
    let mut quarantine = test.clone();
    quarantine["reason"] = json!("the fault scenario halts the firmware on purpose");
    vec![
        ("/api/queue", "post", queue),
        (
            "/api/queue/{id}/rerun",
            "post",
            json!({"failed_only": true}),
        ),
        (
            "/api/bisect",
            "post",
            json!({
                "source": {"repo": repo}, "bad": "main", "profile": "qemu-arm",
                "tasks": [{"id": "fault", "scenario": "scenarios/fault.scn", "timeout_s": 30}],
                "case": "fault.fault is reported", "runs_per_step": 1,
            }),
        ),
        ("/api/tests/quarantine", "post", quarantine),
        ("/api/tests/quarantine", "delete", test),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_queue_is_the_repositorys_against_the_given_repo() {
        let examples = examples("/srv/testarena-data/example-repo");
        let (_, _, queue) = &examples[0];
        assert_eq!(queue["source"]["repo"], "/srv/testarena-data/example-repo");
        assert_eq!(queue["profile"], "qemu-arm");
        assert_eq!(queue["tasks"].as_array().map(Vec::len), Some(4));
    }
}
