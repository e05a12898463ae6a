//! Which bytes of an artifact a `Range` header asks for (RFC 9110 §14):
//! one range of `bytes`; anything else is served whole, as the RFC allows
//! a server to ignore a range it does not support. Pure.

/// What to send of an object of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No range, or one we ignore: the whole object (200).
    Whole,
    /// Bytes `start..=end` (206).
    Part { start: u64, end: u64 },
    /// A range that starts past the end (416).
    Unsatisfiable,
}

impl ByteRange {
    pub(crate) fn of(header: Option<&str>, size: u64) -> Self {
        let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
            return Self::Whole;
        };
        if spec.contains(',') {
            return Self::Whole;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Whole;
        };
        let number = |s: &str| s.trim().parse::<u64>().ok();
        match (first.trim().is_empty(), number(first), number(last)) {
            // `bytes=-N`: the last N bytes.
            (true, _, Some(n)) if n == 0 || size == 0 => Self::Unsatisfiable,
            (true, _, Some(n)) => Self::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            (false, Some(start), _) if start >= size => Self::Unsatisfiable,
            (false, Some(start), None) if last.trim().is_empty() => Self::Part {
                start,
                end: size - 1,
            },
            (false, Some(start), Some(end)) if end >= start => Self::Part {
                start,
                end: end.min(size - 1),
            },
            _ => Self::Whole,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_of_bytes_is_honoured() {
        let part = |start, end| ByteRange::Part { start, end };
        assert_eq!(ByteRange::of(None, 10), ByteRange::Whole);
        assert_eq!(ByteRange::of(Some("bytes=0-3"), 10), part(0, 3));
        assert_eq!(ByteRange::of(Some("bytes=4-"), 10), part(4, 9));
        assert_eq!(ByteRange::of(Some("bytes=-3"), 10), part(7, 9));
        assert_eq!(ByteRange::of(Some("bytes=-30"), 10), part(0, 9));
        assert_eq!(ByteRange::of(Some("bytes=5-100"), 10), part(5, 9));
    }

    #[test]
    fn what_cannot_be_met_is_416_and_what_is_not_understood_is_ignored() {
        assert_eq!(
            ByteRange::of(Some("bytes=10-"), 10),
            ByteRange::Unsatisfiable
        );
        assert_eq!(
            ByteRange::of(Some("bytes=0-0"), 0),
            ByteRange::Unsatisfiable
        );
        assert_eq!(
            ByteRange::of(Some("bytes=-0"), 10),
            ByteRange::Unsatisfiable
        );
        assert_eq!(ByteRange::of(Some("bytes=-5"), 0), ByteRange::Unsatisfiable);
        assert_eq!(ByteRange::of(Some("bytes=3-1"), 10), ByteRange::Whole);
        assert_eq!(ByteRange::of(Some("bytes=0-1,4-5"), 10), ByteRange::Whole);
        assert_eq!(ByteRange::of(Some("items=0-1"), 10), ByteRange::Whole);
        assert_eq!(ByteRange::of(Some("bytes=x-1"), 10), ByteRange::Whole);
    }
}
