//! The boards routes' decisions, pure: a board's state from its worker's
//! record and the boards view, who holds a reservation now, whether a
//! token may reserve, release, power or type into a board, and what a
//! reservation answer says about when the board is free.

use testarena_events::{BoardAdmission, BoardRecord, BoardState, BoardView, Label};
use testarena_views::StoredBoard;

use super::error::ApiError;

/// The longest reservation: a day.
pub(crate) const MAX_MINUTES: u32 = 1440;
/// The longest reservation reason, in characters.
pub(crate) const MAX_REASON_CHARS: usize = 200;

/// What `GET /api/boards` says a board is doing. The worker's word comes
/// first (it cannot run anything offline or quarantined), then the
/// reservation (a reserved board may still finish the queue it ran), then
/// the lease.
pub(crate) fn board_state(
    worker_live: bool,
    admission: BoardAdmission,
    reserved: bool,
    leased: bool,
) -> BoardState {
    match (worker_live, admission) {
        (false, _) | (_, BoardAdmission::Offline) => BoardState::Offline,
        (_, BoardAdmission::Quarantined) => BoardState::Quarantined,
        _ if reserved => BoardState::Reserved,
        _ if leased => BoardState::Busy,
        _ => BoardState::Idle,
    }
}

/// The reservation in force at `now_ms`: one whose end has passed is over
/// even before the scheduler records its expiry.
pub(crate) fn holder(stored: Option<&StoredBoard>, now_ms: u64) -> Option<&StoredBoard> {
    stored.filter(|s| s.reserved_by.is_some() && s.until_ms.is_some_and(|until| until > now_ms))
}

/// A board as the list shows it: its record and worker from the registry,
/// its lease and reservation from the view.
pub(crate) fn board_view(
    worker: &str,
    worker_labels: &[Label],
    worker_live: bool,
    record: &BoardRecord,
    stored: Option<&StoredBoard>,
    now_ms: u64,
) -> BoardView {
    let reservation = holder(stored, now_ms);
    let queue = stored.and_then(|s| s.queue.clone());
    let labels = record
        .labels
        .iter()
        .chain(worker_labels)
        .map(|l| l.as_str().to_owned())
        .collect();
    BoardView {
        worker: worker.to_owned(),
        name: record.name.to_string(),
        labels,
        state: board_state(
            worker_live,
            record.admission,
            reservation.is_some(),
            queue.is_some(),
        ),
        queue,
        reserved_by: reservation.and_then(|r| r.reserved_by.clone()),
        reserved_until: reservation.and_then(|r| r.reserved_until.clone()),
        reservation_reason: reservation.and_then(|r| r.reservation_reason.clone()),
        reason: record.reason.clone(),
        health: record.health.clone(),
    }
}

/// A reservation request's fields, checked: (minutes, trimmed reason).
pub(crate) fn checked_request(minutes: i64, reason: &str) -> Result<(u32, String), ApiError> {
    let minutes = u32::try_from(minutes)
        .ok()
        .filter(|m| (1..=MAX_MINUTES).contains(m))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "minutes",
                format!("{minutes} is not between 1 and {MAX_MINUTES} (a day)"),
            )
        })?;
    let trimmed = reason.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_REASON_CHARS {
        return Err(ApiError::invalid_field(
            "reason",
            format!("say why in 1 to {MAX_REASON_CHARS} characters (got {chars})"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "reason",
            "control characters are not allowed",
        ));
    }
    Ok((minutes, trimmed.to_owned()))
}

/// Whether `token` may reserve (or extend): the board is free or already
/// its own.
pub(crate) fn may_reserve(current: Option<&StoredBoard>, token: &str) -> Result<(), ApiError> {
    match current.and_then(|c| Some((c.reserved_by.as_deref()?, c))) {
        Some((by, c)) if by != token => Err(ApiError::conflict(format!(
            "{} is reserved by {by} until {}",
            c.board,
            c.reserved_until.as_deref().unwrap_or("?")
        ))),
        _ => Ok(()),
    }
}

/// Whether `token` holds the reservation, for a release or a power action
/// (`action` names it in the error): 409 when nobody holds it, 403 when
/// another token does.
pub(crate) fn must_hold(
    current: Option<&StoredBoard>,
    token: &str,
    board: &str,
    action: &str,
) -> Result<(), ApiError> {
    match current.and_then(|c| c.reserved_by.as_deref()) {
        None => Err(ApiError::conflict(format!(
            "{board} is not reserved by you: reserve it before you {action}"
        ))),
        Some(by) if by != token => Err(ApiError::forbidden(format!(
            "{board} is reserved by {by}: only they can {action}"
        ))),
        Some(_) => Ok(()),
    }
}

/// When a reserved board is the reserver's: at once when idle, else after
/// the queue that runs on it now (a reservation never stops a queue).
pub(crate) fn free_at(stored: Option<&StoredBoard>) -> Option<String> {
    stored
        .and_then(|s| s.queue.as_deref())
        .map(|queue| format!("after queue {queue}"))
}

/// Whether a console connection of `token` may type into the board.
pub(crate) fn may_type(current: Option<&StoredBoard>, token: &str) -> bool {
    current.and_then(|c| c.reserved_by.as_deref()) == Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::BoardName;

    fn stored(by: Option<&str>, until_ms: u64, queue: Option<&str>) -> StoredBoard {
        StoredBoard {
            worker: "w1".into(),
            board: "b1".into(),
            queue: queue.map(Into::into),
            reserved_by: by.map(Into::into),
            reserved_until: by.map(|_| "2026-12-07T16:00:00Z".into()),
            until_ms: by.map(|_| until_ms),
            reservation_reason: by.map(|_| "UART".into()),
            admission: "ready".into(),
            reason: None,
        }
    }

    #[test]
    fn state_is_offline_then_quarantined_then_reserved_then_busy_then_idle() {
        use BoardAdmission::*;
        assert_eq!(board_state(false, Ready, true, true), BoardState::Offline);
        assert_eq!(board_state(true, Offline, true, true), BoardState::Offline);
        assert_eq!(
            board_state(true, Quarantined, true, true),
            BoardState::Quarantined
        );
        assert_eq!(board_state(true, Ready, true, true), BoardState::Reserved);
        assert_eq!(board_state(true, Ready, false, true), BoardState::Busy);
        assert_eq!(board_state(true, Ready, false, false), BoardState::Idle);
    }

    #[test]
    fn a_reservation_past_its_end_holds_nothing() {
        let s = stored(Some("ada"), 1_000, None);
        assert!(holder(Some(&s), 999).is_some());
        assert!(holder(Some(&s), 1_000).is_none());
        assert!(holder(Some(&stored(None, 0, Some("q1"))), 0).is_none());
    }

    #[test]
    fn the_list_merges_labels_and_shows_the_reservation_only_while_it_holds() {
        let record = BoardRecord {
            name: BoardName::parse("b1").unwrap(),
            labels: vec![Label::parse("board=nucleo").unwrap()],
            admission: BoardAdmission::Ready,
            reason: None,
            health: None,
        };
        let worker_labels = [Label::parse("lab=a").unwrap()];
        let s = stored(Some("ada"), 5_000, Some("q7"));
        let view = board_view("w1", &worker_labels, true, &record, Some(&s), 1_000);
        assert_eq!(view.labels, ["board=nucleo", "lab=a"]);
        assert_eq!(view.state, BoardState::Reserved);
        assert_eq!(view.reserved_by.as_deref(), Some("ada"));
        assert_eq!(view.queue.as_deref(), Some("q7"));
        let later = board_view("w1", &worker_labels, true, &record, Some(&s), 6_000);
        assert_eq!((later.state, later.reserved_by), (BoardState::Busy, None));
    }

    #[test]
    fn a_request_needs_minutes_in_a_day_and_a_short_reason() {
        assert_eq!(checked_request(30, " UART ").unwrap(), (30, "UART".into()));
        assert!(checked_request(1440, "x").is_ok());
        for minutes in [0, -1, 1441, i64::MAX] {
            let e = checked_request(minutes, "x").unwrap_err();
            assert!(e.message().starts_with("minutes:"), "{}", e.message());
        }
        for reason in ["", "   ", &"x".repeat(201), "a\u{7}b"] {
            let e = checked_request(30, reason).unwrap_err();
            assert!(e.message().starts_with("reason:"), "{}", e.message());
        }
        assert!(checked_request(30, &"é".repeat(200)).is_ok());
    }

    #[test]
    fn only_the_holder_extends_releases_powers_and_types() {
        let s = stored(Some("ada"), 5_000, None);
        assert!(may_reserve(None, "bob").is_ok());
        assert!(may_reserve(Some(&s), "ada").is_ok());
        let taken = may_reserve(Some(&s), "bob").unwrap_err();
        assert!(matches!(taken, ApiError::Conflict(_)));
        assert!(taken
            .message()
            .contains("reserved by ada until 2026-12-07T16:00:00Z"));
        assert!(must_hold(Some(&s), "ada", "w1/b1", "release it").is_ok());
        assert!(matches!(
            must_hold(Some(&s), "bob", "w1/b1", "release it"),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            must_hold(None, "ada", "w1/b1", "power it"),
            Err(ApiError::Conflict(_))
        ));
        assert!(may_type(Some(&s), "ada"));
        assert!(!may_type(Some(&s), "bob"));
        assert!(!may_type(None, "ada"));
    }

    #[test]
    fn a_board_is_free_at_once_or_after_its_queue() {
        assert_eq!(free_at(None), None);
        assert_eq!(free_at(Some(&stored(Some("ada"), 5, None))), None);
        assert_eq!(
            free_at(Some(&stored(Some("ada"), 5, Some("q1")))).as_deref(),
            Some("after queue q1")
        );
    }
}
