//! A firmware's size diff by symbol against the previous measured commit:
//! what `GET /api/queue/{id}/size-diff` serves and the queue page shows.
//! The diff itself is pure ([`size_diff`]). Each side holds the ELF's
//! largest symbols only (`MAX_FIRMWARE_SYMBOLS`), so a symbol that left
//! that set reads as shrunk to 0 and one that entered as grown from 0.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{FirmwareSize, SymbolSize};

/// Growers and shrinkers listed at most, each.
pub const SIZE_DIFF_TOP: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeDiff {
    pub queue_id: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub commit: Option<String>,
    /// The queue measured before it: the same repository and profile's
    /// nearest earlier commit (by first-parent depth, else by when it was
    /// measured); `null` when there is none.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub base: Option<SizeDiffBase>,
    /// Sections now minus sections then (0s without a base).
    pub text: i64,
    pub data: i64,
    pub bss: i64,
    /// The symbols that grew most, largest growth first (new ones too).
    pub growers: Vec<SymbolChange>,
    /// The symbols that shrank most, largest shrink first (gone ones too).
    pub shrinkers: Vec<SymbolChange>,
}

/// What the diff is against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SizeDiffBase {
    pub queue_id: String,
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SymbolChange {
    pub name: String,
    /// Bytes before (0: not among the base's symbols).
    pub before: u64,
    /// Bytes now (0: not among this firmware's symbols).
    pub after: u64,
    /// `after` - `before`.
    pub delta: i64,
}

/// One measured firmware: its sections and largest symbols.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measured {
    pub size: FirmwareSize,
    pub symbols: Vec<SymbolSize>,
}

/// How one firmware differs from another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizeChanges {
    pub text: i64,
    pub data: i64,
    pub bss: i64,
    pub growers: Vec<SymbolChange>,
    pub shrinkers: Vec<SymbolChange>,
}

/// Pure: the sections' deltas and the top [`SIZE_DIFF_TOP`] growers and
/// shrinkers of `now` against `before`, ties by name. Unchanged symbols are
/// left out; a name twice in a table (two static functions) is summed.
pub fn size_diff(now: &Measured, before: &Measured) -> SizeChanges {
    let (after, prior) = (by_name(now), by_name(before));
    let mut changes: Vec<SymbolChange> = after
        .keys()
        .chain(prior.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|name| {
            let (b, a) = (
                prior.get(name).copied().unwrap_or(0),
                after.get(name).copied().unwrap_or(0),
            );
            SymbolChange {
                name: (*name).to_owned(),
                before: b,
                after: a,
                delta: delta(a, b),
            }
        })
        .filter(|c| c.delta != 0)
        .collect();
    changes.sort_by(|x, y| y.delta.cmp(&x.delta).then_with(|| x.name.cmp(&y.name)));
    let growers: Vec<SymbolChange> = changes
        .iter()
        .filter(|c| c.delta > 0)
        .take(SIZE_DIFF_TOP)
        .cloned()
        .collect();
    let mut shrinkers: Vec<SymbolChange> = changes.into_iter().filter(|c| c.delta < 0).collect();
    shrinkers.sort_by(|x, y| x.delta.cmp(&y.delta).then_with(|| x.name.cmp(&y.name)));
    shrinkers.truncate(SIZE_DIFF_TOP);
    SizeChanges {
        text: delta(now.size.text, before.size.text),
        data: delta(now.size.data, before.size.data),
        bss: delta(now.size.bss, before.size.bss),
        growers,
        shrinkers,
    }
}

/// Bytes per symbol name; a name twice (two static functions) summed.
fn by_name(measured: &Measured) -> HashMap<&str, u64> {
    let mut map = HashMap::new();
    for s in &measured.symbols {
        *map.entry(s.name.as_str()).or_insert(0) += s.size;
    }
    map
}

fn delta(after: u64, before: u64) -> i64 {
    let wide = i128::from(after) - i128::from(before);
    wide.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(text: u64, symbols: &[(&str, u64)]) -> Measured {
        Measured {
            size: FirmwareSize {
                text,
                data: 4,
                bss: 8,
            },
            symbols: symbols
                .iter()
                .map(|(name, size)| SymbolSize {
                    name: (*name).into(),
                    size: *size,
                })
                .collect(),
        }
    }

    #[test]
    fn growers_and_shrinkers_are_ordered_by_how_much_and_unchanged_ones_left_out() {
        let before = measured(
            1000,
            &[("main", 100), ("uart_isr", 40), ("gone", 30), ("same", 5)],
        );
        let now = measured(
            1090,
            &[
                ("main", 160),
                ("uart_isr", 20),
                ("new_table", 64),
                ("same", 5),
            ],
        );
        let SizeChanges {
            text,
            data,
            growers,
            shrinkers,
            ..
        } = size_diff(&now, &before);
        assert_eq!((text, data), (90, 0));
        let names = |v: &[SymbolChange]| {
            v.iter()
                .map(|c| (c.name.clone(), c.delta))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&growers),
            [("new_table".into(), 64), ("main".into(), 60)]
        );
        assert_eq!(
            names(&shrinkers),
            [("gone".into(), -30), ("uart_isr".into(), -20)]
        );
        assert_eq!((growers[0].before, growers[0].after), (0, 64));
        assert_eq!((shrinkers[0].before, shrinkers[0].after), (30, 0));
    }

    #[test]
    fn at_most_twenty_each_and_a_name_twice_counts_once_summed() {
        let many: Vec<(String, u64)> = (0..30).map(|i| (format!("f{i:02}"), 10 + i)).collect();
        let now_symbols: Vec<(&str, u64)> = many.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let SizeChanges {
            growers, shrinkers, ..
        } = size_diff(&measured(0, &now_symbols), &measured(0, &[]));
        assert_eq!(growers.len(), SIZE_DIFF_TOP);
        assert_eq!(growers[0].name, "f29");
        assert!(shrinkers.is_empty());
        let growers = size_diff(
            &measured(0, &[("s", 3), ("s", 4)]),
            &measured(0, &[("s", 5)]),
        )
        .growers;
        assert_eq!(
            growers[0].delta, 2,
            "two static symbols of one name are one line"
        );
    }
}
