//! The fleet's vocabulary: what a worker offers (`labels`, profiles, slots),
//! what a queue asks for (`requires`, `priority`, `owner`), and the record
//! a worker keeps in the registry bucket. The gateway, the worker and the
//! CLI share these types; `can_run` is the one rule of who may take what.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{string_newtype, IdError};
use crate::status::word_enum;
use crate::ProfileName;

/// At most this many labels on a worker.
pub const MAX_WORKER_LABELS: usize = 32;
/// At most this many labels a queue may require.
pub const MAX_REQUIRES: usize = 16;

/// A capability, `key=value`: `[A-Za-z0-9_.-]+=[A-Za-z0-9_.:/-]+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let bad = |reason: &str| IdError {
            what: "label",
            reason: format!("{value:?} {reason}"),
        };
        if value.len() > 128 {
            return Err(bad("is longer than 128 characters"));
        }
        let Some((key, val)) = value.split_once('=') else {
            return Err(bad("is not key=value"));
        };
        let key_ok = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
        let value_ok = |c: char| c.is_ascii_alphanumeric() || "_.:/-".contains(c);
        if key.is_empty() || !key.chars().all(key_ok) {
            return Err(bad("has a key outside [A-Za-z0-9_.-]+"));
        }
        if val.is_empty() || !val.chars().all(value_ok) {
            return Err(bad("has a value outside [A-Za-z0-9_.:/-]+"));
        }
        Ok(Self(value))
    }
}
string_newtype!(Label);

/// A waiting `high` queue starts before any `normal`, `normal` before `low`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        match value {
            "high" => Ok(Self::High),
            "normal" => Ok(Self::Normal),
            "low" => Ok(Self::Low),
            other => Err(IdError {
                what: "priority",
                reason: format!("{other:?} is not one of high, normal, low"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }

    pub fn is_normal(&self) -> bool {
        *self == Self::Normal
    }
}
word_enum!(Priority);

/// Who a queue is for, the unit of fair share: 1–64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Owner(String);

impl Owner {
    pub const ANONYMOUS: &'static str = "anonymous";

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let bad = |reason: String| IdError {
            what: "owner",
            reason,
        };
        if value.is_empty() || value.len() > 64 {
            return Err(bad(format!(
                "must be 1 to 64 characters, not {}",
                value.len()
            )));
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("must not contain spaces or control characters".into()));
        }
        Ok(Self(value))
    }

    pub fn anonymous() -> Self {
        Self(Self::ANONYMOUS.into())
    }
}
string_newtype!(Owner);

/// Whether a worker takes queues of one of its profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileAdmission {
    Ready,
    Draining,
    Quarantined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileState {
    pub state: ProfileAdmission,
    /// Why it is quarantined (the last infrastructure failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a worker keeps under its id in the registry bucket, put on every
/// heartbeat and whenever it changes, and once more with `left_ms` when it
/// stops cleanly: a tombstone, kept as long as any other record, so the
/// submit-time check still knows what the worker offers while it restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// A subject token: the worker's dispatch subject ends with it.
    pub id: String,
    pub host: String,
    pub version: String,
    pub profiles: Vec<ProfileName>,
    /// The profile it runs for a queue that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<ProfileName>,
    pub labels: Vec<Label>,
    pub slots: u32,
    pub busy: u32,
    /// Per profile: `ready`, `draining` or `quarantined`.
    pub state: BTreeMap<ProfileName, ProfileState>,
    /// Milliseconds since the Unix epoch of the put.
    pub last_seen_ms: u64,
    /// How often it heartbeats; silent for 3 of these, it is gone.
    pub heartbeat_ms: u64,
    /// Milliseconds since the Unix epoch when it stopped cleanly (then
    /// also its `last_seen_ms`); absent while it runs. Optional on the
    /// wire: a record of an older worker has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_ms: Option<u64>,
    /// Its `[boards.<name>]`, each with its labels and whether it can take
    /// a queue now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boards: Vec<crate::BoardRecord>,
    /// Its profiles with `board = true`: a queue of one runs on a board
    /// the scheduler leases it, one queue per board; `slots` counts only
    /// the other profiles' queues.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub board_profiles: Vec<ProfileName>,
}

impl WorkerRecord {
    /// Whether this worker, alive, could run a queue of `profile` (`None`:
    /// its default) that requires `requires`, ignoring its free slots and
    /// whether the profile is admitted right now.
    pub fn offers(&self, profile: Option<&ProfileName>, requires: &[Label]) -> bool {
        let Some(profile) = profile.or(self.default_profile.as_ref()) else {
            return false;
        };
        if !self.profiles.contains(profile) {
            return false;
        }
        if self.runs_on_boards(profile) {
            return self
                .boards
                .iter()
                .any(|b| b.satisfies(&self.labels, requires));
        }
        requires.iter().all(|r| self.labels.contains(r))
    }

    /// Whether a queue of `profile` here runs on one of its boards.
    pub fn runs_on_boards(&self, profile: &ProfileName) -> bool {
        self.board_profiles.contains(profile)
    }

    /// Its boards that could run a queue requiring `requires` and can take
    /// one now (ready), leased or not.
    pub fn boards_for<'a>(
        &'a self,
        requires: &'a [Label],
    ) -> impl Iterator<Item = &'a crate::BoardRecord> + 'a {
        self.boards.iter().filter(move |b| {
            b.admission == crate::BoardAdmission::Ready && b.satisfies(&self.labels, requires)
        })
    }

    /// `offers`, and the profile is taking queues now.
    pub fn admits(&self, profile: Option<&ProfileName>, requires: &[Label]) -> bool {
        let Some(profile) = profile.or(self.default_profile.as_ref()) else {
            return false;
        };
        let boards_ready =
            !self.runs_on_boards(profile) || self.boards_for(requires).next().is_some();
        self.offers(Some(profile), requires)
            && boards_ready
            && self
                .state
                .get(profile)
                .is_none_or(|s| s.state == ProfileAdmission::Ready)
    }

    /// Alive: heard from within three heartbeats, and not stopped.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.left_ms.is_none()
            && now_ms.saturating_sub(self.last_seen_ms) <= self.heartbeat_ms.saturating_mul(3)
    }

    /// Heard from (or stopped) within `memory`: what the submit-time check
    /// counts and `GET /api/workers` lists.
    pub fn is_remembered(&self, now_ms: u64, memory: std::time::Duration) -> bool {
        let memory_ms = u64::try_from(memory.as_millis()).unwrap_or(u64::MAX);
        now_ms.saturating_sub(self.last_seen_ms) <= memory_ms
    }

    /// The tombstone a worker puts when it stops cleanly: nothing busy,
    /// last seen now, never live again.
    pub fn leaving(mut self, now_ms: u64) -> Self {
        self.busy = 0;
        self.last_seen_ms = now_ms;
        self.left_ms = Some(now_ms);
        self
    }
}

/// Checks a list of labels: each valid, no more than `max`, no duplicates.
/// `what` names the field in errors (`requires`, `labels`).
pub fn parse_labels(
    what: &'static str,
    values: &[String],
    max: usize,
) -> Result<Vec<Label>, IdError> {
    if values.len() > max {
        return Err(IdError {
            what,
            reason: format!("has {} labels; at most {max} are allowed", values.len()),
        });
    }
    let mut labels: Vec<Label> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let label = Label::parse(value.clone()).map_err(|e| IdError {
            what,
            reason: format!("[{i}]: {}", e.reason),
        })?;
        if labels.contains(&label) {
            return Err(IdError {
                what,
                reason: format!("[{i}]: {label} is listed twice"),
            });
        }
        labels.push(label);
    }
    labels.sort();
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(values: &[&str]) -> Vec<Label> {
        values.iter().map(|v| Label::parse(*v).unwrap()).collect()
    }

    fn worker(profiles: &[&str], with: &[&str]) -> WorkerRecord {
        WorkerRecord {
            id: "w1".into(),
            host: "h".into(),
            version: "0".into(),
            profiles: profiles
                .iter()
                .map(|p| ProfileName::parse(*p).unwrap())
                .collect(),
            default_profile: profiles.first().map(|p| ProfileName::parse(*p).unwrap()),
            labels: labels(with),
            slots: 1,
            busy: 0,
            state: BTreeMap::new(),
            last_seen_ms: 10_000,
            heartbeat_ms: 1_000,
            left_ms: None,
            boards: Vec::new(),
            board_profiles: Vec::new(),
        }
    }

    #[test]
    fn labels_are_key_value_with_the_documented_characters() {
        assert!(Label::parse("board=mps2-an385").is_ok());
        assert!(Label::parse("fixture=uart:/dev/ttyUSB0").is_ok());
        for bad in ["board", "=x", "board=", "bo ard=x", "board=a b", "a=b=c"] {
            assert!(Label::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_label_list_names_the_bad_entry() {
        let err = parse_labels("requires", &["a=1".into(), "nope".into()], 16).unwrap_err();
        assert_eq!(err.what, "requires");
        assert!(err.reason.starts_with("[1]"), "{}", err.reason);
        let many: Vec<String> = (0..17).map(|i| format!("k{i}=v")).collect();
        assert!(parse_labels("requires", &many, 16).is_err());
        assert!(parse_labels("requires", &["a=1".into(), "a=1".into()], 16).is_err());
    }

    #[test]
    fn a_worker_runs_a_queue_when_it_has_the_profile_and_every_label() {
        let w = worker(&["qemu-arm"], &["board=x", "fixture=uart"]);
        let qemu = ProfileName::parse("qemu-arm").unwrap();
        let other = ProfileName::parse("esp").unwrap();
        assert!(w.offers(Some(&qemu), &labels(&["board=x"])));
        assert!(w.offers(None, &[]));
        assert!(!w.offers(Some(&other), &[]));
        assert!(!w.offers(Some(&qemu), &labels(&["board=y"])));
    }

    #[test]
    fn a_quarantined_profile_is_offered_but_not_admitted() {
        let mut w = worker(&["qemu-arm"], &[]);
        let qemu = ProfileName::parse("qemu-arm").unwrap();
        w.state.insert(
            qemu.clone(),
            ProfileState {
                state: ProfileAdmission::Quarantined,
                reason: Some("boot failed 3 times".into()),
            },
        );
        assert!(w.offers(Some(&qemu), &[]));
        assert!(!w.admits(Some(&qemu), &[]));
        assert!(!w.admits(None, &[]));
    }

    #[test]
    fn a_worker_is_gone_after_three_silent_heartbeats() {
        let w = worker(&["p"], &[]);
        assert!(w.is_live(13_000));
        assert!(!w.is_live(13_001));
    }

    #[test]
    fn a_worker_that_left_is_gone_at_once() {
        let w = worker(&["p"], &[]).leaving(12_000);
        assert!(!w.is_live(12_000));
        assert_eq!(w.last_seen_ms, 12_000);
        assert_eq!(WorkerView::of(&w, 12_000).presence, Presence::Offline);
        assert_eq!(
            WorkerView::of(&w, 12_000).left.as_deref(),
            Some("1970-01-01T00:00:12Z")
        );
    }

    #[test]
    fn a_record_without_left_ms_parses_and_a_running_one_writes_none() {
        let old = r#"{"id":"w1","host":"h","version":"0","profiles":["p"],"labels":[],
            "slots":1,"busy":0,"state":{},"last_seen_ms":5,"heartbeat_ms":1000}"#;
        let record: WorkerRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.left_ms, None);
        assert!(record.is_live(5));
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains("left_ms"), "{json}");
    }

    #[test]
    fn priorities_sort_high_first() {
        let mut p = vec![Priority::Low, Priority::High, Priority::Normal];
        p.sort();
        assert_eq!(p, vec![Priority::High, Priority::Normal, Priority::Low]);
    }
}

/// A worker as `GET /api/workers` and `testarena workers` show it: the
/// registry record with plain strings and a readable `last_seen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct WorkerView {
    pub id: String,
    pub host: String,
    pub version: String,
    pub profiles: Vec<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub default_profile: Option<String>,
    pub labels: Vec<String>,
    pub slots: u32,
    pub busy: u32,
    /// Per profile: `ready`, `draining` or `quarantined`, with the reason.
    pub state: BTreeMap<String, ProfileStateView>,
    /// RFC 3339, UTC: its last heartbeat (for one that left, when it left).
    pub last_seen: String,
    /// `live`, or `offline`: stopped cleanly (`left` says when) or silent
    /// for three heartbeats (killed, cut off; `left` is null).
    #[serde(default)]
    pub presence: Presence,
    /// RFC 3339, UTC: when it stopped cleanly; null otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub left: Option<String>,
    /// The queues (or shards) it runs now, from the views.
    #[serde(default)]
    pub running: Vec<crate::RunningQueue>,
    /// Its latest state changes, newest first: drained, quarantined,
    /// readmitted, offline, with who and when (the events stream's record).
    #[serde(default)]
    pub changes: Vec<crate::WorkerChange>,
}

/// Whether a worker listed by `GET /api/workers` runs now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum Presence {
    /// Heard from within three heartbeats. The default: a page of an
    /// older gateway listed only live workers.
    #[default]
    Live,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ProfileStateView {
    /// `ready`, `draining` or `quarantined`.
    pub state: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reason: Option<String>,
}

impl WorkerView {
    /// The record as the API shows it at `now_ms`.
    pub fn of(record: &WorkerRecord, now_ms: u64) -> Self {
        let state = record
            .profiles
            .iter()
            .map(|profile| {
                let view = match record.state.get(profile) {
                    Some(s) => ProfileStateView {
                        state: s.state.as_str().to_owned(),
                        reason: s.reason.clone(),
                    },
                    None => ProfileStateView {
                        state: ProfileAdmission::Ready.as_str().to_owned(),
                        reason: None,
                    },
                };
                (profile.to_string(), view)
            })
            .collect();
        Self {
            id: record.id.clone(),
            host: record.host.clone(),
            version: record.version.clone(),
            profiles: record.profiles.iter().map(ToString::to_string).collect(),
            default_profile: record.default_profile.as_ref().map(ToString::to_string),
            labels: record.labels.iter().map(ToString::to_string).collect(),
            slots: record.slots,
            busy: record.busy,
            state,
            last_seen: crate::timestamp::rfc3339_of_millis(record.last_seen_ms),
            presence: if record.is_live(now_ms) {
                Presence::Live
            } else {
                Presence::Offline
            },
            left: record.left_ms.map(crate::timestamp::rfc3339_of_millis),
            running: Vec::new(),
            changes: Vec::new(),
        }
    }
}

impl ProfileAdmission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Draining => "draining",
            Self::Quarantined => "quarantined",
        }
    }
}

/// The body of a `readmit` request to a worker (`<prefix>.fleet.<id>.readmit`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ReadmitRequest {
    pub profile: String,
}

/// A worker's answer to a drain or readmit: whether it was done, in words.
#[derive(Debug, Serialize, Deserialize)]
pub struct OperatorReply {
    pub ok: bool,
    pub message: String,
}
