//! Whether a file is stored as an artifact: a cap per file and one per run
//! of a queue. Over a cap the file is skipped (said in the log), never a
//! failed queue: artifacts are evidence, not the verdict.

/// The worker's artifact caps, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactCaps {
    pub per_file: u64,
    pub per_queue: u64,
}

impl Default for ArtifactCaps {
    fn default() -> Self {
        Self {
            per_file: 256 << 20,
            per_queue: 1 << 30,
        }
    }
}

/// What to do with one file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    Store,
    /// Why it is skipped, as the log line says it.
    Skip(String),
}

/// Bytes one run has stored so far, against its caps.
#[derive(Debug, Clone)]
pub(crate) struct QueueBudget {
    caps: ArtifactCaps,
    used: u64,
}

impl QueueBudget {
    pub(crate) fn new(caps: ArtifactCaps) -> Self {
        Self { caps, used: 0 }
    }

    /// Decides on a file and, when it is to be stored, counts it.
    pub(crate) fn admit(&mut self, name: &str, size: u64) -> Admission {
        if size > self.caps.per_file {
            return Admission::Skip(format!(
                "artifact {name} skipped: {size} bytes is over the per-file cap of {} bytes",
                self.caps.per_file
            ));
        }
        let after = self.used.saturating_add(size);
        if after > self.caps.per_queue {
            return Admission::Skip(format!(
                "artifact {name} skipped: {size} bytes would bring this queue to {after} bytes, over its cap of {} bytes",
                self.caps.per_queue
            ));
        }
        self.used = after;
        Admission::Store
    }

    /// Gives back what a file that could not be stored had reserved.
    pub(crate) fn release(&mut self, size: u64) {
        self.used = self.used.saturating_sub(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_file: u64, per_queue: u64) -> QueueBudget {
        QueueBudget::new(ArtifactCaps {
            per_file,
            per_queue,
        })
    }

    #[test]
    fn a_file_over_the_per_file_cap_is_skipped_and_costs_nothing() {
        let mut b = budget(10, 100);
        assert!(
            matches!(b.admit("big", 11), Admission::Skip(m) if m.contains("per-file cap of 10"))
        );
        assert_eq!(b.admit("ok", 10), Admission::Store);
    }

    #[test]
    fn the_queue_cap_counts_what_was_stored() {
        let mut b = budget(60, 100);
        assert_eq!(b.admit("a", 60), Admission::Store);
        assert!(matches!(b.admit("b", 41), Admission::Skip(m) if m.contains("cap of 100")));
        assert_eq!(b.admit("c", 40), Admission::Store);
        assert!(matches!(b.admit("d", 1), Admission::Skip(_)));
        b.release(40);
        assert_eq!(b.admit("e", 1), Admission::Store);
    }
}
