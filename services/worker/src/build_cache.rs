//! The build cache's decisions, pure: which key a build's outputs are kept
//! under, and which entries go when the cache is over its age or size.
//! `build_cache_store` does the copying and locking around them.
//!
//! The key hashes the profile's *templates* (build command, `env`), not
//! the values a run substitutes into them: `{port}`, `{queue_id}` and
//! `{workdir}` change from queue to queue without changing what the build
//! makes, so hashing them would make every queue a miss. A build whose
//! outputs do depend on them must not name `build_outputs`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// What a build's outputs depend on, as far as the worker can tell.
pub(crate) struct KeyInputs<'a> {
    pub repo: &'a str,
    pub commit: &'a str,
    pub profile: &'a str,
    /// The build command as the profile writes it, placeholders unfilled.
    pub build_command: &'a str,
    /// The profile's `env`, placeholders unfilled.
    pub env: &'a BTreeMap<String, String>,
    /// The `build_outputs` globs: another set of globs restores other files.
    pub outputs: &'a [String],
}

/// A build cache key: 64 hex digits of SHA-256, so it is a folder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildKey(String);

impl BuildKey {
    pub(crate) fn of(inputs: &KeyInputs<'_>) -> Self {
        let mut hash = Sha256::new();
        // Each field length-prefixed, so no two inputs hash the same bytes.
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(b"testarena build cache v1");
        field(inputs.repo.as_bytes());
        field(inputs.commit.as_bytes());
        field(inputs.profile.as_bytes());
        field(inputs.build_command.as_bytes());
        for (name, value) in inputs.env {
            field(name.as_bytes());
            field(value.as_bytes());
        }
        field(b"outputs");
        for glob in inputs.outputs {
            field(glob.as_bytes());
        }
        let digest = hash.finalize();
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits: enough to tell keys apart in a log line.
    pub(crate) fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// One entry of the cache as the eviction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    pub bytes: u64,
    pub last_use: SystemTime,
    /// A queue restores or fills it right now: it stays, whatever its age.
    pub in_use: bool,
}

/// How much the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub max_bytes: u64,
    /// Entries unused for longer go (`--cache-max-age-days`); `None` keeps them.
    pub max_age: Option<Duration>,
}

/// The keys to remove: every entry unused for `max_age`, then the least
/// recently used ones until the rest fits in `max_bytes`. An entry in use
/// is never chosen, though its bytes count.
pub(crate) fn to_evict(entries: &[Entry], bounds: Bounds, now: SystemTime) -> Vec<String> {
    let mut by_age: Vec<&Entry> = entries.iter().collect();
    by_age.sort_by_key(|e| e.last_use);
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    let too_old = |e: &Entry| {
        bounds
            .max_age
            .is_some_and(|age| now.duration_since(e.last_use).is_ok_and(|idle| idle > age))
    };
    let mut evicted = Vec::new();
    for entry in by_age {
        if entry.in_use || !(too_old(entry) || total > bounds.max_bytes) {
            continue;
        }
        total -= entry.bytes;
        evicted.push(entry.key.clone());
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(env: &'a BTreeMap<String, String>, outputs: &'a [String]) -> KeyInputs<'a> {
        KeyInputs {
            repo: "https://example.com/fw.git",
            commit: "9fceb02d0ae598e95dc970b74767f19372d61af8",
            profile: "qemu-arm",
            build_command: "make -C firmware",
            env,
            outputs,
        }
    }

    #[test]
    fn the_key_changes_with_what_the_outputs_depend_on_only() {
        let env = BTreeMap::from([("DUT_PORT".to_owned(), "{port}".to_owned())]);
        let outputs = ["firmware/build/fw.elf".to_owned()];
        let key = BuildKey::of(&inputs(&env, &outputs));
        assert_eq!(key.as_str().len(), 64);
        assert_eq!(key.short().len(), 12);
        assert_eq!(key, BuildKey::of(&inputs(&env, &outputs)), "stable");

        let changed = [
            KeyInputs {
                commit: "0000000000000000000000000000000000000000",
                ..inputs(&env, &outputs)
            },
            KeyInputs {
                build_command: "make -C firmware DEBUG=1",
                ..inputs(&env, &outputs)
            },
            KeyInputs {
                profile: "esp-idf",
                ..inputs(&env, &outputs)
            },
            KeyInputs {
                repo: "https://example.com/other.git",
                ..inputs(&env, &outputs)
            },
        ];
        for other in changed {
            assert_ne!(key, BuildKey::of(&other));
        }
        let other_env = BTreeMap::from([("DUT_PORT".to_owned(), "4000".to_owned())]);
        assert_ne!(key, BuildKey::of(&inputs(&other_env, &outputs)));
        let more_outputs = [outputs[0].clone(), "firmware/build/fw.map".into()];
        assert_ne!(key, BuildKey::of(&inputs(&env, &more_outputs)));
    }

    #[test]
    fn fields_do_not_run_into_each_other() {
        let env = BTreeMap::new();
        let a = KeyInputs {
            profile: "ab",
            build_command: "c",
            ..inputs(&env, &[])
        };
        let b = KeyInputs {
            profile: "a",
            build_command: "bc",
            ..inputs(&env, &[])
        };
        assert_ne!(BuildKey::of(&a), BuildKey::of(&b));
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn entry(key: &str, bytes: u64, hours_ago: u32, in_use: bool) -> Entry {
        Entry {
            key: key.into(),
            bytes,
            last_use: SystemTime::UNIX_EPOCH + 1000 * HOUR - hours_ago * HOUR,
            in_use,
        }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + 1000 * HOUR
    }

    #[test]
    fn over_the_size_bound_the_least_recently_used_go_first() {
        let entries = [
            entry("newest", 40, 1, false),
            entry("oldest", 30, 9, false),
            entry("middle", 50, 5, false),
        ];
        let bounds = |max_bytes| Bounds {
            max_bytes,
            max_age: None,
        };
        assert!(to_evict(&entries, bounds(120), now()).is_empty());
        assert_eq!(to_evict(&entries, bounds(119), now()), ["oldest"]);
        assert_eq!(to_evict(&entries, bounds(60), now()), ["oldest", "middle"]);
        assert_eq!(
            to_evict(&entries, bounds(0), now()),
            ["oldest", "middle", "newest"]
        );
    }

    #[test]
    fn entries_in_use_stay_but_count() {
        let entries = [
            entry("old-in-use", 100, 9, true),
            entry("recent", 10, 1, false),
        ];
        let bounds = Bounds {
            max_bytes: 50,
            max_age: Some(HOUR),
        };
        assert_eq!(to_evict(&entries, bounds, now()), ["recent"]);
    }

    #[test]
    fn entries_unused_for_the_age_go_whatever_the_size() {
        let entries = [entry("stale", 1, 48, false), entry("fresh", 1, 2, false)];
        let bounds = Bounds {
            max_bytes: u64::MAX,
            max_age: Some(24 * HOUR),
        };
        assert_eq!(to_evict(&entries, bounds, now()), ["stale"]);
    }
}
