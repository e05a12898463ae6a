//! `--auto-quarantine`: a test that turns `flaky` is quarantined, by an
//! event the projector publishes (`quarantined`, `by: "auto"`), so it is a
//! change of state like a user's and a rebuild restores it from the stream.
//! A `failing` test is never quarantined: it is broken, not flaky. Pure: the
//! runner publishes what [`AutoQuarantine::decide`] returns, after a batch
//! commits, only while following (a rebuild replays the events it
//! published before).

use std::collections::HashSet;

use testarena_events::{TestEvent, TestEventBody, TestKey, TestState, WindowFigures};

use crate::test_history::TestHistory;

#[derive(Debug)]
pub(crate) struct AutoQuarantine {
    flaky_flip_rate: f64,
    /// Asked for and not folded yet: not asked again meanwhile.
    asked: HashSet<TestKey>,
}

impl AutoQuarantine {
    pub(crate) fn new(flaky_flip_rate: f64) -> Self {
        Self {
            flaky_flip_rate,
            asked: HashSet::new(),
        }
    }

    /// The quarantines to publish for the tests whose figures a batch
    /// changed: each one now `flaky` that is not quarantined yet.
    pub(crate) fn decide(
        &mut self,
        changed: &[(TestKey, WindowFigures)],
        history: &TestHistory,
    ) -> Vec<TestEvent> {
        self.asked.retain(|key| !history.is_quarantined(key));
        let mut events = Vec::new();
        for (key, figures) in changed {
            let flaky = figures.state(self.flaky_flip_rate) == TestState::Flaky;
            if !flaky || history.is_quarantined(key) || !self.asked.insert(key.clone()) {
                continue;
            }
            let reason = format!(
                "auto: flaky over its last {} runs (flip rate {:.2}, {} passed on a retry)",
                figures.runs, figures.flip_rate, figures.flaky_runs
            );
            events.push(TestEvent::new(
                key.clone(),
                TestEventBody::Quarantined {
                    reason,
                    by: "auto".into(),
                    actor: None,
                },
            ));
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(failing_streak: u32, flaky_runs: u32, flip_rate: f64) -> WindowFigures {
        WindowFigures {
            runs: 10,
            failing_streak,
            flaky_runs,
            flip_rate,
            ..Default::default()
        }
    }

    #[test]
    fn a_flaky_test_is_quarantined_once_and_a_failing_one_never() {
        let flaky = TestKey::trusted("/r", "", "uart", "");
        let broken = TestKey::trusted("/r", "", "boot", "");
        let steady = TestKey::trusted("/r", "", "adc", "");
        let changed = vec![
            (flaky.clone(), figures(0, 1, 0.1)),
            (broken.clone(), figures(3, 1, 0.5)),
            (steady.clone(), figures(0, 0, 0.0)),
        ];
        let mut auto = AutoQuarantine::new(0.2);
        let history = TestHistory::default();
        let events = auto.decide(&changed, &history);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].test, flaky);
        assert!(matches!(&events[0].body, TestEventBody::Quarantined { by, .. } if by == "auto"));
        assert!(
            auto.decide(&changed, &history).is_empty(),
            "asked once until folded"
        );
    }

    #[test]
    fn a_test_already_quarantined_is_left_alone() {
        let key = TestKey::trusted("/r", "", "uart", "");
        let history = TestHistory::from_rows([key.clone()], [key.clone()]);
        let mut auto = AutoQuarantine::new(0.2);
        assert!(auto
            .decide(&[(key, figures(0, 2, 0.4))], &history)
            .is_empty());
    }
}
