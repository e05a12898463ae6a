//! The delivery records in the KV bucket `<prefix>_notifications`: read
//! before an attempt (a settled delivery is never sent again), put after
//! it. A record that does not parse counts as absent: the delivery is
//! sent again rather than lost.

use async_nats::jetstream::kv;
use testarena_events::DeliveryRecord;

#[derive(Clone)]
pub struct Records {
    bucket: kv::Store,
}

impl Records {
    pub fn new(bucket: kv::Store) -> Self {
        Self { bucket }
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Option<DeliveryRecord>> {
        let value = self
            .bucket
            .get(id)
            .await
            .map_err(|e| anyhow::anyhow!("reading delivery record {id}: {e}"))?;
        Ok(value.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    pub async fn put(&self, record: &DeliveryRecord) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(record).expect("a record serializes");
        self.bucket
            .put(&record.id, bytes.into())
            .await
            .map_err(|e| anyhow::anyhow!("writing delivery record {}: {e}", record.id))?;
        Ok(())
    }
}
