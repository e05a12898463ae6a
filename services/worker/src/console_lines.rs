//! Pure: a board's serial bytes cut into lines for the queue's log. A line
//! ends at `\n` (a `\r` before it is dropped, as is a NUL); what comes
//! after the last newline (a prompt `> `) waits for more, and is given out
//! by `flush` when the queue's recording ends. A line longer than
//! [`MAX_LINE`] is cut there so a board that never prints a newline cannot
//! grow it without bound. Bytes that are not UTF-8 are shown as U+FFFD.

/// The longest line kept whole.
pub(crate) const MAX_LINE: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct ConsoleLines {
    partial: Vec<u8>,
}

impl ConsoleLines {
    /// The lines `bytes` completes.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            match byte {
                b'\n' => lines.push(self.take()),
                0 => {}
                _ => {
                    self.partial.push(byte);
                    if self.partial.len() >= MAX_LINE {
                        lines.push(self.take());
                    }
                }
            }
        }
        lines
    }

    /// What is left after the last newline, if anything.
    pub(crate) fn flush(&mut self) -> Option<String> {
        let rest = self.take();
        (!rest.trim().is_empty()).then_some(rest)
    }

    fn take(&mut self) -> String {
        let mut bytes = std::mem::take(&mut self.partial);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_newlines_across_reads_without_their_carriage_return() {
        let mut lines = ConsoleLines::default();
        assert!(lines.push(b"\r\nTestArena qemu-arm demo ").len() == 1);
        assert_eq!(
            lines.push(b"fw 1.0.0 READY\r\n> pi"),
            ["TestArena qemu-arm demo fw 1.0.0 READY"]
        );
        assert_eq!(lines.push(b"ng\r\npong\r\n> "), ["> ping", "pong"]);
        assert_eq!(lines.flush().as_deref(), Some("> "));
        assert_eq!(lines.flush(), None);
    }

    #[test]
    fn a_line_without_end_is_cut_and_bad_bytes_are_replaced() {
        let mut lines = ConsoleLines::default();
        let long = vec![b'x'; MAX_LINE + 10];
        let out = lines.push(&long);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), MAX_LINE);
        assert_eq!(lines.flush().map(|l| l.len()), Some(10));
        assert_eq!(lines.push(b"a\xffb\0c\n"), ["a\u{fffd}bc"]);
    }
}
