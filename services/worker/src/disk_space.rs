//! Whether the disk under the work dir is full, so a stage that failed
//! there says "no space left on device" rather than only its exit code: a
//! build tool's own message is one line among thousands in the log, and the
//! reason is what a user and a CI pipeline read.

use std::path::Path;

/// Less free than this (for an unprivileged user) counts as full: the
/// failed command's partly written file is still there, so a disk it
/// filled is within a few blocks of empty, and 1 MiB is no build's room.
const FULL_BELOW: u64 = 1 << 20;

/// `reason`, with a note when the disk under `dir` is full.
pub(crate) fn with_full_disk_note(reason: String, dir: &Path) -> String {
    match available_bytes(dir) {
        Some(free) if is_full(free) => format!(
            "{reason}: no space left on device ({} has {} KiB free)",
            dir.display(),
            free >> 10
        ),
        _ => reason,
    }
}

/// Pure: whether `available` bytes free is a full disk.
fn is_full(available: u64) -> bool {
    available < FULL_BELOW
}

/// Bytes free for an unprivileged user on the file system of `dir`, or of
/// its nearest existing ancestor; `None` when it cannot be told.
fn available_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let existing = dir.ancestors().find(|p| p.exists())?;
    let path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated; `stats` is written on success only.
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    Some((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_with_less_than_a_mebibyte_free_is_full() {
        assert!(is_full(0));
        assert!(is_full(4096));
        assert!(!is_full(FULL_BELOW));
        assert!(!is_full(40 << 30));
    }

    #[test]
    fn a_disk_with_room_adds_nothing_to_the_reason() {
        let dir = std::env::temp_dir().join("testarena-disk-space-no-such-dir");
        let reason = with_full_disk_note("build failed with exit code 1".into(), &dir);
        // The temp dir's disk has room on any machine these tests run on.
        assert_eq!(reason, "build failed with exit code 1");
    }
}
