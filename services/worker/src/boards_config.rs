//! The worker's `[boards.<name>]` tables: each board's labels, its serial
//! (a TCP address or a tty device at a baud rate) and its optional power
//! and health commands. Parsed strictly at start; every error names the
//! key (`boards.nucleo-1.serial: ...`).

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use serde::Deserialize;
use testarena_events::{parse_labels, BoardName, Label, MAX_WORKER_LABELS};

/// The baud rates a tty can be set to with termios (`cfsetspeed`).
pub(crate) const BAUD_RATES: [u32; 18] = [
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
    1000000, 1152000, 1500000, 2000000, 3000000,
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardFile {
    #[serde(default)]
    labels: Vec<String>,
    serial: toml::Table,
    power_on: Option<String>,
    power_off: Option<String>,
    health: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SerialFile {
    tcp: Option<String>,
    device: Option<String>,
    baud: Option<u32>,
}

/// Where a board's serial console is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Serial {
    /// `host:port` of a TCP serial server (ser2net, QEMU's `-serial tcp`).
    Tcp(String),
    /// A tty device, opened raw at `baud`.
    Device { path: String, baud: u32 },
}

impl Serial {
    /// `{serial_port}`: the device path or the TCP address.
    pub(crate) fn port_text(&self) -> &str {
        match self {
            Self::Tcp(addr) => addr,
            Self::Device { path, .. } => path,
        }
    }
}

/// One `[boards.<name>]`, checked.
#[derive(Debug, Clone)]
pub(crate) struct BoardConfig {
    pub name: BoardName,
    pub labels: Vec<Label>,
    pub serial: Serial,
    pub power_on: Option<String>,
    pub power_off: Option<String>,
    /// Exits 0 when the board works: re-admits it from quarantine.
    pub health: Option<String>,
}

/// Every `[boards.<name>]` table, in name order.
pub(crate) fn parse_boards(
    tables: BTreeMap<String, toml::Table>,
) -> anyhow::Result<Vec<BoardConfig>> {
    tables
        .into_iter()
        .map(|(name, table)| {
            let key = format!("boards.{name}");
            let board = BoardName::parse(name).with_context(|| key.clone())?;
            let file = BoardFile::deserialize(table).with_context(|| key.clone())?;
            board_config(&key, board, file)
        })
        .collect()
}

fn board_config(key: &str, name: BoardName, file: BoardFile) -> anyhow::Result<BoardConfig> {
    let labels = parse_labels("labels", &file.labels, MAX_WORKER_LABELS)
        .map_err(|e| anyhow::anyhow!("{key}.{e:#}"))?;
    let serial_key = format!("{key}.serial");
    let serial = SerialFile::deserialize(file.serial)
        .map_err(anyhow::Error::from)
        .and_then(serial)
        .with_context(|| serial_key)?;
    for (command_key, command) in [
        ("power_on", &file.power_on),
        ("power_off", &file.power_off),
        ("health", &file.health),
    ] {
        if command.as_ref().is_some_and(|c| c.trim().is_empty()) {
            bail!("{key}.{command_key}: an empty command; leave the key out instead");
        }
    }
    Ok(BoardConfig {
        name,
        labels,
        serial,
        power_on: file.power_on,
        power_off: file.power_off,
        health: file.health,
    })
}

/// `{ tcp = "host:port" }` or `{ device = "/dev/...", baud = N }`.
fn serial(file: SerialFile) -> anyhow::Result<Serial> {
    match (file.tcp, file.device, file.baud) {
        (Some(_), Some(_), _) => bail!("give tcp or device, not both"),
        (None, None, _) => bail!("give tcp = \"host:port\" or device = \"/dev/...\" with baud"),
        (Some(_), None, Some(_)) => bail!("baud goes with device, not tcp"),
        (Some(addr), None, None) => {
            let port = addr.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) {
                bail!("tcp: {addr:?} is not host:port");
            }
            Ok(Serial::Tcp(addr))
        }
        (None, Some(_), None) => bail!("device needs baud (e.g. 115200)"),
        (None, Some(path), Some(baud)) => {
            if !path.starts_with('/') {
                bail!("device: {path:?} is not an absolute path");
            }
            if !BAUD_RATES.contains(&baud) {
                bail!("baud: {baud} is not a rate a tty can be set to ({BAUD_RATES:?})");
            }
            Ok(Serial::Device { path, baud })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Vec<BoardConfig>> {
        #[derive(Deserialize)]
        struct File {
            boards: BTreeMap<String, toml::Table>,
        }
        let file: File = toml::from_str(text).unwrap();
        parse_boards(file.boards)
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn reads_tcp_and_device_boards_with_their_commands() {
        let boards = parse(
            "[boards.nucleo-1]\nlabels=['board=nucleo']\nserial={tcp='127.0.0.1:7001'}\npower_on='on {board}'\npower_off='off'\nhealth='true'\n[boards.b2]\nserial={device='/dev/ttyACM0', baud=115200}\n",
        )
        .unwrap();
        assert_eq!(boards.len(), 2);
        let b2 = &boards[0];
        assert_eq!(b2.name.as_str(), "b2");
        assert_eq!(
            b2.serial,
            Serial::Device {
                path: "/dev/ttyACM0".into(),
                baud: 115200
            }
        );
        assert_eq!(b2.serial.port_text(), "/dev/ttyACM0");
        assert!(b2.power_on.is_none() && b2.health.is_none());
        let nucleo = &boards[1];
        assert_eq!(nucleo.labels[0].to_string(), "board=nucleo");
        assert_eq!(nucleo.serial.port_text(), "127.0.0.1:7001");
        assert_eq!(nucleo.power_on.as_deref(), Some("on {board}"));
    }

    #[test]
    fn errors_name_the_board_and_the_key() {
        let cases = [
            (
                "serial={tcp='h:1'}\npower='x'",
                "boards.b:",
                "unknown field `power`",
            ),
            (
                "serial={tcp='h:1', speed=3}",
                "boards.b.serial:",
                "unknown field `speed`",
            ),
            ("serial={tcp='h'}", "boards.b.serial: tcp", "not host:port"),
            (
                "serial={tcp='h:1', device='/dev/x'}",
                "boards.b.serial:",
                "not both",
            ),
            ("serial={device='/dev/x'}", "boards.b.serial:", "needs baud"),
            (
                "serial={device='/dev/x', baud=1234}",
                "boards.b.serial: baud",
                "1234",
            ),
            (
                "serial={device='ttyS0', baud=9600}",
                "boards.b.serial: device",
                "absolute",
            ),
            (
                "serial={tcp='h:1', baud=9600}",
                "boards.b.serial:",
                "baud goes with device",
            ),
            (
                "labels=['nolabel']\nserial={tcp='h:1'}",
                "boards.b.labels",
                "nolabel",
            ),
            (
                "serial={tcp='h:1'}\nhealth=' '",
                "boards.b.health:",
                "empty",
            ),
            ("labels=[]", "boards.b:", "missing field `serial`"),
        ];
        for (table, key, says) in cases {
            let err = error(&format!("[boards.b]\n{table}\n"));
            assert!(err.starts_with(key) && err.contains(says), "{table}: {err}");
        }
        let err = error("[boards.'a b']\nserial={tcp='h:1'}\n");
        assert!(err.starts_with("boards.a b"), "{err}");
    }
}
