//! `queue_log.txt` by line number: one range of lines, or every line a
//! search matches, each in one pass over the file with a line counter. No
//! index is kept: the file is read in 1 MiB blocks of whole lines and split
//! with memchr, which keeps a search of a 1,000,000-line log inside its
//! 300 ms budget (docs/benchmarks.md, `log_search`), and the projector's
//! file stays the log's only copy. Pure over any `Read`, so it is tested on
//! bytes; the route (`api/log_lines.rs`) runs it on a blocking thread.
//!
//! A search looks at a line's text as the dashboard shows it: without its
//! `[source] ` label and without ANSI escapes, so the server and the page's
//! own search agree on what matches.

use std::io::{self, Read};

use regex::bytes::{Regex, RegexBuilder};

const BLOCK: usize = 1 << 20;
/// A compiled search pattern may take this much memory, no more.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One line of the log: its number (from 1) and its bytes as stored
/// (`[source] text`, no line end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberedLine {
    pub number: u64,
    pub bytes: Vec<u8>,
}

/// Why a search cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SearchError {
    #[error("q: must not be empty")]
    Empty,
    #[error("q: must not hold a line break or another control character")]
    ControlCharacter,
    #[error("q: not a valid regular expression: {0}")]
    InvalidRegex(String),
}

/// What a search looks for: a text, any case (the default), or a regular
/// expression as written (`(?i)` makes it ignore case).
#[derive(Debug)]
pub(crate) struct LogSearch {
    pattern: Regex,
    /// A plain text cannot span lines, so a whole block may be searched at
    /// once and only the lines it hits looked at.
    literal: bool,
}

impl LogSearch {
    pub(crate) fn parse(q: &str, regex: bool) -> Result<Self, SearchError> {
        if q.is_empty() {
            return Err(SearchError::Empty);
        }
        if q.chars().any(char::is_control) {
            return Err(SearchError::ControlCharacter);
        }
        let source = if regex {
            q.to_owned()
        } else {
            regex::escape(q)
        };
        let pattern = RegexBuilder::new(&source)
            .case_insensitive(!regex)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| SearchError::InvalidRegex(first_line(&e.to_string())))?;
        Ok(Self {
            pattern,
            literal: !regex,
        })
    }

    /// Whether a stored line's shown text matches.
    fn matches_line(&self, line: &[u8]) -> bool {
        let text = shown_text(line);
        if memchr::memchr(0x1b, text).is_some() {
            return self.pattern.is_match(&strip_escapes(text));
        }
        self.pattern.is_match(text)
    }
}

fn first_line(text: &str) -> String {
    let last = text.lines().rev().find(|l| !l.trim().is_empty());
    let last = last.unwrap_or(text).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

/// A search's outcome: the first `limit` matching lines, how many match in
/// all, and how many lines the log had when read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub hits: Vec<NumberedLine>,
    pub matches: u64,
    pub total_lines: u64,
}

/// Every line of `log` that `search` matches, in order; the first `limit` kept.
pub(crate) fn search(log: impl Read, search: &LogSearch, limit: usize) -> io::Result<Found> {
    let mut found = Found {
        hits: Vec::new(),
        matches: 0,
        total_lines: 0,
    };
    for_each_block(log, |block, first| {
        let mut hit = |number: u64, line: &[u8]| {
            found.matches += 1;
            if found.hits.len() < limit {
                found.hits.push(NumberedLine {
                    number,
                    bytes: line.to_vec(),
                });
            }
        };
        let lines = if search.literal && memchr::memchr(0x1b, block).is_none() {
            search_block_at_once(block, first, search, &mut hit)
        } else {
            search_line_by_line(block, first, search, &mut hit)
        };
        found.total_lines = first - 1 + lines;
    })?;
    Ok(found)
}

/// A plain text in a block without escapes: the pattern runs over the whole
/// block, and only each line it lands in is checked (the hit may be in the
/// label). Lines are counted between hits with memchr. Returns the block's
/// line count.
fn search_block_at_once(
    block: &[u8],
    first: u64,
    search: &LogSearch,
    hit: &mut impl FnMut(u64, &[u8]),
) -> u64 {
    let (mut counted_to, mut number) = (0, first);
    let mut at = 0;
    while let Some(m) = search.pattern.find_at(block, at) {
        let start = memchr::memrchr(b'\n', &block[..m.start()]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &block[m.start()..]).map_or(block.len(), |i| m.start() + i);
        number += memchr::memchr_iter(b'\n', &block[counted_to..start]).count() as u64;
        counted_to = start;
        if search.matches_line(&block[start..end]) {
            hit(number, &block[start..end]);
        }
        at = end + 1;
        if at >= block.len() {
            break;
        }
    }
    number += memchr::memchr_iter(b'\n', &block[counted_to..]).count() as u64;
    number - first
}

/// Every line of the block matched on its own (a regular expression, or a
/// block with escapes to strip). Returns the block's line count.
fn search_line_by_line(
    block: &[u8],
    first: u64,
    search: &LogSearch,
    hit: &mut impl FnMut(u64, &[u8]),
) -> u64 {
    let mut number = first;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', block) {
        let line = &block[start..end];
        if search.matches_line(line) {
            hit(number, line);
        }
        number += 1;
        start = end + 1;
    }
    number - first
}

/// Lines `from_line` (from 1) onwards, at most `limit`, and how many lines
/// the log had when read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineRange {
    pub lines: Vec<NumberedLine>,
    pub total_lines: u64,
}

pub(crate) fn range(log: impl Read, from_line: u64, limit: usize) -> io::Result<LineRange> {
    let mut range = LineRange {
        lines: Vec::new(),
        total_lines: 0,
    };
    let last = from_line.saturating_add(limit as u64);
    for_each_block(log, |block, first| {
        let count = memchr::memchr_iter(b'\n', block).count() as u64;
        let block_end = first + count;
        if block_end > from_line && first < last {
            let mut start = 0;
            for (number, end) in (first..).zip(memchr::memchr_iter(b'\n', block)) {
                if number >= last {
                    break;
                }
                if number >= from_line {
                    range.lines.push(NumberedLine {
                        number,
                        bytes: block[start..end].to_vec(),
                    });
                }
                start = end + 1;
            }
        }
        range.total_lines = block_end - 1;
    })?;
    Ok(range)
}

/// Calls `each(block, number of its first line)` for the log in blocks of
/// whole lines, each ending with its `\n`. A last line without one is a
/// write in progress: left for the next read.
fn for_each_block(mut log: impl Read, mut each: impl FnMut(&[u8], u64)) -> io::Result<()> {
    let mut buffer = vec![0u8; BLOCK];
    let mut filled = 0;
    let mut next_line = 1u64;
    loop {
        if filled == buffer.len() {
            // One line longer than the buffer: grow it to hold the line.
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = match log.read(&mut buffer[filled..]) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += read;
        let whole = memchr::memrchr(b'\n', &buffer[..filled]).map_or(0, |i| i + 1);
        if whole > 0 && (read == 0 || filled == buffer.len()) {
            each(&buffer[..whole], next_line);
            next_line += memchr::memchr_iter(b'\n', &buffer[..whole]).count() as u64;
            buffer.copy_within(whole..filled, 0);
            filled -= whole;
        }
        if read == 0 {
            return Ok(());
        }
    }
}

/// A stored line's text as shown: after its `[source] ` label.
pub(crate) fn shown_text(line: &[u8]) -> &[u8] {
    if line.first() != Some(&b'[') {
        return line;
    }
    match memchr::memmem::find(line, b"] ") {
        Some(i) => &line[i + 2..],
        None => line,
    }
}

/// The line's text without escape sequences, as the dashboard's `stripAnsi`
/// reads it: CSI (`ESC [ … final`), OSC (`ESC ] … BEL` or `ESC \`), and any
/// other two-byte escape.
fn strip_escapes(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != 0x1b {
            out.push(text[i]);
            i += 1;
            continue;
        }
        i += 1;
        match text.get(i) {
            Some(b'[') => {
                i += 1;
                while i < text.len() && !(0x40..=0x7e).contains(&text[i]) {
                    i += 1;
                }
                i += 1;
            }
            Some(b']') => {
                while i < text.len() && text[i] != 0x07 && text[i] != 0x1b {
                    i += 1;
                }
                i += if text.get(i) == Some(&0x1b) { 2 } else { 1 };
            }
            Some(b'@'..=b'_') => i += 1,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: usize) -> Vec<u8> {
        let mut text = Vec::new();
        for n in 1..=lines {
            text.extend_from_slice(
                format!("[task:t{}] line {n:06} of the log\n", n % 7).as_bytes(),
            );
        }
        text
    }

    fn numbers(lines: &[NumberedLine]) -> Vec<u64> {
        lines.iter().map(|l| l.number).collect()
    }

    #[test]
    fn a_text_is_found_in_any_case_by_its_line_number_across_blocks() {
        let text = log(100_000);
        let search = LogSearch::parse("LINE 000001 OF", false).unwrap();
        let found = super::search(&text[..], &search, 10).unwrap();
        assert_eq!(numbers(&found.hits), vec![1]);
        assert_eq!(found.total_lines, 100_000);
        let late = LogSearch::parse("line 099999", false).unwrap();
        let found = super::search(&text[..], &late, 10).unwrap();
        assert_eq!(numbers(&found.hits), vec![99_999]);
        assert_eq!(found.hits[0].bytes, b"[task:t4] line 099999 of the log");
    }

    #[test]
    fn hits_past_the_limit_are_counted_not_kept() {
        let text = log(1000);
        let found =
            super::search(&text[..], &LogSearch::parse("of the", false).unwrap(), 5).unwrap();
        assert_eq!(numbers(&found.hits), vec![1, 2, 3, 4, 5]);
        assert_eq!(found.matches, 1000);
    }

    #[test]
    fn the_source_label_is_not_searched_and_escapes_are_stripped() {
        let text = b"[task:boot] ok\n[build!] \x1b[31mFA\x1b[0mIL: x\n[task:t] [task:\n";
        let label = LogSearch::parse("task:boot", false).unwrap();
        assert!(super::search(&text[..], &label, 10)
            .unwrap()
            .hits
            .is_empty());
        let red = LogSearch::parse("fail:", false).unwrap();
        assert_eq!(
            numbers(&super::search(&text[..], &red, 10).unwrap().hits),
            vec![2]
        );
        let in_text = LogSearch::parse("[task:", false).unwrap();
        assert_eq!(
            numbers(&super::search(&text[..], &in_text, 10).unwrap().hits),
            vec![3]
        );
    }

    #[test]
    fn a_regex_matches_the_shown_text_as_written() {
        let text = log(50);
        let anchored = LogSearch::parse(r"^line 00004\d", true).unwrap();
        let found = super::search(&text[..], &anchored, 100).unwrap();
        assert_eq!(numbers(&found.hits), (40..=49).collect::<Vec<_>>());
        let cased = LogSearch::parse("LINE", true).unwrap();
        assert_eq!(super::search(&text[..], &cased, 100).unwrap().matches, 0);
    }

    #[test]
    fn a_bad_query_is_refused_naming_why() {
        assert_eq!(LogSearch::parse("", false).unwrap_err(), SearchError::Empty);
        assert_eq!(
            LogSearch::parse("a\nb", false).unwrap_err(),
            SearchError::ControlCharacter
        );
        let error = LogSearch::parse("(unclosed", true).unwrap_err();
        assert!(
            matches!(&error, SearchError::InvalidRegex(m) if m.contains("unclosed")),
            "{error}"
        );
        assert!(
            LogSearch::parse("(unclosed", false).is_ok(),
            "a text is not a regex"
        );
    }

    #[test]
    fn a_range_is_its_lines_by_number_and_the_total() {
        let text = log(300_000);
        let range = super::range(&text[..], 150_000, 3).unwrap();
        assert_eq!(numbers(&range.lines), vec![150_000, 150_001, 150_002]);
        assert_eq!(range.lines[0].bytes, b"[task:t4] line 150000 of the log");
        assert_eq!(range.total_lines, 300_000);
        let past = super::range(&text[..], 400_000, 3).unwrap();
        assert!(past.lines.is_empty());
        assert_eq!(super::range(&text[..], 299_999, 10).unwrap().lines.len(), 2);
    }

    #[test]
    fn a_line_being_written_is_left_out_and_a_long_line_is_whole() {
        let mut text = b"[a] one\n[a] two".to_vec();
        assert_eq!(super::range(&text[..], 1, 10).unwrap().total_lines, 1);
        text.clear();
        let long = "x".repeat(3 * BLOCK);
        text.extend_from_slice(format!("[a] {long}\n[a] end\n").as_bytes());
        let range = super::range(&text[..], 1, 10).unwrap();
        assert_eq!(range.lines[0].bytes.len(), long.len() + 4);
        assert_eq!(range.total_lines, 2);
    }
}
