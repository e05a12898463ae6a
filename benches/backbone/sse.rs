//! A minimal Server-Sent Events client for `GET /api/queue/{id}/log/stream`:
//! events as they arrive, each stamped with the wall clock of the chunk
//! that completed it.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use crate::nats_tap::wall_ns;

pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub wall_ns: u128,
}

pub struct SseReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
    pub bytes: u64,
}

impl SseReader {
    pub async fn open(http: &reqwest::Client, url: &str) -> Result<Self> {
        let response = http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        if response.status() != 200 {
            bail!("GET {url} answered {}", response.status());
        }
        Ok(Self {
            response,
            buffer: Vec::new(),
            bytes: 0,
        })
    }

    /// The next event; `None` when the stream ends or `deadline` passes.
    pub async fn next_before(&mut self, deadline: Instant) -> Result<Option<SseEvent>> {
        let mut arrived = wall_ns();
        loop {
            if let Some(end) = find(&self.buffer, b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                match parse(&block, arrived) {
                    Some(event) => return Ok(Some(event)),
                    // A comment (keep-alive) or an empty block.
                    None => continue,
                }
            }
            let chunk = match tokio::time::timeout_at(deadline.into(), self.response.chunk()).await
            {
                Err(_) => return Ok(None),
                Ok(chunk) => chunk.context("reading the event stream")?,
            };
            let Some(chunk) = chunk else { return Ok(None) };
            arrived = wall_ns();
            self.bytes += chunk.len() as u64;
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

fn parse(block: &[u8], wall_ns: u128) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(block);
    let mut event = String::from("message");
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            event = value.trim_start().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    if data.is_empty() && event == "message" {
        return None;
    }
    Some(SseEvent {
        event,
        data: data.join("\n"),
        wall_ns,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
