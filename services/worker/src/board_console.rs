//! A board's console: one task keeps its serial open (reopened after a
//! pause when it closes or cannot be opened) and reads it continuously.
//! Every chunk read goes to a bounded ring (the `console` control request
//! answers it), to `<prefix>.console.<worker>.<board>.out`, to whoever
//! taps it (a boot waiting for its ready line, the bridge's clients) and,
//! while a queue runs on the board, into that queue's log as source
//! `console`, line by line. The bridge is a loopback listener, the queue's
//! `{port}`: what its clients and `.in` send goes to the serial.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use testarena_events::LogStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::board_health::BoardStatus;
use crate::boards_config::Serial;
use crate::console_lines::ConsoleLines;
use crate::log_batcher::LogSink;
use crate::serial_port::{self, Reader, Writer};

/// Bytes of recent output kept per board.
pub(crate) const RING_BYTES: usize = 64 * 1024;
/// Between two tries at opening the serial.
const REOPEN_EVERY: Duration = Duration::from_millis(200);

/// Longest a chunk waits to be handed to the NATS client.
const PUBLISH_WAIT: Duration = Duration::from_millis(100);

/// The log source of what a board prints.
pub(crate) const SOURCE: &str = "console";

/// A queue's log while it runs on the board, with its partial line.
struct Recorder {
    log: LogSink,
    lines: ConsoleLines,
}

pub(crate) struct Console {
    ring: Mutex<VecDeque<u8>>,
    recorder: Mutex<Option<Recorder>>,
    out: broadcast::Sender<Bytes>,
    input: mpsc::Sender<Bytes>,
    open: watch::Sender<bool>,
    /// The bridge's loopback port: the queue's `{port}`.
    pub bridge_port: u16,
}

/// What the console's task needs that the shared part does not keep.
pub(crate) struct ConsoleTask {
    pub console: Arc<Console>,
    pub serial: Serial,
    pub input: mpsc::Receiver<Bytes>,
    pub listener: tokio::net::TcpListener,
    pub status: Arc<BoardStatus>,
    pub publish: Option<(async_nats::Client, String)>,
}

impl ConsoleTask {
    /// The console and its task, the bridge bound on a free loopback port.
    pub(crate) async fn new(
        serial: Serial,
        status: Arc<BoardStatus>,
        publish: Option<(async_nats::Client, String)>,
    ) -> std::io::Result<ConsoleTask> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (input, input_rx) = mpsc::channel(64);
        let console = Arc::new(Console {
            ring: Mutex::new(VecDeque::with_capacity(RING_BYTES)),
            recorder: Mutex::new(None),
            out: broadcast::channel(1024).0,
            input,
            open: watch::channel(false).0,
            bridge_port: listener.local_addr()?.port(),
        });
        Ok(ConsoleTask {
            console,
            serial,
            input: input_rx,
            listener,
            status,
            publish,
        })
    }
}

impl Console {
    /// What the board printed lately, oldest first.
    pub(crate) fn tail(&self) -> Vec<u8> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter().copied().collect()
    }

    /// Everything read from now on.
    pub(crate) fn tap(&self) -> broadcast::Receiver<Bytes> {
        self.out.subscribe()
    }

    /// Whether the serial is open, and its changes.
    pub(crate) fn open_state(&self) -> watch::Receiver<bool> {
        self.open.subscribe()
    }

    /// Bytes for the board (dropped when its serial is closed).
    pub(crate) async fn send(&self, bytes: Bytes) {
        let _ = self.input.send(bytes).await;
    }

    /// From now on, lines read go to `log` too.
    pub(crate) fn record_into(&self, log: LogSink) {
        let mut recorder = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        *recorder = Some(Recorder {
            log,
            lines: ConsoleLines::default(),
        });
    }

    /// Ends the recording; the partial line is written first.
    pub(crate) async fn stop_recording(&self) {
        let taken = self
            .recorder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut recorder) = taken {
            if let Some(rest) = recorder.lines.flush() {
                recorder.log.line(SOURCE, LogStream::Stdout, rest).await;
            }
        }
    }

    /// One chunk read from the serial, to everyone who wants it.
    async fn read(&self, chunk: Bytes, publish: Option<&(async_nats::Client, String)>) {
        {
            let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            ring.extend(chunk.iter().copied());
            let over = ring.len().saturating_sub(RING_BYTES);
            ring.drain(..over);
        }
        if let Some((client, subject)) = publish {
            // Bounded: with NATS away, the serial is still read (ring, log).
            let publishing = client.publish(subject.clone(), chunk.clone());
            let _ = tokio::time::timeout(PUBLISH_WAIT, publishing).await;
        }
        let _ = self.out.send(chunk.clone());
        let lines = {
            let mut recorder = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
            recorder
                .as_mut()
                .map(|r| (r.log.clone(), r.lines.push(&chunk)))
        };
        if let Some((log, lines)) = lines {
            for line in lines {
                log.line(SOURCE, LogStream::Stdout, line).await;
            }
        }
    }
}

impl ConsoleTask {
    /// Keeps the serial open and the bridge listening until `shutdown`.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let ConsoleTask {
            console,
            serial,
            mut input,
            listener,
            status,
            publish,
        } = self;
        let bridge = tokio::spawn(bridge(listener, console.clone(), shutdown.clone()));
        loop {
            match serial_port::open(&serial).await {
                Ok((reader, writer)) => {
                    // What was sent while it was closed is not for now.
                    while input.try_recv().is_ok() {}
                    status.serial_opened();
                    console.open.send_replace(true);
                    let closed = pump(
                        &console,
                        (reader, writer),
                        &mut input,
                        publish.as_ref(),
                        &shutdown,
                    )
                    .await;
                    console.open.send_replace(false);
                    tracing::info!(board = %status.name(), %closed, "the board's serial closed; reopening");
                }
                Err(why) => status.serial_failed(why),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(REOPEN_EVERY) => {}
            }
        }
        bridge.abort();
    }
}

/// Reads the serial and writes what comes for it until it closes; why.
async fn pump(
    console: &Console,
    (mut reader, mut writer): (Reader, Writer),
    input: &mut mpsc::Receiver<Bytes>,
    publish: Option<&(async_nats::Client, String)>,
    shutdown: &CancellationToken,
) -> String {
    let mut buffer = vec![0u8; 4096];
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return "the worker is stopping".into(),
            read = reader.read(&mut buffer) => match read {
                Ok(0) => return "end of file".into(),
                Ok(n) => console.read(Bytes::copy_from_slice(&buffer[..n]), publish).await,
                Err(e) => return e.to_string(),
            },
            Some(bytes) = input.recv() => {
                if let Err(e) = writer.write_all(&bytes).await {
                    return format!("writing: {e}");
                }
            }
        }
    }
}

/// Accepts the bridge's clients until `shutdown`: each gets what the board
/// prints from then on, and what it sends goes to the board.
async fn bridge(
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
    shutdown: CancellationToken,
) {
    let mut clients = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let console = console.clone();
        clients.spawn(async move {
            let (mut read, mut write) = stream.into_split();
            let mut out = console.tap();
            let to_client = async move {
                loop {
                    match out.recv().await {
                        Ok(bytes) if write.write_all(&bytes).await.is_ok() => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        _ => return,
                    }
                }
            };
            let from_client = async {
                let mut buffer = vec![0u8; 1024];
                while let Ok(n @ 1..) = read.read(&mut buffer).await {
                    console.send(Bytes::copy_from_slice(&buffer[..n])).await;
                }
            };
            tokio::select! { _ = to_client => {}, _ = from_client => {} }
        });
        while clients.try_join_next().is_some() {}
    }
}

/// `<prefix>.console.<worker>.<board>.in` to the serial until `shutdown`.
pub(crate) async fn forward_input(
    client: async_nats::Client,
    subject: String,
    console: Arc<Console>,
    shutdown: CancellationToken,
) {
    let mut input = match client.subscribe(subject.clone()).await {
        Ok(input) => input,
        Err(e) => {
            tracing::error!(error = %e, %subject, "cannot follow the board's console input");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            message = input.next() => match message {
                Some(message) => console.send(message.payload).await,
                None => return,
            },
        }
    }
}
