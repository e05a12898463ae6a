//! Whether each task's scenario is in the checked-out commit. A profile
//! whose scenarios are files (`scenario_kind = "file"`, the default) has
//! them checked once, right after checkout and before build and boot: a
//! missing one makes that task `ERROR` naming it and the commit (a typo, a
//! file not pushed), never a failure of the firmware, and the other tasks
//! still run. A profile whose scenarios are names (`scenario_kind =
//! "name"`: a test program, `pytest -k {scenario}`) is never checked: the
//! command's result decides, so a real failure stays `FAIL`.

use std::collections::HashMap;

use testarena_events::{ScenarioPath, TaskId, TaskSpec};

use crate::profile::ScenarioKind;

/// The tasks whose scenario file is missing, each with the message its
/// `ERROR` carries. Pure: `exists` answers for a path in the checkout.
pub(crate) fn missing_scenarios(
    kind: ScenarioKind,
    tasks: &[TaskSpec],
    commit: &str,
    exists: impl Fn(&ScenarioPath) -> bool,
) -> HashMap<TaskId, String> {
    if kind == ScenarioKind::Name {
        return HashMap::new();
    }
    tasks
        .iter()
        .filter(|task| !exists(&task.scenario))
        .map(|task| {
            let message = format!("scenario {} not found at {commit}", task.scenario);
            (task.id.clone(), message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, scenario: &str) -> TaskSpec {
        TaskSpec {
            id: TaskId::parse(id).unwrap(),
            scenario: ScenarioPath::parse(scenario).unwrap(),
            timeout_s: None,
            retries: None,
        }
    }

    #[test]
    fn a_missing_file_is_named_with_the_commit_and_only_for_file_profiles() {
        let tasks = [task("a", "a.sh"), task("x", "scenarios/x.scn")];
        let exists = |p: &ScenarioPath| p.as_str() == "a.sh";
        let missing = missing_scenarios(ScenarioKind::File, &tasks, "abc123", exists);
        assert_eq!(missing.len(), 1);
        assert_eq!(
            missing[&TaskId::parse("x").unwrap()],
            "scenario scenarios/x.scn not found at abc123"
        );
        let named = missing_scenarios(ScenarioKind::Name, &tasks, "abc123", |_| false);
        assert!(named.is_empty(), "a name is never looked for as a file");
    }
}
