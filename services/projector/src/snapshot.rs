//! Snapshots of the views: a consistent copy of the SQLite database
//! (`VACUUM INTO`), whose `projector_offsets` say which stream sequences it
//! reflects, kept in the Object Store bucket `<PREFIX>_SNAPSHOTS` so a new
//! host reaches it. `--rebuild` restores the newest and replays only what
//! follows its events sequence; with `--retention-days`, an expired queue's
//! history is in the snapshots alone.
//!
//! A snapshot is named `views-<events seq>-<logs seq>.sqlite`, both padded,
//! so names sort by age. Only after a put completes are older ones past the
//! newest [`KEEP`] deleted: a projector killed while writing one leaves the
//! previous ones whole (an object store shows an object only once its
//! metadata, written after the last chunk, is stored).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use async_nats::jetstream::{
    self,
    object_store::{ObjectMetadata, ObjectStore},
};
use futures_util::StreamExt;
use sqlx::SqlitePool;
use testarena_events::ArenaNames;

use crate::store::{self, EVENTS_OFFSET, LOGS_OFFSET};

/// Snapshots kept in the bucket: the newest and two before it.
pub(crate) const KEEP: usize = 3;
/// As the artifacts' and builds' chunks: well inside a cluster's max payload.
const CHUNK_BYTES: usize = 256 << 10;
const NAME_PREFIX: &str = "views-";

/// The stream sequences a snapshot reflects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Offsets {
    pub events: u64,
    pub logs: u64,
}

impl Offsets {
    /// The object's name.
    pub(crate) fn name(&self) -> String {
        format!("{NAME_PREFIX}{:020}-{:020}.sqlite", self.events, self.logs)
    }

    /// Pure: the offsets a name of [`Offsets::name`]'s form says; `None`
    /// for any other object.
    pub(crate) fn of_name(name: &str) -> Option<Self> {
        let rest = name.strip_prefix(NAME_PREFIX)?.strip_suffix(".sqlite")?;
        let (events, logs) = rest.split_once('-')?;
        Some(Self {
            events: events.parse().ok()?,
            logs: logs.parse().ok()?,
        })
    }
}

/// Pure: of the snapshots' names, the newest (by events sequence) and the
/// ones to delete (all but the newest `keep`).
pub(crate) fn newest_and_stale(names: &[String], keep: usize) -> (Option<String>, Vec<String>) {
    let mut known: Vec<(Offsets, &String)> = names
        .iter()
        .filter_map(|n| Offsets::of_name(n).map(|o| (o, n)))
        .collect();
    known.sort();
    let newest = known.last().map(|(_, n)| (*n).clone());
    let stale_count = known.len().saturating_sub(keep);
    let stale = known[..stale_count]
        .iter()
        .map(|(_, n)| (*n).clone())
        .collect();
    (newest, stale)
}

/// Copies the views into `to` (a file that must not exist yet) and returns
/// the offsets the copy reflects. The caller is the views' one writer and
/// writes nothing meanwhile, so the offsets read here are the copy's.
pub(crate) async fn copy_views(pool: &SqlitePool, to: &Path) -> anyhow::Result<Offsets> {
    remove_if_there(to).await?;
    let mut conn = pool.acquire().await?;
    let offsets = Offsets {
        events: store::offset(&mut conn, EVENTS_OFFSET).await?,
        logs: store::offset(&mut conn, LOGS_OFFSET).await?,
    };
    let target = to
        .to_str()
        .with_context(|| format!("{} is not UTF-8", to.display()))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("copying the views into {}", to.display()))?;
    Ok(offsets)
}

/// Puts the copy at `file` into the bucket, then deletes the snapshots past
/// the newest [`KEEP`]; the local copy goes either way.
pub(crate) async fn upload(
    js: &jetstream::Context,
    names: &ArenaNames,
    file: &Path,
    offsets: Offsets,
) -> anyhow::Result<()> {
    let result = put(js, names, file, offsets).await;
    remove_if_there(file).await?;
    result
}

async fn put(
    js: &jetstream::Context,
    names: &ArenaNames,
    file: &Path,
    offsets: Offsets,
) -> anyhow::Result<()> {
    let bucket = open_bucket(js, names).await?;
    let mut reader = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let meta = ObjectMetadata {
        name: offsets.name(),
        description: Some(format!(
            "TestArena views at events sequence {}, logs sequence {}",
            offsets.events, offsets.logs
        )),
        chunk_size: Some(CHUNK_BYTES),
        ..Default::default()
    };
    bucket
        .put(meta, &mut reader)
        .await
        .map_err(|e| anyhow::anyhow!("putting snapshot {}: {e}", offsets.name()))?;
    let (_, stale) = newest_and_stale(&list(&bucket).await?, KEEP);
    for name in stale {
        if let Err(error) = bucket.delete(&name).await {
            tracing::warn!(%name, %error, "could not delete an old snapshot; the next snapshot tries again");
        }
    }
    Ok(())
}

/// Downloads the newest snapshot to `to`; `None` when the bucket holds none
/// (or does not exist: a stream `testarena init` has not updated yet).
pub(crate) async fn fetch_newest(
    js: &jetstream::Context,
    names: &ArenaNames,
    to: &Path,
) -> anyhow::Result<Option<Offsets>> {
    let Ok(bucket) = js.get_object_store(&names.snapshots_bucket).await else {
        return Ok(None);
    };
    let (Some(newest), _) = newest_and_stale(&list(&bucket).await?, KEEP) else {
        return Ok(None);
    };
    let mut object = bucket
        .get(&newest)
        .await
        .map_err(|e| anyhow::anyhow!("getting snapshot {newest}: {e}"))?;
    let expected = object.info().size as u64;
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = tokio::fs::File::create(to)
        .await
        .with_context(|| format!("creating {}", to.display()))?;
    let read = tokio::io::copy(&mut object, &mut file)
        .await
        .with_context(|| format!("downloading snapshot {newest}"))?;
    anyhow::ensure!(
        read == expected,
        "snapshot {newest}: {read} of {expected} bytes read"
    );
    file.sync_all().await?;
    Ok(Offsets::of_name(&newest))
}

async fn open_bucket(js: &jetstream::Context, names: &ArenaNames) -> anyhow::Result<ObjectStore> {
    js.get_object_store(&names.snapshots_bucket)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "opening the snapshots bucket {} (`testarena init` creates it): {e}",
                names.snapshots_bucket
            )
        })
}

async fn list(bucket: &ObjectStore) -> anyhow::Result<Vec<String>> {
    let mut listed = bucket
        .list()
        .await
        .map_err(|e| anyhow::anyhow!("listing snapshots: {e}"))?;
    let mut names = Vec::new();
    while let Some(info) = listed.next().await {
        names.push(
            info.map_err(|e| anyhow::anyhow!("listing snapshots: {e}"))?
                .name,
        );
    }
    Ok(names)
}

/// Where the projector writes a copy before its upload: beside the views.
pub(crate) fn local_copy(db_path: &Path) -> PathBuf {
    let mut path = db_path.as_os_str().to_owned();
    path.push(".snapshot");
    PathBuf::from(path)
}

async fn remove_if_there(path: &Path) -> anyhow::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_carries_its_offsets_and_sorts_by_them() {
        let offsets = Offsets {
            events: 1207,
            logs: 88,
        };
        assert_eq!(
            offsets.name(),
            "views-00000000000000001207-00000000000000000088.sqlite"
        );
        assert_eq!(Offsets::of_name(&offsets.name()), Some(offsets));
        assert_eq!(Offsets::of_name("views-12.sqlite"), None);
        assert_eq!(Offsets::of_name("other-1-2.sqlite"), None);
    }

    #[test]
    fn the_newest_stays_with_the_ones_before_it_up_to_keep() {
        let name = |events| Offsets { events, logs: 1 }.name();
        let names = vec![name(30), name(9), "stray".into(), name(200), name(100)];
        let (newest, stale) = newest_and_stale(&names, 3);
        assert_eq!(newest, Some(name(200)));
        assert_eq!(stale, [name(9)]);
        assert_eq!(newest_and_stale(&[], 3), (None, vec![]));
        assert_eq!(newest_and_stale(&names[..1], 3).1, Vec::<String>::new());
    }
}
