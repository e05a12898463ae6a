//! Placeholder substitution in profile commands. Values are shell-quoted in
//! commands (they run under `sh -c`) and exported as `TESTARENA_*` variables.

/// The values of one command's placeholders.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placeholders {
    pub scenario: Option<String>,
    pub port: u16,
    pub workdir: String,
    pub queue_id: String,
    pub task_id: Option<String>,
    pub result_dir: Option<String>,
    /// A board profile's board, and its serial (device path or TCP
    /// address); without a board, `{board}` and `{serial_port}` stay as
    /// written.
    pub board: Option<String>,
    pub serial_port: Option<String>,
}

impl Placeholders {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("scenario", self.scenario.clone().unwrap_or_default()),
            ("port", self.port.to_string()),
            ("workdir", self.workdir.clone()),
            ("queue_id", self.queue_id.clone()),
            ("task_id", self.task_id.clone().unwrap_or_default()),
            ("result_dir", self.result_dir.clone().unwrap_or_default()),
        ];
        let board = [("board", &self.board), ("serial_port", &self.serial_port)];
        pairs.extend(board.into_iter().filter_map(|(k, v)| Some((k, v.clone()?))));
        pairs
    }

    /// For a `sh -c` command line: every value single-quoted.
    pub(crate) fn in_command(&self, template: &str) -> String {
        self.substitute(template, shell_quote)
    }

    /// For a value that is not a command (an address, an env value).
    pub(crate) fn in_value(&self, template: &str) -> String {
        self.substitute(template, str::to_owned)
    }

    /// `TESTARENA_SCENARIO`, `TESTARENA_PORT`, ...
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        self.pairs()
            .into_iter()
            .map(|(key, value)| (format!("TESTARENA_{}", key.to_ascii_uppercase()), value))
            .collect()
    }

    fn substitute(&self, template: &str, quote: fn(&str) -> String) -> String {
        let pairs = self.pairs();
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        // One left-to-right pass, so a value containing `{port}` is never
        // substituted again.
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let replaced = after.find('}').and_then(|close| {
                let key = &after[..close];
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, value)| (quote(value), close))
            });
            match replaced {
                Some((value, close)) => {
                    out.push_str(&value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_values_in_commands_and_not_in_values() {
        let p = Placeholders {
            scenario: Some("a b'; rm -rf /".into()),
            port: 4000,
            ..Default::default()
        };
        assert_eq!(
            p.in_command("run {scenario} --port {port} {unknown}"),
            r"run 'a b'\''; rm -rf /' --port '4000' {unknown}"
        );
        assert_eq!(p.in_value("127.0.0.1:{port}"), "127.0.0.1:4000");
        assert!(p.env().contains(&("TESTARENA_PORT".into(), "4000".into())));
        assert_eq!(p.in_command("flash {board}"), "flash {board}");
    }

    #[test]
    fn a_board_run_has_board_and_serial_port() {
        let p = Placeholders {
            board: Some("nucleo-1".into()),
            serial_port: Some("/dev/ttyACM0".into()),
            ..Default::default()
        };
        assert_eq!(
            p.in_command("pyocd flash -u {board} --port {serial_port}"),
            "pyocd flash -u 'nucleo-1' --port '/dev/ttyACM0'"
        );
        assert!(p
            .env()
            .contains(&("TESTARENA_SERIAL_PORT".into(), "/dev/ttyACM0".into())));
    }
}
