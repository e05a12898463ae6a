//! Artifacts in the JetStream Object Store and firmware sizes: stored by the
//! worker, listed and streamed by the gateway, capped, deleted with the
//! queue, expired by the bucket's retention; sizes from the example
//! firmware's real ELF.

use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::stack::{queue, urlencode, GitRepo, StackOptions, TestStack};

const T: Duration = Duration::from_secs(60);

/// Copies the committed `blob.bin` and `notes.map` to `out/` in the
/// build; the task writes two files to its result dir.
const ARTIFACT_PROFILE: &str = r#"
default_profile = "art"
[profiles.art]
build = "mkdir -p out && cp blob.bin out/fw.bin && cp notes.map out/fw.map"
artifacts = ["out/*.bin", "out/*.map", "out/*.none"]
task = "sh {scenario}"
"#;

const TASK: &str = "mkdir -p \"$TESTARENA_RESULT_DIR/deep\" && echo hello > \"$TESTARENA_RESULT_DIR/hello.txt\" && printf xyz > \"$TESTARENA_RESULT_DIR/deep/trace.bin\"\n";

/// Bytes that compress badly and differ at every offset.
fn blob(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn repo_with_blob(blob: &[u8]) -> GitRepo {
    let repo = GitRepo::new(&[("t.sh", TASK), ("notes.map", "map of the firmware\n")]);
    std::fs::write(repo.dir.path().join("blob.bin"), blob).unwrap();
    repo.commit(&[], "a binary");
    repo
}

async fn bytes(
    stack: &TestStack,
    path: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = stack.http.get(format!("{}{path}", stack.base));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn artifacts_round_trip_byte_identical_with_their_sha256_and_ranges() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: ARTIFACT_PROFILE.into(),
        ..Default::default()
    })
    .await;
    let blob = blob(3 << 20);
    let repo = repo_with_blob(&blob);
    stack
        .submit(&queue("arts", &repo.url(), &[("t1", "t.sh")]))
        .await;
    let view = stack.wait_terminal("arts", T).await;
    assert_eq!(view["status"], "Finished", "{view:#}");

    let (status, list) = stack.get("/api/queue/arts/artifacts").await;
    assert_eq!(status, 200, "{list}");
    let expected = json!({"artifacts": [
        {"name": "out/fw.bin", "size": blob.len(), "sha256": sha256(&blob), "task": null},
        {"name": "out/fw.map", "size": 20, "sha256": sha256(b"map of the firmware\n"), "task": null},
        {"name": "t1/deep/trace.bin", "size": 3, "sha256": sha256(b"xyz"), "task": "t1"},
        {"name": "t1/hello.txt", "size": 6, "sha256": sha256(b"hello\n"), "task": "t1"},
    ]});
    assert_eq!(list, expected);
    assert_eq!(
        view["artifacts"], expected["artifacts"],
        "the view lists them too"
    );

    let (status, headers, body) =
        bytes(&stack, "/api/queue/arts/artifacts/out%2Ffw.bin", None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), blob.len().to_string());
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(sha256(&body), sha256(&blob), "byte-identical");
    let (_, _, hello) = bytes(&stack, "/api/queue/arts/artifacts/t1%2Fhello.txt", None).await;
    assert_eq!(hello, b"hello\n");

    // A range deep in the object (chunks before it are skipped).
    let start = (1 << 20) + 12_345;
    let range = format!("bytes={start}-{}", start + 99_999);
    let (status, headers, part) = bytes(
        &stack,
        "/api/queue/arts/artifacts/out%2Ffw.bin",
        Some(&range),
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes {start}-{}/{}", start + 99_999, blob.len())
    );
    assert_eq!(part, blob[start..start + 100_000]);
    let (status, _, tail) = bytes(
        &stack,
        "/api/queue/arts/artifacts/out%2Ffw.bin",
        Some("bytes=-10"),
    )
    .await;
    assert_eq!((status, tail.as_slice()), (206, &blob[blob.len() - 10..]));
    let (status, headers, _) = bytes(
        &stack,
        "/api/queue/arts/artifacts/out%2Ffw.bin",
        Some("bytes=999999999-"),
    )
    .await;
    assert_eq!(status, 416);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes */{}", blob.len())
    );

    let (status, body) = stack.get("/api/queue/arts/artifacts/nope.bin").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("nope.bin"),
        "{body}"
    );
    let (status, _) = stack.get("/api/queue/missing/artifacts").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn files_over_a_cap_are_skipped_with_a_log_line_and_the_queue_still_passes() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: ARTIFACT_PROFILE.into(),
        worker_args: vec![
            "--artifact-max-file-bytes".into(),
            "1000".into(),
            "--artifact-max-queue-bytes".into(),
            "986".into(),
        ],
        ..Default::default()
    })
    .await;
    // fw.bin is over the per-file cap; fw.map (981) and deep/trace.bin (3)
    // fit; hello.txt (6) fits the file cap but not what is left of the queue's.
    let repo = repo_with_blob(&blob(1001));
    let big_map = "m".repeat(981);
    std::fs::write(repo.dir.path().join("notes.map"), &big_map).unwrap();
    repo.commit(&[], "981 byte map");
    stack
        .submit(&queue("capped", &repo.url(), &[("t1", "t.sh")]))
        .await;
    let view = stack.wait_terminal("capped", T).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    assert_eq!(view["verdict"], "passed", "{view:#}");
    let names: Vec<&str> = view["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["out/fw.map", "t1/deep/trace.bin"], "{view:#}");
    let log = stack.text("/api/queue/capped/log").await;
    assert!(
        log.contains(
            "artifact out/fw.bin skipped: 1001 bytes is over the per-file cap of 1000 bytes"
        ),
        "{log}"
    );
    assert!(
        log.contains("artifact t1/hello.txt skipped: 6 bytes would bring this queue to 990 bytes, over its cap of 986 bytes"),
        "{log}"
    );
}

async fn object_exists(stack: &TestStack, object: &str) -> bool {
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let bucket = js.get_object_store("ARENA_ARTIFACTS").await.unwrap();
    bucket.info(object).await.is_ok_and(|info| !info.deleted)
}

#[tokio::test]
async fn deleting_a_queue_deletes_its_artifacts() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: ARTIFACT_PROFILE.into(),
        ..Default::default()
    })
    .await;
    let repo = repo_with_blob(&blob(10_000));
    stack
        .submit(&queue("gone", &repo.url(), &[("t1", "t.sh")]))
        .await;
    stack.wait_terminal("gone", T).await;
    assert!(object_exists(&stack, "gone/out/fw.bin").await);
    assert!(object_exists(&stack, "gone/t1/hello.txt").await);
    let (status, _) = stack
        .request(reqwest::Method::DELETE, "/api/queue/gone", None)
        .await;
    assert_eq!(status, 200);
    assert!(
        !object_exists(&stack, "gone/out/fw.bin").await,
        "the bytes are gone"
    );
    assert!(!object_exists(&stack, "gone/t1/hello.txt").await);
    let (status, _) = stack.get("/api/queue/gone/artifacts").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn artifacts_expire_after_the_retention() {
    // 0.00005 days is 4.32 s: the bucket's max age.
    let stack = TestStack::start_with(StackOptions {
        worker_config: ARTIFACT_PROFILE.into(),
        service_args: vec!["--artifact-retention-days".into(), "0.00005".into()],
        ..Default::default()
    })
    .await;
    let repo = repo_with_blob(&blob(1000));
    stack
        .submit(&queue("old", &repo.url(), &[("t1", "t.sh")]))
        .await;
    stack.wait_terminal("old", T).await;
    let (status, _, _) = bytes(&stack, "/api/queue/old/artifacts/t1%2Fhello.txt", None).await;
    assert_eq!(status, 200, "fresh");
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let info = js
        .get_stream("OBJ_ARENA_ARTIFACTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(
        info.config.max_age,
        Duration::from_secs_f64(0.00005 * 86_400.0)
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (status, _, body) = bytes(&stack, "/api/queue/old/artifacts/t1%2Fhello.txt", None).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("retention"));
}

/// The example firmware built by the real arm-none-eabi-gcc: the view's
/// sizes are what `arm-none-eabi-size` says of the ELF the API serves, and
/// `/api/sizes` lists them for the commit.
#[tokio::test]
async fn firmware_sizes_of_the_example_match_arm_none_eabi_size() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qemu-arm");
    let stack = TestStack::start_with(StackOptions {
        worker_config: r#"
default_profile = "fw"
[profiles.fw]
build = "make -C firmware"
artifacts = ["firmware/build/*.elf", "firmware/build/*.map"]
elf = "firmware/build/fw.elf"
task = "test -f {scenario}"
"#
        .into(),
        ..Default::default()
    })
    .await;
    let repo = GitRepo::new(&[]);
    crate::engine::copy_dir(&example, repo.dir.path());
    let commit = repo.commit(&[], "firmware example");
    stack
        .submit(&queue("fw", &repo.url(), &[("exists", "firmware/main.c")]))
        .await;
    let view = stack.wait_terminal("fw", Duration::from_secs(120)).await;
    assert_eq!(view["status"], "Finished", "{view:#}");

    let (status, _, elf) = bytes(
        &stack,
        "/api/queue/fw/artifacts/firmware%2Fbuild%2Ffw.elf",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fw.elf"), &elf).unwrap();
    let size = std::process::Command::new("arm-none-eabi-size")
        .arg(dir.path().join("fw.elf"))
        .output()
        .expect("arm-none-eabi-size runs");
    let text = String::from_utf8(size.stdout).unwrap();
    let numbers: Vec<u64> = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .take(3)
        .map(|n| n.parse().unwrap())
        .collect();
    let firmware = &view["firmware"];
    assert_eq!(
        [&firmware["text"], &firmware["data"], &firmware["bss"]].map(|v| v.as_u64().unwrap()),
        [numbers[0], numbers[1], numbers[2]],
        "{text}"
    );
    assert!(numbers[0] > 0);

    let url = format!("/api/sizes?repo={}&profile=fw", urlencode(&repo.url()));
    let (status, sizes) = stack.get(&url).await;
    assert_eq!(status, 200, "{sizes}");
    assert_eq!(sizes["sizes"].as_array().unwrap().len(), 1, "{sizes}");
    let entry = &sizes["sizes"][0];
    assert_eq!(entry["commit"], json!(commit));
    assert_eq!(entry["queue_id"], "fw");
    assert_eq!(entry["profile"], "fw");
    assert_eq!(entry["text"], firmware["text"]);
    let (status, other) = stack
        .get(&format!(
            "/api/sizes?repo={}&profile=other",
            urlencode(&repo.url())
        ))
        .await;
    assert_eq!((status, other), (200, json!({"sizes": []})));
}

/// Large objects on a replicated bucket are a known weak spot of NATS
/// (nats.go #1908): 64 MiB through a 3-node cluster with 3 replicas.
#[tokio::test]
async fn a_64_mib_artifact_round_trips_on_a_three_node_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = testarena::nats_server::NatsCluster::start(dir.path(), 3).unwrap();
    let stack = TestStack::start_with(StackOptions {
        worker_config: ARTIFACT_PROFILE.into(),
        nats_url: Some(cluster.urls()),
        service_args: vec!["--replicas".into(), "3".into()],
        ..Default::default()
    })
    .await;
    let blob = blob(64 << 20);
    let repo = repo_with_blob(&blob);
    stack
        .submit(&queue("big", &repo.url(), &[("t1", "t.sh")]))
        .await;
    let view: Value = stack.wait_terminal("big", Duration::from_secs(180)).await;
    assert_eq!(view["status"], "Finished", "{view:#}");
    assert_eq!(view["artifacts"][0]["name"], "out/fw.bin", "{view:#}");
    assert_eq!(view["artifacts"][0]["sha256"], json!(sha256(&blob)));
    let (status, headers, body) =
        bytes(&stack, "/api/queue/big/artifacts/out%2Ffw.bin", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-length"),
        (64u64 << 20).to_string()
    );
    assert!(body == blob, "byte-identical through the cluster");
    let client = async_nats::connect(cluster.urls().split(',').next().unwrap())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let info = js
        .get_stream("OBJ_ARENA_ARTIFACTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.num_replicas, 3);
}

/// The bucket's recorded digest is checked as the last chunk is read: an
/// object whose bytes no longer match it is never served complete.
#[tokio::test]
async fn a_download_whose_bytes_do_not_match_the_digest_fails() {
    let stack = TestStack::start_with(StackOptions {
        worker_config: ARTIFACT_PROFILE.into(),
        ..Default::default()
    })
    .await;
    let repo = repo_with_blob(&blob(600_000));
    stack
        .submit(&queue("bent", &repo.url(), &[("t1", "t.sh")]))
        .await;
    stack.wait_terminal("bent", T).await;
    // Rewrite the object's metadata with another digest, as a corrupted
    // store would present it.
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let bucket = js.get_object_store("ARENA_ARTIFACTS").await.unwrap();
    let mut info = bucket.info("bent/out/fw.bin").await.unwrap();
    info.digest = Some(format!("SHA-256={}", "A".repeat(43) + "="));
    let subject = format!("$O.ARENA_ARTIFACTS.M.{}", base64_url("bent/out/fw.bin"));
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Rollup", "sub");
    js.publish_with_headers(subject, headers, serde_json::to_vec(&info).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let response = stack
        .http
        .get(format!(
            "{}/api/queue/bent/artifacts/out%2Ffw.bin",
            stack.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the length is known before the bytes"
    );
    assert!(
        response.bytes().await.is_err(),
        "the body must not complete"
    );
    // A range is not checked against the whole object's digest.
    let (status, _, part) = bytes(
        &stack,
        "/api/queue/bent/artifacts/out%2Ffw.bin",
        Some("bytes=0-9"),
    )
    .await;
    assert_eq!((status, part.len()), (206, 10));
}

/// Object names in metadata subjects: URL-safe base64 with padding, as
/// async-nats writes them.
fn base64_url(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
