//! Filesystem and git work off the async threads.

/// Runs `work` on the blocking pool; a panic in it is an I/O error.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)
}
