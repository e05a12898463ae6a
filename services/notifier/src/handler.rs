//! One message of the consumer, in named steps: is it of interest, the
//! facts once the projector has applied it, the deliveries it owes, each
//! attempted unless its record says it is settled, then ack or nak with
//! the retry delay. A failure to read the views or the records is retried
//! like a failed delivery: the message comes back, nothing is lost.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use testarena_events::{now_rfc3339, ArenaNames, DeliveryState, QueueView, TestKey};
use testarena_views::{AppliedWatch, Views};

use crate::decide::{deliveries, Delivery, Setup};
use crate::facts::{is_new_failure, Facts, QueueFacts, QueueMoment};
use crate::interest::{interest, Interest};
use crate::records::Records;
use crate::retry::{is_last_chance, record_after, settle, superseded, Settle};
use crate::sender::Sender;

/// How long a message waits for the projector before it is retried.
const VIEW_WAIT: Duration = Duration::from_secs(10);
/// Runs of a test read to tell a new failure: this one and the one before
/// it (a later queue's run may already be there).
const RUNS_READ: u32 = 8;

pub(crate) struct Handler {
    pub names: ArenaNames,
    pub setup: Setup,
    pub views: Views,
    pub applied: AppliedWatch,
    pub records: Records,
    pub sender: Sender,
}

impl Handler {
    pub async fn handle(&self, message: jetstream::Message) {
        let ack = match self.settle_of(&message).await {
            Settle::Ack => AckKind::Ack,
            Settle::RetryAfter(delay) => AckKind::Nak(Some(delay)),
        };
        if let Err(e) = message.ack_with(ack).await {
            // Unacknowledged, it comes back after `ack_wait`: at least once.
            tracing::warn!(subject = %message.subject, error = %e, "could not acknowledge");
        }
    }

    async fn settle_of(&self, message: &jetstream::Message) -> Settle {
        let Ok(info) = message.info() else {
            return Settle::Ack;
        };
        let (seq, delivered) = (info.stream_sequence, info.delivered);
        let age = time::OffsetDateTime::now_utc() - info.published;
        if self.setup.is_empty() {
            return Settle::Ack;
        }
        let Some(interest) = interest(&self.names, &message.subject, &message.payload) else {
            return Settle::Ack;
        };
        let facts = match self.facts(seq, interest).await {
            Ok(Some(facts)) => facts,
            Ok(None) => return Settle::Ack,
            Err(e) => {
                tracing::warn!(seq, error = %format!("{e:#}"), "reading the views; retried");
                return settle(true, delivered);
            }
        };
        let last_chance = is_last_chance(age.unsigned_abs());
        let mut pending = false;
        for delivery in deliveries(seq, &facts, &self.setup) {
            let _ = message.ack_with(AckKind::Progress).await;
            match self.deliver(&delivery, last_chance).await {
                Ok(state) => pending |= !state.is_settled(),
                Err(e) => {
                    tracing::warn!(delivery = %delivery.id, error = %format!("{e:#}"), "retried");
                    pending = true;
                }
            }
        }
        settle(pending, delivered)
    }

    /// `None`: the queue or bisect is gone (deleted): nothing to say.
    async fn facts(&self, seq: u64, interest: Interest) -> anyhow::Result<Option<Facts>> {
        anyhow::ensure!(
            self.applied.wait_for(seq, VIEW_WAIT).await,
            "the projector has not applied sequence {seq} yet"
        );
        match interest {
            Interest::Queue { id, moment } => {
                let Some(view) = self.views.queue(&id).await? else {
                    return Ok(None);
                };
                let new_failures = match moment {
                    QueueMoment::Finished => self.new_failures(&view).await?,
                    _ => Vec::new(),
                };
                Ok(Some(Facts::Queue(QueueFacts {
                    moment,
                    view,
                    new_failures,
                })))
            }
            Interest::BisectEnded { id } => Ok(self.views.bisect(&id).await?.map(Facts::Bisect)),
        }
    }

    async fn new_failures(&self, view: &QueueView) -> anyhow::Result<Vec<String>> {
        let mut new = Vec::new();
        let facts = QueueFacts {
            moment: QueueMoment::Finished,
            view: view.clone(),
            new_failures: Vec::new(),
        };
        for task in facts.failing_tasks() {
            let profile = view.profile.as_deref().unwrap_or("");
            let key = TestKey::trusted(&view.source.repo, profile, &task, "");
            let runs = match self.views.test_history(&key, RUNS_READ).await? {
                Some(history) => history.runs,
                None => continue,
            };
            if is_new_failure(&view.id, &runs) {
                new.push(task);
            }
        }
        Ok(new)
    }

    /// One delivery's attempt, unless its record (or a later state's) says
    /// it is settled. Returns the state its record now holds.
    async fn deliver(
        &self,
        delivery: &Delivery,
        last_chance: bool,
    ) -> anyhow::Result<DeliveryState> {
        let previous = self.records.get(&delivery.id).await?;
        if let Some(settled) = previous.as_ref().filter(|p| p.state.is_settled()) {
            return Ok(settled.state);
        }
        if let Some(later) = &delivery.superseded_by {
            let later = self.records.get(later).await?;
            if later.is_some_and(|r| r.state == DeliveryState::Delivered) {
                self.records
                    .put(&superseded(delivery, &now_rfc3339()))
                    .await?;
                return Ok(DeliveryState::Superseded);
            }
        }
        let answer = self.sender.send(&delivery.request).await;
        let record = record_after(
            previous.as_ref(),
            delivery,
            &answer,
            last_chance,
            &now_rfc3339(),
        );
        tracing::info!(
            delivery = %record.id,
            target = %record.target,
            state = ?record.state,
            attempts = record.attempts,
            last_status = ?record.last_status,
            last_error = ?record.last_error,
            "delivery attempted"
        );
        self.records.put(&record).await?;
        Ok(record.state)
    }
}
