//! `testarena console W/B`: a board's serial in this terminal, over the
//! gateway's console WebSocket. The terminal goes raw (`raw_terminal.rs`);
//! stdin goes to the socket (the gateway drops it unless this token holds
//! the board's reservation, and says so once), the socket's bytes go to
//! stdout and its notices to stderr. `Ctrl-]` leaves, as in telnet.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use futures_util::{SinkExt, StreamExt};
use testarena_events::BoardRef;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use super::api_client::{ApiClient, ClientError};
use super::raw_terminal::RawTerminal;

/// `Ctrl-]`.
const ESCAPE: u8 = 0x1d;

pub async fn run(client: &ApiClient, board: &BoardRef) -> Result<ExitCode, ClientError> {
    let (url, token) = client.console(board);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::Usage(format!("console URL {url}: {e}")))?;
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ClientError::Usage("the token is not a valid header value".into()))?;
        request.headers_mut().insert("authorization", value);
    }
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| refused(client, e))?;
    let raw = RawTerminal::enter();
    eprint!("[console of {board}; Ctrl-] leaves]\r\n");
    let (stdin, input) = StdinReader::start();
    let outcome = bridge(socket, input).await;
    stdin.stop();
    drop(raw);
    eprintln!("\r\n[left the console of {board}]");
    outcome.map(|()| ExitCode::SUCCESS)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Until `Ctrl-]` or the gateway closes: stdin → socket, socket → stdout.
/// A piped stdin that ends leaves the output running.
async fn bridge(socket: Socket, mut input: mpsc::Receiver<Vec<u8>>) -> Result<(), ClientError> {
    let (mut to_gateway, mut from_gateway) = socket.split();
    let mut input_open = true;
    let lost =
        |e: tungstenite::Error| ClientError::Usage(format!("the console connection ended: {e}"));
    loop {
        tokio::select! {
            chunk = input.recv(), if input_open => match chunk {
                Some(bytes) => {
                    let (send, leave) = split_at_escape(&bytes);
                    if !send.is_empty() {
                        to_gateway.send(Message::binary(send.to_vec())).await.map_err(lost)?;
                    }
                    if leave {
                        let _ = to_gateway.send(Message::Close(None)).await;
                        return Ok(());
                    }
                }
                None => input_open = false,
            },
            message = from_gateway.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&bytes).and_then(|()| out.flush());
                }
                Some(Ok(Message::Text(text))) => eprint!("{}", notice_line(text.as_str())),
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(lost(e)),
            },
        }
    }
}

/// Pure: what of a chunk of keys to send, and whether it held `Ctrl-]`
/// (what follows it is not sent).
fn split_at_escape(bytes: &[u8]) -> (&[u8], bool) {
    match bytes.iter().position(|b| *b == ESCAPE) {
        Some(at) => (&bytes[..at], true),
        None => (bytes, false),
    }
}

/// Pure: a gateway text frame (`{"type":"hello"|"notice",...}`) as a
/// line for stderr, in raw mode (`\r\n`).
fn notice_line(text: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let line = match value["type"].as_str() {
        Some("hello") => format!(
            "connected as {}: {}",
            value["token"].as_str().unwrap_or("?"),
            value["mode"].as_str().unwrap_or("?")
        ),
        Some("notice") => value["message"].as_str().unwrap_or(text).to_owned(),
        _ => text.to_owned(),
    };
    format!("\r\n[{line}]\r\n")
}

/// A refused upgrade is the API's answer (404 unknown board, 401/403
/// token); anything else, the server could not be reached.
fn refused(client: &ApiClient, error: tungstenite::Error) -> ClientError {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref().unwrap_or_default();
            let message = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            ClientError::Api {
                status: response.status().as_u16(),
                message,
            }
        }
        other => ClientError::Unreachable {
            server: client.base().to_owned(),
            message: other.to_string(),
        },
    }
}

/// Reads stdin on a thread of its own (a blocking read cannot be
/// cancelled; `poll` with a short timeout lets `stop` end and join it).
struct StdinReader {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl StdinReader {
    /// The reader and the chunks it reads.
    fn start() -> (Self, mpsc::Receiver<Vec<u8>>) {
        let (sender, receiver) = mpsc::channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || read_stdin(&sender, &stop)
        });
        (Self { stop, thread }, receiver)
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn read_stdin(sender: &mpsc::Sender<Vec<u8>>, stop: &AtomicBool) {
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let mut fd = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own; read into our buffer, within its length.
        let ready = unsafe { libc::poll(&mut fd, 1, 100) };
        if ready <= 0 {
            continue;
        }
        let n = unsafe { libc::read(libc::STDIN_FILENO, buffer.as_mut_ptr().cast(), buffer.len()) };
        if n <= 0 || sender.blocking_send(buffer[..n as usize].to_vec()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_close_bracket_leaves_and_what_follows_it_is_not_sent() {
        assert_eq!(split_at_escape(b"help\r"), (&b"help\r"[..], false));
        assert_eq!(split_at_escape(b"ab\x1dcd"), (&b"ab"[..], true));
        assert_eq!(split_at_escape(b"\x1d"), (&b""[..], true));
    }

    #[test]
    fn the_gateways_text_frames_read_as_lines() {
        let hello =
            r#"{"type":"hello","worker":"w1","board":"b1","mode":"read-only","token":"bob"}"#;
        assert_eq!(notice_line(hello), "\r\n[connected as bob: read-only]\r\n");
        let notice = r#"{"type":"notice","message":"read-only: your input is not sent"}"#;
        assert_eq!(
            notice_line(notice),
            "\r\n[read-only: your input is not sent]\r\n"
        );
        assert_eq!(notice_line("plain"), "\r\n[plain]\r\n");
    }
}
