//! A task's console cases, for a profile with `cases`: while the command
//! runs, every line it prints goes through the output tap to the profile's
//! reader (each line once, those past the log cap too); when it ends, a
//! count that does not add up is a marked log line, the result directory's
//! JUnit wins per case name, and the cases decide the task's result.

use std::path::Path;

use testarena_events::{now_millis, LogLine, LogStream};
use tokio::sync::mpsc;

use crate::blocking::blocking;
use crate::console_cases::{junit_wins, with_cases, CaseFormat, CaseParser, ParsedCases};
use crate::junit;
use crate::log_batcher::LogSink;
use crate::outcome::TaskDone;
use crate::process_group::Exit;

/// One try's lines on their way to its reader.
pub(crate) struct CaseTap {
    lines: mpsc::UnboundedReceiver<String>,
    parser: CaseParser,
}

/// The tap to give the command, and its reading end; both `None` for a
/// profile that reads no cases.
pub(crate) fn tap(
    format: Option<&CaseFormat>,
) -> (Option<mpsc::UnboundedSender<String>>, Option<CaseTap>) {
    let Some(format) = format else {
        return (None, None);
    };
    let (tx, lines) = mpsc::unbounded_channel();
    let parser = format.parser();
    (Some(tx), Some(CaseTap { lines, parser }))
}

/// Reads lines until the command's output readers are gone (they hold the
/// senders, and end with the process group), then what they said. Run
/// beside the command's `wait`, so lines never pile up in the channel.
pub(crate) async fn read(tap: Option<CaseTap>) -> Option<ParsedCases> {
    let CaseTap {
        mut lines,
        mut parser,
    } = tap?;
    while let Some(line) = lines.recv().await {
        parser.line(&line);
    }
    Some(parser.finish())
}

/// After the command: the count check in the log, JUnit merged in, the
/// result decided by the cases (`console_cases::with_cases`).
pub(crate) async fn settle(
    parsed: Option<ParsedCases>,
    done: TaskDone,
    exit: Exit,
    result_dir: &Path,
    log: &LogSink,
    source: &str,
) -> TaskDone {
    let Some(parsed) = parsed else {
        return done;
    };
    if let Some(mismatch) = parsed.mismatch {
        let mut line = LogLine::new(now_millis(), source.to_owned(), LogStream::System, mismatch);
        // Marked like a `failure_regex` line, so the log's failure view and
        // the dashboard point at it.
        line.failure = true;
        log.send(line).await;
    }
    let dir = result_dir.to_owned();
    let junit = blocking(move || junit::summarize_dir(&dir))
        .await
        .ok()
        .flatten();
    let cases = junit_wins(junit, parsed.summary);
    let done = with_cases(done, exit, cases.as_ref());
    TaskDone { cases, ..done }
}
