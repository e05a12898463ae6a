//! Colour on a terminal: result and state words in their tone (passed
//! green, failed red, flaky and running amber, cancelled and skipped
//! grey). Only when the output is a terminal, `NO_COLOR` is unset or empty
//! (no-color.org) and `TERM` is not `dumb`: a pipe, a file or a script gets
//! the plain text. Painted after layout, so columns keep the widths of the
//! plain text (escape codes take no room on a terminal).

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::sync::LazyLock;

use regex::Regex;

const GREEN: &str = "32";
const RED: &str = "31";
const AMBER: &str = "33";
const GREY: &str = "90";

/// Whole words only: `failed` in a message is painted, `unfailed` is not.
static WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(PASS|passed|FAIL|failed|ERROR|Error|errored|TIMEOUT|timed out|FLAKY|flaky|Running|running|Waiting|waiting|quarantined|Cancelled|cancelled|SKIPPED|skipped)\b",
    )
    .expect("valid")
});

/// Whether to colour an output: pure, for the tests.
pub fn enabled(is_terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    let asked_off = no_color.is_some_and(|v| !v.is_empty());
    is_terminal && !asked_off && term.is_none_or(|t| t != "dumb")
}

fn tone(word: &str) -> &'static str {
    match word {
        "PASS" | "passed" => GREEN,
        "FAIL" | "failed" | "ERROR" | "Error" | "errored" | "TIMEOUT" | "timed out" => RED,
        "FLAKY" | "flaky" | "Running" | "running" | "Waiting" | "waiting" | "quarantined" => AMBER,
        _ => GREY,
    }
}

/// `text` with each known word in its tone.
pub fn paint(text: &str) -> String {
    WORDS
        .replace_all(text, |c: &regex::Captures<'_>| {
            format!("\x1b[{}m{}\x1b[0m", tone(&c[0]), &c[0])
        })
        .into_owned()
}

fn for_output(text: String, is_terminal: bool) -> String {
    let no_color = std::env::var_os("NO_COLOR");
    let term = std::env::var_os("TERM");
    if enabled(is_terminal, no_color.as_deref(), term.as_deref()) {
        paint(&text)
    } else {
        text
    }
}

/// `text` as it goes to standard output.
pub fn for_stdout(text: String) -> String {
    for_output(text, std::io::stdout().is_terminal())
}

/// `text` as it goes to standard error.
pub fn for_stderr(text: String) -> String {
    for_output(text, std::io::stderr().is_terminal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color_or_a_dumb_term() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(enabled(true, None, os("xterm-256color")));
        assert!(enabled(true, os(""), None), "an empty NO_COLOR is unset");
        assert!(!enabled(true, os("1"), None));
        assert!(!enabled(false, None, os("xterm")), "a pipe or a file");
        assert!(!enabled(true, None, os("dumb")));
    }

    #[test]
    fn words_get_their_tone_and_the_rest_stays() {
        let painted = paint("t1  FAIL  exit 1 after all cases passed");
        assert_eq!(
            painted,
            "t1  \x1b[31mFAIL\x1b[0m  exit 1 after all cases \x1b[32mpassed\x1b[0m"
        );
        assert_eq!(paint("unfailed fw-PASSING"), "unfailed fw-PASSING");
    }
}
