//! Metrics text another part of the process appends to the gateway's
//! `/metrics` (the in-process worker's, under `testarena up`).

use std::sync::Arc;

#[derive(Clone)]
pub struct ExtraMetrics(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for ExtraMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtraMetrics")
    }
}
