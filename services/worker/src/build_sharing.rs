//! One build per sharded queue, decided from the queue's events: the first
//! shard to reach the build stage claims the build (`build_claimed`,
//! conditional, so one claim is stored) and builds; the others wait for
//! the claimer's build stage and restore its outputs, or end as its build
//! did. Pure; `build_claims.rs` reads the events and publishes the claim.

use testarena_events::{Event, EventBody, Stage, StageOutcome};

/// The stored claim of the queue's build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Claim {
    /// Stream sequence of the `build_claimed` event: a take-over is
    /// conditional on it.
    seq: u64,
    shard: u8,
    attempt: u32,
}

/// How the claimer's build stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Built {
    Ok,
    Failed(String),
    /// Stopped before it ended (its worker shut down): someone else builds.
    Stopped,
}

/// The queue's build as its events tell it.
#[derive(Debug, Default)]
pub(crate) struct BuildClaims {
    claim: Option<Claim>,
    /// The end of the claimer's build stage, when it came after the claim.
    built: Option<Built>,
}

/// What a shard does at its build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nobody builds (no claim yet, a claim of this shard's own dead
    /// attempt, or a stopped build): claim it, conditional on the build
    /// subject's last sequence being `expected_last`, then build.
    Claim { expected_last: u64 },
    /// Another shard builds right now: wait for its build stage to end.
    Wait { shard: u8 },
    /// The claimer's build succeeded: restore its outputs.
    Restore { shard: u8 },
    /// The claimer's build failed: this shard ends as it did.
    Fail { shard: u8, reason: String },
}

impl BuildClaims {
    /// Folds one of the queue's events, stored at stream sequence `seq`.
    pub(crate) fn apply(&mut self, seq: u64, event: &Event) {
        let Some(shard) = event.shard else {
            return;
        };
        match &event.body {
            EventBody::BuildClaimed { attempt, .. } => {
                let attempt = *attempt;
                self.claim = Some(Claim {
                    seq,
                    shard,
                    attempt,
                });
                self.built = None;
            }
            EventBody::StageFinished {
                stage: Stage::Build,
                outcome,
                message,
                ..
            } if self.is_claimers_first_end(seq, shard) => {
                self.built = Some(built(*outcome, message.as_deref()));
            }
            _ => {}
        }
    }

    fn is_claimers_first_end(&self, seq: u64, shard: u8) -> bool {
        self.built.is_none() && self.claim.is_some_and(|c| c.shard == shard && seq > c.seq)
    }

    /// What shard `shard`, in its attempt `attempt`, does now.
    pub(crate) fn next(&self, shard: u8, attempt: u32) -> Next {
        let Some(claim) = self.claim else {
            return Next::Claim { expected_last: 0 };
        };
        let take_over = Next::Claim {
            expected_last: claim.seq,
        };
        match &self.built {
            Some(Built::Ok) => Next::Restore { shard: claim.shard },
            Some(Built::Failed(reason)) => Next::Fail {
                shard: claim.shard,
                reason: reason.clone(),
            },
            Some(Built::Stopped) => take_over,
            // An earlier attempt of this very shard claimed it and died.
            None if claim.shard == shard && claim.attempt < attempt => take_over,
            None => Next::Wait { shard: claim.shard },
        }
    }

    /// The claim to take over when the claimer's build ran past the wait's
    /// bound: conditional on it still being the last one.
    pub(crate) fn take_over(&self) -> Next {
        Next::Claim {
            expected_last: self.claim.map_or(0, |c| c.seq),
        }
    }
}

fn built(outcome: StageOutcome, message: Option<&str>) -> Built {
    match outcome {
        StageOutcome::Ok | StageOutcome::Cached | StageOutcome::Shared => Built::Ok,
        StageOutcome::Failed => Built::Failed(message.unwrap_or("the build failed").to_owned()),
        StageOutcome::Cancelled | StageOutcome::Skipped => Built::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testarena_events::QueueId;

    fn event(shard: u8, body: EventBody) -> Event {
        Event::new(QueueId::parse("q").unwrap(), body).of_shard(Some(shard))
    }

    fn claimed(shard: u8, attempt: u32) -> Event {
        let key = "ab".repeat(32);
        event(shard, EventBody::BuildClaimed { attempt, key })
    }

    fn build_end(shard: u8, outcome: StageOutcome, message: Option<&str>) -> Event {
        let body = EventBody::StageFinished {
            stage: Stage::Build,
            attempt: 1,
            outcome,
            duration_ms: 5,
            commit: None,
            commit_context: None,
            message: message.map(str::to_owned),
        };
        event(shard, body)
    }

    #[test]
    fn the_first_shard_claims_and_the_others_wait_then_restore() {
        let mut claims = BuildClaims::default();
        assert_eq!(claims.next(1, 1), Next::Claim { expected_last: 0 });
        claims.apply(10, &claimed(0, 1));
        assert_eq!(claims.next(1, 1), Next::Wait { shard: 0 });
        claims.apply(11, &build_end(1, StageOutcome::Ok, None));
        assert_eq!(
            claims.next(1, 1),
            Next::Wait { shard: 0 },
            "not the claimer's build"
        );
        claims.apply(12, &build_end(0, StageOutcome::Ok, None));
        assert_eq!(claims.next(1, 1), Next::Restore { shard: 0 });
    }

    #[test]
    fn a_failed_build_ends_the_waiting_shards_with_its_reason() {
        let mut claims = BuildClaims::default();
        claims.apply(3, &claimed(2, 1));
        let reason = "build failed: exit 2";
        claims.apply(9, &build_end(2, StageOutcome::Failed, Some(reason)));
        let fail = Next::Fail {
            shard: 2,
            reason: reason.to_owned(),
        };
        assert_eq!(claims.next(0, 1), fail);
    }

    #[test]
    fn a_claim_of_a_dead_attempt_or_a_stopped_build_is_taken_over() {
        let mut claims = BuildClaims::default();
        claims.apply(4, &claimed(0, 1));
        assert_eq!(claims.next(0, 2), Next::Claim { expected_last: 4 });
        assert_eq!(claims.next(1, 1), Next::Wait { shard: 0 });
        claims.apply(6, &build_end(0, StageOutcome::Cancelled, None));
        assert_eq!(claims.next(1, 1), Next::Claim { expected_last: 4 });
        claims.apply(7, &claimed(1, 1));
        assert_eq!(
            claims.next(0, 2),
            Next::Wait { shard: 1 },
            "a new claim, a new build"
        );
        assert_eq!(claims.take_over(), Next::Claim { expected_last: 7 });
    }

    #[test]
    fn a_build_end_before_the_claim_is_not_the_claimers() {
        let mut claims = BuildClaims::default();
        claims.apply(2, &build_end(0, StageOutcome::Failed, Some("old")));
        claims.apply(5, &claimed(0, 2));
        assert_eq!(claims.next(1, 1), Next::Wait { shard: 0 });
    }
}
