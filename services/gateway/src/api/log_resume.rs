//! Where a resumed log stream starts: right after the `Last-Event-ID` the
//! client last saw. Pure, so the edge cases (the largest id, an id the
//! stream never reached) are decided and tested without NATS.

/// The log stream sequence to start from; `None`: from the first batch.
pub(crate) fn start_sequence(
    last_event_id: Option<u64>,
    stream_last_sequence: u64,
) -> Result<Option<u64>, PastTheEnd> {
    let Some(last) = last_event_id else {
        return Ok(None);
    };
    // An id above the stream's last sequence was never sent by any gateway
    // (sequences only grow, purges keep them): a client error, not a reason
    // to create a consumer that would wait for it. This also keeps `+ 1`
    // from overflowing.
    match last.checked_add(1) {
        Some(next) if last <= stream_last_sequence => Ok(Some(next)),
        _ => Err(PastTheEnd {
            last_event_id: last,
            stream_last_sequence,
        }),
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Last-Event-ID {last_event_id} is past the end of the log stream (its last event is {stream_last_sequence})")]
pub(crate) struct PastTheEnd {
    pub last_event_id: u64,
    pub stream_last_sequence: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_id_starts_from_the_first_batch() {
        assert_eq!(start_sequence(None, 0), Ok(None));
        assert_eq!(start_sequence(None, 90), Ok(None));
    }

    #[test]
    fn an_id_resumes_right_after_it() {
        assert_eq!(start_sequence(Some(0), 0), Ok(Some(1)));
        assert_eq!(start_sequence(Some(41), 90), Ok(Some(42)));
        assert_eq!(start_sequence(Some(90), 90), Ok(Some(91)));
    }

    #[test]
    fn an_id_past_the_end_is_refused_even_the_largest() {
        assert_eq!(
            start_sequence(Some(91), 90),
            Err(PastTheEnd {
                last_event_id: 91,
                stream_last_sequence: 90
            })
        );
        assert!(start_sequence(Some(u64::MAX), 90).is_err());
    }
}
