//! The firmware sizes history: one row per queue whose shown attempt
//! measured its ELF, picked from a folded batch (pure), so `--rebuild`
//! writes the same rows. Table `firmware_sizes`.

use std::collections::HashMap;

use testarena_events::{Event, EventBody, SymbolSize};

use crate::event_batch::QueueFold;

/// A queue's measured firmware, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct SizeRow {
    pub queue_id: String,
    pub repo: String,
    pub profile: String,
    pub commit: Option<String>,
    pub text: u64,
    pub data: u64,
    pub bss: u64,
    /// The commit's first-parent depth (commit_context), its place on the
    /// Sizes page's x-axis.
    pub commit_depth: Option<u64>,
    pub flash_budget: Option<u64>,
    pub ram_budget: Option<u64>,
    /// The ELF's largest symbols, for the size diff.
    pub symbols: Vec<SymbolSize>,
    pub measured_at: String,
    pub seq: u64,
}

/// The rows a batch measured: each `firmware_measured` that its queue's
/// view took (same attempt, the view still shows those sizes), the last one
/// per queue.
pub(crate) fn measured(folds: &[(String, QueueFold)], events: &[(u64, Event)]) -> Vec<SizeRow> {
    let views: HashMap<&str, &QueueFold> = folds.iter().map(|(id, f)| (id.as_str(), f)).collect();
    let mut rows: Vec<SizeRow> = Vec::new();
    for (seq, event) in events {
        let EventBody::FirmwareMeasured {
            attempt,
            profile,
            size,
            budget,
            symbols,
        } = &event.body
        else {
            continue;
        };
        let Some(QueueFold::Live {
            view: Some(view), ..
        }) = views.get(event.queue_id.as_str())
        else {
            continue;
        };
        if view.attempt != *attempt || view.firmware != Some(*size) {
            continue;
        }
        rows.retain(|row| row.queue_id != view.id);
        rows.push(SizeRow {
            queue_id: view.id.clone(),
            repo: view.source.repo.clone(),
            profile: profile.to_string(),
            commit: view.commit.clone(),
            text: size.text,
            data: size.data,
            bss: size.bss,
            commit_depth: view.commit_context.as_ref().map(|c| c.first_parent_depth),
            flash_budget: budget.and_then(|b| b.flash_bytes),
            ram_budget: budget.and_then(|b| b.ram_bytes),
            symbols: symbols.clone(),
            measured_at: event.at.clone(),
            seq: *seq,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use testarena_events::{FirmwareSize, ProfileName, QueueId, Source};

    use super::*;
    use crate::event_batch::fold_batch;
    use crate::expected_durations::ExpectedDurations;

    fn event(queue: &str, body: EventBody) -> Event {
        Event::new(QueueId::parse(queue).unwrap(), body)
    }

    fn measured_event(queue: &str, attempt: u32, text: u64) -> Event {
        event(
            queue,
            EventBody::FirmwareMeasured {
                attempt,
                profile: ProfileName::parse("qemu-arm").unwrap(),
                size: FirmwareSize {
                    text,
                    data: 8,
                    bss: 16,
                },
                budget: None,
                symbols: vec![SymbolSize {
                    name: "main".into(),
                    size: text / 2,
                }],
            },
        )
    }

    fn fold(events: Vec<Event>) -> Vec<SizeRow> {
        let events: Vec<(u64, Event)> = (1..).zip(events).collect();
        let order = crate::event_batch::queues_in_order(&events);
        let ledgers = crate::event_batch::Ledgers {
            durations: &mut ExpectedDurations::default(),
            history: &mut crate::test_history::TestHistory::default(),
        };
        let folds = fold_batch(order, HashMap::new(), &events, &[], ledgers);
        measured(&folds, &events)
    }

    #[test]
    fn the_last_measure_of_the_shown_attempt_is_the_queues_row() {
        let submitted = event(
            "q",
            EventBody::submitted(Source::parse("/repo", "main").unwrap(), None, Vec::new()),
        );
        let started = |attempt| {
            event(
                "q",
                EventBody::Started {
                    worker: "w".into(),
                    attempt,
                },
            )
        };
        let rows = fold(vec![
            submitted,
            started(1),
            measured_event("q", 1, 100),
            started(2),
            measured_event("q", 1, 999),
            measured_event("q", 2, 200),
            measured_event("unknown", 1, 5),
        ]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].text, rows[0].seq), (200, 6));
        assert_eq!(rows[0].profile, "qemu-arm");
        assert_eq!(rows[0].repo, "/repo");
        assert_eq!(rows[0].symbols[0].size, 100);
    }
}
