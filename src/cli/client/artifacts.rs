//! `testarena artifacts ID [--download DIR]`: list a queue's artifacts, or
//! download each into DIR under its name, checking its SHA-256 as it is
//! written. A name that would leave DIR is refused (the server's list is
//! input like any other).

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use sha2::{Digest as _, Sha256};
use testarena_events::ArtifactView;
use tokio::io::AsyncWriteExt as _;

use super::api_client::{ApiClient, ClientError};

pub async fn run(
    client: &ApiClient,
    id: &str,
    download: Option<&Path>,
    json: bool,
) -> Result<ExitCode, ClientError> {
    let artifacts = client.artifacts(id).await?;
    match download {
        None if json => {
            let list = serde_json::json!({ "artifacts": artifacts });
            println!(
                "{}",
                serde_json::to_string_pretty(&list).unwrap_or_default()
            );
        }
        None => print!("{}", table(&artifacts)),
        Some(dir) => {
            for artifact in &artifacts {
                let path = download_path(dir, &artifact.name)?;
                fetch(client, id, artifact, &path).await?;
                println!("{} ({} bytes, sha256 ok)", path.display(), artifact.size);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Name, size, task and SHA-256, one artifact a line.
pub fn table(artifacts: &[ArtifactView]) -> String {
    if artifacts.is_empty() {
        return "no artifacts\n".into();
    }
    let width = artifacts
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  {:>12}  {:<12}  SHA256\n",
        "NAME", "BYTES", "TASK"
    );
    for a in artifacts {
        let task = a.task.as_deref().unwrap_or("(build)");
        out += &format!(
            "{:<width$}  {:>12}  {:<12}  {}\n",
            a.name, a.size, task, a.sha256
        );
    }
    out
}

/// Where `name` goes under `dir`: only plain relative parts.
pub fn download_path(dir: &Path, name: &str) -> Result<PathBuf, ClientError> {
    let relative = Path::new(name);
    let plain = !name.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(ClientError::Usage(format!(
            "artifact name {name:?} is not a plain relative path; not written"
        )));
    }
    Ok(dir.join(relative))
}

async fn fetch(
    client: &ApiClient,
    id: &str,
    artifact: &ArtifactView,
    path: &Path,
) -> Result<(), ClientError> {
    let io = |e: std::io::Error| ClientError::Usage(format!("writing {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let mut response = client.artifact(id, &artifact.name).await?;
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while let Some(chunk) = client.next_chunk(&mut response).await? {
        hasher.update(&chunk);
        written += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    let sha256 = hex::encode(hasher.finalize());
    if sha256 != artifact.sha256 || written != artifact.size {
        return Err(ClientError::Usage(format!(
            "{}: got {written} bytes with sha256 {sha256}, expected {} bytes with {}",
            artifact.name, artifact.size, artifact.sha256
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_download_folder() {
        let dir = Path::new("/tmp/dl");
        assert_eq!(
            download_path(dir, "t1/deep/a.bin").unwrap(),
            Path::new("/tmp/dl/t1/deep/a.bin")
        );
        for bad in ["../x", "/etc/passwd", "a/../../b", "", "./a"] {
            assert!(download_path(dir, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_table_names_build_artifacts_as_such() {
        let view = |name: &str, task: Option<&str>| ArtifactView {
            name: name.into(),
            size: 12,
            sha256: "ab".repeat(32),
            task: task.map(str::to_owned),
        };
        let shown = table(&[view("fw.elf", None), view("t1/out.txt", Some("t1"))]);
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{shown}");
        assert!(lines[1].contains("(build)"), "{shown}");
        assert!(lines[2].contains("t1 "), "{shown}");
        assert_eq!(table(&[]), "no artifacts\n");
    }
}
