//! Boards: the real (or simulated) hardware a worker declares in its
//! `[boards.<name>]` tables. The worker says in its registry record which
//! boards it has and whether each can take a queue (`BoardRecord`); the
//! scheduler leases a free one to each queue of a board profile; the API
//! shows each board with its lease and reservation (`BoardView`).

use serde::{Deserialize, Serialize};

use crate::{BoardName, Label};

/// Whether a board can take a queue, as its worker sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum BoardAdmission {
    #[default]
    Ready,
    /// `quarantine_after` boots in a row failed; its `health` command
    /// re-admits it.
    Quarantined,
    /// Its serial port cannot be opened.
    Offline,
}

/// The last run of a board's `health` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct HealthResult {
    /// RFC 3339, UTC.
    pub at: String,
    /// The command exited 0.
    pub ok: bool,
    /// Its exit and the tail of its output.
    pub message: String,
}

/// One board in its worker's registry record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRecord {
    pub name: BoardName,
    /// Its own labels; a run on it also has the worker's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub admission: BoardAdmission,
    /// Why it is quarantined or offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthResult>,
}

impl BoardRecord {
    /// Every label in `requires` is the board's or its worker's.
    pub fn satisfies(&self, worker_labels: &[Label], requires: &[Label]) -> bool {
        requires
            .iter()
            .all(|r| self.labels.contains(r) || worker_labels.contains(r))
    }
}

/// What a board is doing, as `GET /api/boards` says it. Offline and
/// quarantined (the worker's word) come before reserved, reserved before
/// busy: a reserved board may still finish the queue it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum BoardState {
    Idle,
    Busy,
    Reserved,
    Quarantined,
    Offline,
}

/// A power action on a board: its worker runs `power_on`, `power_off`, or
/// both in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum PowerAction {
    On,
    Off,
    Cycle,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Cycle => "cycle",
        }
    }
}

/// The gateway's request to a worker (`<prefix>.fleet.<worker>.power`):
/// run a power action on one of its boards. Answered with an
/// [`crate::OperatorReply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerRequest {
    pub board: BoardName,
    pub action: PowerAction,
}

/// The gateway's request to a worker (`<prefix>.fleet.<worker>.console`)
/// for what a board printed lately (its bounded ring), before it follows
/// `<prefix>.console.<worker>.<board>.out` live. The reply is the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleTailRequest {
    pub board: BoardName,
}

/// A board as `GET /api/boards` and `testarena boards` show it: its
/// worker's record (labels, admission, health) with the views' lease and
/// reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BoardView {
    pub worker: String,
    pub name: String,
    /// The board's labels and its worker's.
    pub labels: Vec<String>,
    pub state: BoardState,
    /// The queue leased to it now.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub queue: Option<String>,
    /// The API token's name that reserved it.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reserved_by: Option<String>,
    /// RFC 3339, UTC: when the reservation expires.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reserved_until: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reservation_reason: Option<String>,
    /// Why it is quarantined or offline.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub reason: Option<String>,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub health: Option<HealthResult>,
}

/// `GET /api/boards`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BoardsPage {
    pub boards: Vec<BoardView>,
}

/// One change of a board, from its events: what, who, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BoardChange {
    /// The event's kind: `leased`, `released`, `reserved`, `expired`,
    /// `power`, `quarantined`, `readmitted`, `offline`.
    pub kind: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The API token's name, the worker's id, or `scheduler`.
    pub by: String,
    /// The queue a lease or release was about.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub queue: Option<String>,
    /// A reason, a power action and its outcome, a reservation's end.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub detail: Option<String>,
}

/// One queue a board ran: from its lease to its release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BoardRun {
    pub queue: String,
    /// RFC 3339, UTC.
    pub leased: String,
    /// RFC 3339, UTC; null while it runs.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub released: Option<String>,
}

/// `GET /api/boards/{worker}/{board}/history`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BoardHistory {
    pub worker: String,
    pub name: String,
    pub runs: Vec<BoardRun>,
    pub changes: Vec<BoardChange>,
}

/// A queue's board, named as `<worker>/<board>` in the CLI and the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoardRef {
    pub worker: String,
    pub board: BoardName,
}

impl BoardRef {
    /// `worker/board`.
    pub fn parse(value: &str) -> Result<Self, crate::IdError> {
        let bad = || crate::IdError {
            what: "board",
            reason: format!("{value:?} is not <worker>/<board>"),
        };
        let (worker, board) = value.split_once('/').ok_or_else(bad)?;
        if worker.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            worker: worker.to_owned(),
            board: BoardName::parse(board)?,
        })
    }
}

impl std::fmt::Display for BoardRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.worker, self.board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(s: &str) -> Label {
        Label::parse(s).unwrap()
    }

    #[test]
    fn a_board_satisfies_with_its_labels_and_its_workers() {
        let board = BoardRecord {
            name: BoardName::parse("nucleo-1").unwrap(),
            labels: vec![label("board=nucleo-f429zi")],
            admission: BoardAdmission::Ready,
            reason: None,
            health: None,
        };
        let worker = [label("lab=a")];
        assert!(board.satisfies(&worker, &[label("board=nucleo-f429zi"), label("lab=a")]));
        assert!(!board.satisfies(&worker, &[label("board=esp32")]));
        assert!(board.satisfies(&[], &[]));
    }

    #[test]
    fn a_board_ref_is_worker_slash_board() {
        let r = BoardRef::parse("w1/nucleo-1").unwrap();
        assert_eq!((r.worker.as_str(), r.board.as_str()), ("w1", "nucleo-1"));
        assert_eq!(r.to_string(), "w1/nucleo-1");
        for bad in ["w1", "/b", "w1/", "w1/b.c"] {
            assert!(BoardRef::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
