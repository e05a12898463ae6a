//! What an fsync per acknowledged write costs: events/s into the real
//! events stream (the config `testarena init` makes) on a nats-server with
//! the default `sync_interval` (2 min) and with `sync_interval: always`,
//! each on its own temp file store. Published two ways: one at a time,
//! each acknowledgement awaited (a run's ordered events, the floor), and
//! 64 in flight (a burst of submits or of a run's events).

use std::time::Instant;

use anyhow::{Context as _, Result};
use async_nats::jetstream;
use testarena::nats_server::{free_port, NatsServer};
use testarena_events::{ensure_streams, ArenaNames, Event, EventBody, QueueId, StreamLimits};

use crate::report::Row;
use crate::stack::remove_later;

/// Events per measurement, one at a time and 64 in flight.
const SEQUENTIAL: usize = 2_000;
const PIPELINED: usize = 20_000;
const IN_FLIGHT: usize = 64;

pub async fn jetstream_sync() -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for (setting, config) in [
        ("default sync_interval (2 min)", ""),
        (
            "sync_interval: always",
            "jetstream {\n  sync_interval: always\n}\n",
        ),
    ] {
        let (sequential, pipelined) = measure(config).await.with_context(|| setting.to_owned())?;
        println!("  {setting}: {sequential:.0} events/s one at a time, {pipelined:.0} with {IN_FLIGHT} in flight");
        rows.push(Row::info(
            format!("{setting}, one at a time"),
            sequential,
            "events/s",
        ));
        rows.push(Row::info(
            format!("{setting}, {IN_FLIGHT} in flight"),
            pipelined,
            "events/s",
        ));
        rates.push((sequential, pipelined));
    }
    if let [(seq_default, pipe_default), (seq_always, pipe_always)] = rates[..] {
        rows.push(Row::info(
            "always / default, one at a time",
            100.0 * seq_always / seq_default,
            "%",
        ));
        rows.push(Row::info(
            format!("always / default, {IN_FLIGHT} in flight"),
            100.0 * pipe_always / pipe_default,
            "%",
        ));
    }
    Ok(rows)
}

/// Events/s one at a time and pipelined, on a fresh server with `config`.
async fn measure(config: &str) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let config_path = dir.path().join("nats.conf");
    std::fs::write(&config_path, config)?;
    let server =
        NatsServer::start_with_config(&dir.path().join("store"), free_port()?, &config_path)
            .context("starting nats-server")?;
    let js = jetstream::new(async_nats::connect(server.url()).await?);
    let names = ArenaNames::default();
    ensure_streams(&js, &names, &StreamLimits::default())
        .await
        .map_err(|e| anyhow::anyhow!("creating the streams: {e}"))?;
    let events = events(SEQUENTIAL + PIPELINED)?;
    let (sequential, pipelined) = events.split_at(SEQUENTIAL);

    let started = Instant::now();
    for (subject, payload) in sequential {
        js.publish(subject.clone(), payload.clone()).await?.await?;
    }
    let sequential_rate = SEQUENTIAL as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut acks = std::collections::VecDeque::with_capacity(IN_FLIGHT);
    for (subject, payload) in pipelined {
        if acks.len() == IN_FLIGHT {
            let ack: jetstream::context::PublishAckFuture = acks.pop_front().expect("full");
            ack.await?;
        }
        acks.push_back(js.publish(subject.clone(), payload.clone()).await?);
    }
    for ack in acks {
        ack.await?;
    }
    let pipelined_rate = PIPELINED as f64 / started.elapsed().as_secs_f64();
    drop(server);
    remove_later(dir);
    Ok((sequential_rate, pipelined_rate))
}

/// `started` events of distinct queues (about 150 bytes of JSON each, as a
/// run's small events are), made before the clock starts.
fn events(n: usize) -> Result<Vec<(String, bytes::Bytes)>> {
    let names = ArenaNames::default();
    (0..n)
        .map(|i| {
            let event = Event::new(
                QueueId::parse(format!("sync-{i:06}"))?,
                EventBody::Started {
                    worker: "bench".into(),
                    attempt: 1,
                },
            );
            let subject = names.event_subject(&event.queue_id, event.body.kind());
            Ok((subject, event.to_json().into()))
        })
        .collect()
}
