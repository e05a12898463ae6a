//! The worker's Prometheus metrics: stage and task durations, task results,
//! busy slots, log bytes and lines dropped past the cap. Rendered by the
//! worker's own `/metrics` (`--metrics-listen`) or, under `testarena up`, by
//! the gateway's.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StageLabel {
    pub stage: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub result: String,
}

#[derive(Debug)]
pub struct WorkerMetrics {
    registry: Registry,
    pub(crate) stage_seconds: Family<StageLabel, Histogram>,
    pub(crate) task_seconds: Family<ResultLabel, Histogram>,
    pub(crate) tasks: Family<ResultLabel, Counter>,
    pub(crate) busy_slots: Gauge,
    pub(crate) slots: Gauge,
    pub(crate) log_bytes: Counter<u64, AtomicU64>,
    pub(crate) log_lines: Counter<u64, AtomicU64>,
    pub(crate) dropped_lines: Counter<u64, AtomicU64>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let stage_seconds = Family::<StageLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.5, 14))
        });
        let task_seconds = Family::<ResultLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.5, 14))
        });
        let mut metrics = Self {
            registry: Registry::with_prefix("testarena_worker"),
            stage_seconds,
            task_seconds,
            tasks: Family::default(),
            busy_slots: Gauge::default(),
            slots: Gauge::default(),
            log_bytes: Counter::default(),
            log_lines: Counter::default(),
            dropped_lines: Counter::default(),
        };
        let r = &mut metrics.registry;
        r.register(
            "stage_duration_seconds",
            "Duration of checkout, build, boot and teardown stages",
            metrics.stage_seconds.clone(),
        );
        r.register(
            "task_duration_seconds",
            "Duration of tasks by result",
            metrics.task_seconds.clone(),
        );
        r.register("tasks", "Tasks finished by result", metrics.tasks.clone());
        r.register(
            "busy_slots",
            "Queues running in this worker now",
            metrics.busy_slots.clone(),
        );
        r.register(
            "slots",
            "Queues this worker may run at once (--concurrency)",
            metrics.slots.clone(),
        );
        r.register(
            "log_bytes",
            "Log bytes published",
            metrics.log_bytes.clone(),
        );
        r.register(
            "log_lines",
            "Log lines published",
            metrics.log_lines.clone(),
        );
        r.register(
            "log_dropped_lines",
            "Lines counted but not stored past the per-command log cap",
            metrics.dropped_lines.clone(),
        );
        metrics
    }
}

impl WorkerMetrics {
    /// The metrics in the OpenMetrics text format, without the `# EOF` line
    /// (so a caller can append other registries).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        out
    }
}
