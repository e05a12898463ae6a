//! A minimal Server-Sent Events reader for the log stream: splits the body
//! into events (`event`, `id`, `data`), skipping comments and keep-alives.

/// One event as the gateway sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<u64>,
    pub data: String,
}

/// Collects body chunks and hands out complete events.
#[derive(Default)]
pub struct SseParser {
    buffer: String,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
    }

    /// The next complete event, if the buffer holds one.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            if let Some(event) = parse_block(&block) {
                return Some(event);
            }
        }
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut event = SseEvent {
        event: "message".into(),
        id: None,
        data: String::new(),
    };
    let mut has_data = false;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event.event = value.to_owned(),
            "id" => event.id = value.parse().ok(),
            "data" => {
                if has_data {
                    event.data.push('\n');
                }
                event.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    has_data.then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole_and_keep_alives_are_skipped() {
        let mut parser = SseParser::default();
        parser.push(b": keep-alive\n\nevent: log\nid: 7\nda");
        assert_eq!(parser.next_event(), None);
        parser.push(b"ta: {\"a\":1}\n\nevent: end\ndata: null\n\n");
        assert_eq!(
            parser.next_event(),
            Some(SseEvent {
                event: "log".into(),
                id: Some(7),
                data: "{\"a\":1}".into()
            })
        );
        assert_eq!(parser.next_event().unwrap().event, "end");
        assert_eq!(parser.next_event(), None);
    }
}
