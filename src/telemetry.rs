//! Sets up `tracing` once per process: human-readable by default, JSON lines
//! with `--log-format json`, filtered by `RUST_LOG` (default `info`). Colours
//! only on a terminal: a log written to a file or a pipe stays plain text.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub(crate) fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,async_nats=warn,sqlx=warn,poem=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}
