//! A mirror of a real repository in a temp dir: refs, files, a commit
//! that is on no branch.

use std::process::Command;

use super::*;

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@x")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@x")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_mirror_resolves_refs_reads_files_and_fetches_a_named_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("scenarios")).unwrap();
    run(&work, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(work.join("testarena.toml"), "x = 1\n").unwrap();
    std::fs::write(work.join("scenarios/a b.scn"), "a").unwrap();
    run(&work, &["add", "."]);
    run(&work, &["commit", "--quiet", "-m", "one"]);
    let head = run(&work, &["rev-parse", "HEAD"]);
    // A commit only a detached HEAD holds, as a fork's pull request head.
    run(&work, &["checkout", "--quiet", "--detach"]);
    run(
        &work,
        &["commit", "--quiet", "--allow-empty", "-m", "loose"],
    );
    let loose = run(&work, &["rev-parse", "HEAD"]);

    let mirrors = Mirrors::new(tmp.path().join("mirrors"));
    let repo = RepoUrl::parse(work.to_string_lossy()).unwrap();
    let mirror = mirrors.fetch(&repo).await.unwrap();
    let main = GitRef::parse("main").unwrap();
    assert_eq!(mirror.resolve(&main).await.unwrap(), Some(head.clone()));
    let nothing = GitRef::parse("nothing").unwrap();
    assert_eq!(mirror.resolve(&nothing).await.unwrap(), None);
    let text = mirror
        .read_file(&head, "testarena.toml", 100)
        .await
        .unwrap();
    assert_eq!(text.as_deref(), Some(&b"x = 1\n"[..]));
    assert!(mirror
        .read_file(&head, "none.toml", 100)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        mirror.read_file(&head, "testarena.toml", 3).await,
        Err(MirrorError::TooLarge { size: 6, .. })
    ));
    let mut files = mirror.files(&head).await.unwrap();
    files.sort();
    assert_eq!(files, ["scenarios/a b.scn", "testarena.toml"]);
    assert!(mirror.fetch_commit(&loose).await.unwrap());
}

#[tokio::test]
async fn a_repository_that_cannot_be_fetched_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(tmp.path().join("mirrors"));
    let repo = RepoUrl::parse(tmp.path().join("absent").to_string_lossy()).unwrap();
    let err = mirrors.fetch(&repo).await.unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn mirror_names_differ_by_url() {
    assert_ne!(mirror_name("/a/b"), mirror_name("/a_b"));
    assert!(mirror_name("https://host/x.git").ends_with(".git"));
}
