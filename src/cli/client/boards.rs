//! `testarena boards` (a table of every board, or the API's JSON),
//! `reserve`, `release` and `power`: one request each, the answer in
//! words. The console is `console.rs`.

use std::process::ExitCode;

use testarena_events::{BoardRef, BoardState, BoardView, PowerAction};

use super::api_client::{ApiClient, ClientError};
use super::render;

pub async fn list(client: &ApiClient, json: bool) -> Result<ExitCode, ClientError> {
    let page = client.boards().await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&page).unwrap_or_default()
        );
    } else {
        print!("{}", boards_table(&page.boards));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn reserve(
    client: &ApiClient,
    board: &BoardRef,
    minutes: u32,
    reason: &str,
) -> Result<ExitCode, ClientError> {
    let r = client.reserve(board, minutes, reason).await?;
    let when = match &r.free_at {
        None => "it is yours now".to_owned(),
        Some(free_at) => format!("it is yours {free_at}"),
    };
    println!(
        "reserved {}/{} for {} until {}: {when}",
        r.worker, r.board, r.reserved_by, r.until
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn release(client: &ApiClient, board: &BoardRef) -> Result<ExitCode, ClientError> {
    println!("{}", client.release(board).await?.message);
    Ok(ExitCode::SUCCESS)
}

/// Exit 1 when the worker ran the action and it failed.
pub async fn power(
    client: &ApiClient,
    board: &BoardRef,
    action: PowerAction,
) -> Result<ExitCode, ClientError> {
    let answer = client.power(board, action).await?;
    if answer.ok {
        println!("{board}: power {}: {}", action.as_str(), answer.message);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{board}: power {} failed: {}",
            action.as_str(),
            answer.message
        );
        Ok(ExitCode::from(1))
    }
}

fn state_word(state: BoardState) -> &'static str {
    match state {
        BoardState::Idle => "idle",
        BoardState::Busy => "busy",
        BoardState::Reserved => "reserved",
        BoardState::Quarantined => "quarantined",
        BoardState::Offline => "offline",
    }
}

/// One row per board: where it is, what it does, who has it and why.
pub fn boards_table(boards: &[BoardView]) -> String {
    if boards.is_empty() {
        return "no boards: no worker seen lately declares [boards.<name>]\n".to_owned();
    }
    let header = [
        "BOARD",
        "STATE",
        "QUEUE",
        "RESERVED BY",
        "UNTIL",
        "LABELS",
        "NOTE",
    ];
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = boards
        .iter()
        .map(|b| {
            let note = match (&b.reason, &b.reservation_reason, &b.health) {
                (Some(reason), _, _) => reason.clone(),
                (None, Some(why), _) => why.clone(),
                (None, None, Some(h)) if !h.ok => format!("health failed: {}", h.message),
                _ => "-".into(),
            };
            vec![
                format!("{}/{}", b.worker, b.name),
                state_word(b.state).to_owned(),
                dash(&b.queue),
                dash(&b.reserved_by),
                dash(&b.reserved_until),
                b.labels.join(", "),
                note,
            ]
        })
        .collect();
    render::table(&header, &rows, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_board_with_its_holder_and_why() {
        let idle = BoardView {
            worker: "w1".into(),
            name: "b1".into(),
            labels: vec!["board=nucleo".into()],
            state: BoardState::Idle,
            queue: None,
            reserved_by: None,
            reserved_until: None,
            reservation_reason: None,
            reason: None,
            health: None,
        };
        let reserved = BoardView {
            name: "b2".into(),
            state: BoardState::Reserved,
            queue: Some("q7".into()),
            reserved_by: Some("ada".into()),
            reserved_until: Some("2026-12-07T16:00:00Z".into()),
            reservation_reason: Some("UART".into()),
            ..idle.clone()
        };
        let table = boards_table(&[idle, reserved]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "BOARD  STATE     QUEUE  RESERVED BY  UNTIL                 LABELS        NOTE"
        );
        assert_eq!(
            lines[1],
            "w1/b1  idle      -      -            -                     board=nucleo  -"
        );
        assert_eq!(
            lines[2],
            "w1/b2  reserved  q7     ada          2026-12-07T16:00:00Z  board=nucleo  UART"
        );
        assert!(boards_table(&[]).starts_with("no boards"));
    }
}
