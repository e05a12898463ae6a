//! A projector that cannot write its views (a full disk, a read-only
//! mount) stops applying and says so, instead of retrying in a loop of
//! warnings: one error line when the stall begins, its reason announced on
//! core NATS (`<prefix>.applied.<projector>.stalled`) at every retry so the
//! gateway's `/readyz` shows it, and one line once it applies again. Every
//! retry resumes from the committed offsets, so nothing is applied half-way.

use std::fmt;
use std::time::{Duration, Instant};

/// How long a stalled projector waits before trying its batch again.
pub(crate) const STALL_RETRY: Duration = Duration::from_secs(2);
/// How long a projector that lost its streams waits before following again.
const STREAM_RETRY: Duration = Duration::from_millis(500);

/// The context of an error writing a batch to the views (not reading the
/// streams): `follow` wraps each apply in it, so a retry can tell a stall.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotApplied {
    /// The committed offsets (events, logs) the failed batch came after.
    pub(crate) at: (u64, u64),
}

impl fmt::Display for NotApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stopped applying after events {} and logs {}",
            self.at.0, self.at.1
        )
    }
}

/// Whether the projector is stalled, and its announcements.
pub(crate) struct Stall {
    client: async_nats::Client,
    subject: String,
    /// Since when, while stalled.
    since: Option<Instant>,
}

impl Stall {
    pub(crate) fn new(client: async_nats::Client, subject: String) -> Self {
        Self {
            client,
            subject,
            since: None,
        }
    }

    pub(crate) fn is_stalled(&self) -> bool {
        self.since.is_some()
    }

    /// After `follow` failed: logs and announces a stall (the error line
    /// only when it begins), or warns of lost streams; how long to wait
    /// before following again.
    pub(crate) async fn after_failure(&mut self, error: &anyhow::Error) -> Duration {
        if error.downcast_ref::<NotApplied>().is_none() {
            tracing::warn!(
                "projector lost its streams: {error:#}; resuming from the committed offsets"
            );
            return STREAM_RETRY;
        }
        let reason = format!("projector {error:#}");
        if self.since.is_none() {
            tracing::error!(
                "{reason}; it retries every {}s and resumes from the committed offsets",
                STALL_RETRY.as_secs()
            );
            self.since = Some(Instant::now());
        }
        self.announce(reason).await;
        STALL_RETRY
    }

    /// `follow` has run a stall check's period without a failure: a stall
    /// is over (a failing batch fails again at once, so this is not luck).
    pub(crate) async fn applying(&mut self) {
        if let Some(since) = self.since.take() {
            let stalled_s = since.elapsed().as_secs();
            tracing::info!(stalled_s, "projector applying again after a stall");
            self.announce(String::new()).await;
        }
    }

    /// Core NATS, best effort: the gateway forgets a stall it has not heard
    /// of for a while, and the next retry announces it again.
    async fn announce(&self, reason: String) {
        if let Err(e) = self
            .client
            .publish(self.subject.clone(), reason.into())
            .await
        {
            tracing::debug!(error = %e, "could not announce the stall");
        }
    }
}
