//! Whether a run's queue history is read yet. queue_run.rs reads it (an
//! earlier attempt's `finished`, a cancel, a delete) while the checkout
//! runs: that read is a round trip to NATS the first task would otherwise
//! wait for. The pipeline waits for it after the checkout, so nothing but
//! the checkout — which touches only this worker's cache — happens before
//! the history could stop the run.

use tokio::sync::watch;

/// The run's side: waits until the history is read.
#[derive(Clone)]
pub(crate) struct HistoryRead(watch::Receiver<bool>);

/// The reader's side: says it was read (its stop, if any, is already on
/// the run's signal).
pub(crate) struct HistoryReader(watch::Sender<bool>);

impl HistoryRead {
    /// A history still to be read by the returned reader.
    pub(crate) fn pending() -> (HistoryReader, Self) {
        let (read, wait) = watch::channel(false);
        (HistoryReader(read), Self(wait))
    }

    /// A history read before the run began.
    pub(crate) fn known() -> Self {
        Self(watch::channel(true).1)
    }

    /// Resolves once the history is read, or once its reader is gone
    /// without saying so (the run is being dropped then).
    pub(crate) async fn wait(&self) {
        let mut read = self.0.clone();
        let _ = read.wait_for(|read| *read).await;
    }
}

impl HistoryReader {
    pub(crate) fn done(self) {
        let _ = self.0.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_run_waits_until_the_reader_says_the_history_is_read() {
        let (reader, read) = HistoryRead::pending();
        let waiting = tokio::time::timeout(Duration::from_millis(50), read.wait()).await;
        assert!(waiting.is_err(), "it must not pass before the read");
        reader.done();
        tokio::time::timeout(Duration::from_secs(5), read.wait())
            .await
            .expect("it passes once read");
        tokio::time::timeout(Duration::from_secs(5), HistoryRead::known().wait())
            .await
            .expect("a known history never waits");
    }
}
