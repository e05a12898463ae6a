//! The submit-time check, pure: can any worker seen lately run this queue?
//! A queue no remembered worker could take would wait forever, so it is
//! refused with what is missing and what exists; with no worker
//! remembered at all (a fresh lab) every queue is accepted and waits.
//! A worker that stopped cleanly left its tombstone (`left_ms`, last seen
//! then): it is remembered as a killed one is, so a restart refuses nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::{Label, ProfileName, WorkerRecord};

/// Why no remembered worker can run a queue: the field at fault and the
/// message.
#[derive(Debug, PartialEq, Eq)]
pub struct Unroutable {
    pub field: &'static str,
    pub message: String,
}

pub fn check_routable(
    workers: &[WorkerRecord],
    now_ms: u64,
    memory: Duration,
    profile: Option<&ProfileName>,
    requires: &[Label],
) -> Result<(), Unroutable> {
    let remembered: Vec<&WorkerRecord> = workers
        .iter()
        .filter(|w| w.is_remembered(now_ms, memory))
        .collect();
    if remembered.is_empty() || remembered.iter().any(|w| w.offers(profile, requires)) {
        return Ok(());
    }
    let has_profile = remembered.iter().any(|w| w.offers(profile, &[]));
    let hours = memory.as_secs() / 3600;
    Err(Unroutable {
        field: if has_profile { "requires" } else { "profile" },
        message: format!(
            "no worker seen in the last {hours} h has {}; workers offer: {}",
            describe_needs(profile, requires),
            offered(&remembered)
        ),
    })
}

/// "profile a with board=x, fixture=y; profile b" — each distinct offer once.
fn offered(workers: &[&WorkerRecord]) -> String {
    let offers: BTreeSet<String> = workers
        .iter()
        .flat_map(|w| {
            let labels: Vec<String> = w.labels.iter().map(ToString::to_string).collect();
            w.profiles.iter().map(move |p| {
                if labels.is_empty() {
                    format!("profile {p}")
                } else {
                    format!("profile {p} with {}", labels.join(", "))
                }
            })
        })
        .collect();
    offers.into_iter().collect::<Vec<_>>().join("; ")
}

/// "profile qemu-arm and board=x" (or "its default profile").
pub fn describe_needs(profile: Option<&ProfileName>, requires: &[Label]) -> String {
    let mut needs = vec![match profile {
        Some(p) => format!("profile {p}"),
        None => "a default profile".to_owned(),
    }];
    needs.extend(requires.iter().map(ToString::to_string));
    needs.join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: u64 = 3_600_000;

    fn worker(profile: &str, labels: &[&str], last_seen_ms: u64) -> WorkerRecord {
        WorkerRecord {
            id: "w".into(),
            host: "h".into(),
            version: "0".into(),
            profiles: vec![ProfileName::parse(profile).unwrap()],
            default_profile: Some(ProfileName::parse(profile).unwrap()),
            labels: labels.iter().map(|l| Label::parse(*l).unwrap()).collect(),
            slots: 1,
            busy: 0,
            state: Default::default(),
            last_seen_ms,
            heartbeat_ms: 1000,
            left_ms: None,
            boards: Vec::new(),
            board_profiles: Vec::new(),
        }
    }

    fn profile(name: &str) -> ProfileName {
        ProfileName::parse(name).unwrap()
    }

    #[test]
    fn an_empty_registry_accepts_anything() {
        let day = Duration::from_secs(24 * 3600);
        assert!(check_routable(&[], 100 * HOUR_MS, day, Some(&profile("x")), &[]).is_ok());
    }

    #[test]
    fn a_missing_profile_or_label_is_named_with_what_exists() {
        let day = Duration::from_secs(24 * 3600);
        let now = 100 * HOUR_MS;
        let fleet = [worker("qemu-arm", &["board=a"], now - HOUR_MS)];
        let err = check_routable(&fleet, now, day, Some(&profile("esp32")), &[]).unwrap_err();
        assert_eq!(err.field, "profile");
        assert_eq!(
            err.message,
            "no worker seen in the last 24 h has profile esp32; workers offer: profile qemu-arm with board=a"
        );
        let board_b = [Label::parse("board=b").unwrap()];
        let err =
            check_routable(&fleet, now, day, Some(&profile("qemu-arm")), &board_b).unwrap_err();
        assert_eq!(err.field, "requires");
        assert!(
            err.message.contains("profile qemu-arm and board=b"),
            "{}",
            err.message
        );
        assert!(check_routable(&fleet, now, day, Some(&profile("qemu-arm")), &[]).is_ok());
    }

    #[test]
    fn a_worker_that_stopped_cleanly_is_remembered_like_a_killed_one() {
        let day = Duration::from_secs(24 * 3600);
        let now = 100 * HOUR_MS;
        let fleet = [
            worker("qemu-arm", &[], now),
            worker("qemu-arm", &["board=a"], now - 23 * HOUR_MS).leaving(now - 23 * HOUR_MS),
        ];
        let board_a = [Label::parse("board=a").unwrap()];
        assert!(check_routable(&fleet, now, day, None, &board_a).is_ok());
        let later = now + 2 * HOUR_MS;
        let err = check_routable(&fleet, later, day, None, &board_a).unwrap_err();
        assert_eq!(err.field, "requires");
    }

    #[test]
    fn workers_older_than_the_memory_are_forgotten() {
        let day = Duration::from_secs(24 * 3600);
        let now = 100 * HOUR_MS;
        let fleet = [worker("qemu-arm", &[], now - 25 * HOUR_MS)];
        assert!(check_routable(&fleet, now, day, Some(&profile("esp32")), &[]).is_ok());
    }
}
