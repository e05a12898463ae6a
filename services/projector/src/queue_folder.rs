//! The per-queue folder users of the original system rely on:
//! `<data>/<queue_id>/queue_status.json` and `queue_log.txt`.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc;

use std::io::Write as _;

use crate::view::QueueView;

use testarena_events::{QUEUE_LOG_FILE as LOG_FILE, QUEUE_STATUS_FILE as STATUS_FILE};

/// Text for one queue's log file; see [`QueueFolders::append_logs`].
pub(crate) struct LogAppend {
    pub id: String,
    pub text: Vec<u8>,
    pub truncate_to: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct QueueFolders {
    root: PathBuf,
}

impl QueueFolders {
    pub(crate) fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The status file's content for a view.
    pub(crate) fn status_json(view: &QueueView) -> io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(view).map_err(io::Error::other)
    }

    /// Writes a batch's status files on one blocking thread (one hand-off
    /// per batch, not three per queue). Each file is replaced via a temp
    /// file and a rename, so a reader never sees half a document.
    pub(crate) async fn write_statuses(&self, files: Vec<(String, Vec<u8>)>) -> io::Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            for (id, json) in files {
                let dir = root.join(&id);
                std::fs::create_dir_all(&dir)?;
                let tmp = dir.join(".queue_status.json.tmp");
                std::fs::write(&tmp, json)?;
                std::fs::rename(&tmp, dir.join(STATUS_FILE))?;
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Appends a batch's log text to each queue's `queue_log.txt`, on one
    /// blocking thread. A file first cut back to `truncate_to`: bytes a run
    /// that died before committing appended are written again by the replay.
    pub(crate) async fn append_logs(&self, appends: Vec<LogAppend>) -> io::Result<()> {
        if appends.is_empty() {
            return Ok(());
        }
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            for append in appends {
                let dir = root.join(&append.id);
                let path = dir.join(LOG_FILE);
                if let Some(committed) = append.truncate_to {
                    match std::fs::metadata(&path) {
                        Ok(meta) if meta.len() > committed => {
                            std::fs::OpenOptions::new()
                                .write(true)
                                .open(&path)?
                                .set_len(committed)?;
                        }
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
                std::fs::create_dir_all(&dir)?;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?
                    .write_all(&append.text)?;
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)?
    }

    pub(crate) async fn remove(&self, id: &str) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.dir(id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the log files of queues `--retention-days` expired (their
    /// status files stay).
    pub(crate) async fn remove_logs(&self, ids: &[String]) -> io::Result<()> {
        for id in ids {
            match tokio::fs::remove_file(self.dir(id).join(LOG_FILE)).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes every queue folder (for a rebuild from scratch). Only folders
    /// that hold a status or log file are touched, so nothing else in the data
    /// dir is at risk.
    pub(crate) async fn remove_all(&self) -> io::Result<()> {
        let mut entries = match tokio::fs::read_dir(&self.root).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if path.join(STATUS_FILE).exists() || path.join(LOG_FILE).exists() {
                tokio::fs::remove_dir_all(&path).await?;
            }
        }
        Ok(())
    }
}

/// A rebuild's status files, written by a thread of their own while the
/// replay goes on (a rebuild creates a folder and a file per queue, and on a
/// disk where inode allocation is slow that is most of its system time).
/// Commands run in order; each file is written in place (nothing reads a
/// folder being rebuilt). The first error stops the thread and is returned
/// by [`StatusWriter::finish`].
pub(crate) struct StatusWriter {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

enum Command {
    Write(String, Vec<u8>),
    Remove(String),
}

impl StatusWriter {
    pub(crate) fn start(folders: &QueueFolders) -> io::Result<Self> {
        let root = folders.root.clone();
        let (commands, received) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("status-writer".into())
            .spawn(move || {
                std::fs::create_dir_all(&root)?;
                let mut made = HashSet::new();
                for command in received {
                    match command {
                        Command::Write(id, json) => {
                            let dir = root.join(&id);
                            if !made.contains(&id) {
                                match std::fs::create_dir(&dir) {
                                    // A log batch may have made it.
                                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                                        return Err(e)
                                    }
                                    _ => {}
                                }
                                made.insert(id);
                            }
                            std::fs::write(dir.join(STATUS_FILE), json)?;
                        }
                        Command::Remove(id) => {
                            made.remove(&id);
                            match std::fs::remove_dir_all(root.join(&id)) {
                                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                                _ => {}
                            }
                        }
                    }
                }
                Ok(())
            })?;
        Ok(Self {
            commands: Some(commands),
            thread: Some(thread),
        })
    }

    fn send(&self, command: Command) {
        // A send fails only once the thread stopped on an error, which
        // `finish` returns.
        if let Some(commands) = &self.commands {
            let _ = commands.send(command);
        }
    }

    pub(crate) fn write(&self, id: String, json: Vec<u8>) {
        self.send(Command::Write(id, json));
    }

    /// Removes a deleted queue's folder, after every write queued before.
    pub(crate) fn remove(&self, id: String) {
        self.send(Command::Remove(id));
    }

    /// Waits until everything queued is written.
    pub(crate) async fn finish(mut self) -> io::Result<()> {
        self.commands = None;
        let thread = self.thread.take().expect("finish runs once");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("the status writer panicked"))?
    }
}

impl Drop for StatusWriter {
    fn drop(&mut self) {
        // Dropped without `finish` (a failed rebuild): stop after what is queued.
        self.commands = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_status_writer_applies_writes_and_removals_in_order() {
        let root =
            std::env::temp_dir().join(format!("testarena-projector-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let writer = StatusWriter::start(&QueueFolders::new(&root)).unwrap();
        writer.write("a".into(), b"a1".to_vec());
        writer.write("b".into(), b"b1".to_vec());
        writer.remove("a".into());
        writer.write("b".into(), b"b2".to_vec());
        writer.write("c".into(), b"c1".to_vec());
        writer.remove("c".into());
        writer.write("c".into(), b"c2".to_vec());
        writer.finish().await.unwrap();
        let read = |id: &str| std::fs::read_to_string(root.join(id).join(STATUS_FILE)).unwrap();
        assert!(!root.join("a").exists());
        assert_eq!(read("b"), "b2");
        assert_eq!(read("c"), "c2");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
