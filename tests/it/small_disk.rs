//! `SmallDisk`: a tmpfs of a few MiB mounted on a test's folder, so a
//! service's disk can be filled up and emptied again; unmounted on Drop.
//! Mounting needs root (CAP_SYS_ADMIN), as the tests run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` on `path` (created if missing).
    pub fn mount(path: &Path, bytes: u64) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs on {} failed: these tests run as root",
            path.display()
        );
        Self {
            path: path.to_owned(),
        }
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Writes a filler file until the disk is full, then gives `leave`
    /// bytes back (rounded to whole pages by tmpfs).
    pub fn fill_leaving(&self, leave: u64) {
        let mut file = std::fs::File::create(self.filler()).unwrap();
        let chunk = vec![0u8; 64 << 10];
        let mut written = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", self.path.display()),
            }
        }
        file.set_len(written.saturating_sub(leave)).unwrap();
    }

    /// Fills the disk to the last byte.
    pub fn fill(&self) {
        self.fill_leaving(0);
    }

    /// Removes the filler: the space is back.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process that still has a file open there does not stop it.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
