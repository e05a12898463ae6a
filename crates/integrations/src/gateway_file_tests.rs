//! The gateway config file against good and hostile input, without a disk.

use super::*;

const ISSUE_EXAMPLE: &str = r#"
[[repos]]
url = "https://github.com/team/fw.git"
webhook_secret_file = "/run/secrets/fw-hook"
refs = ["main", "release/*"]
status = { api = "github", url = "https://api.github.com", token_file = "/run/secrets/fw-status" }

[[notify]]
on = ["failed", "new_failure"]
repo = "https://github.com/team/fw.git"
webhook = "https://ci.example.com/testarena"
secret_file = "/run/secrets/notify"
"#;

fn secrets(file: &Path) -> io::Result<String> {
    match file.to_str() {
        Some("/run/secrets/missing") => Err(io::Error::from(io::ErrorKind::NotFound)),
        Some("/run/secrets/empty") => Ok("\n".into()),
        Some(path) => Ok(format!("key of {path}\n")),
        None => unreachable!(),
    }
}

fn parse(text: &str) -> Result<GatewayFile, GatewayFileError> {
    GatewayFile::parse(text, Path::new("/etc/testarena/gateway.toml"), secrets)
}

fn refused(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_issue_example_reads_whole() {
    let file = parse(ISSUE_EXAMPLE).unwrap();
    let repo = &file.repos[0];
    assert_eq!(repo.url.as_str(), "https://github.com/team/fw.git");
    assert_eq!(repo.webhook_secret.expose(), "key of /run/secrets/fw-hook");
    assert!(repo.refs.matches("refs/heads/release/2"));
    assert!(!repo.refs.matches("refs/heads/dev"));
    let status = repo.status.as_ref().unwrap();
    assert_eq!(status.api, StatusApi::Github);
    assert_eq!(status.token.expose(), "key of /run/secrets/fw-status");
    let rule = &file.notify[0];
    assert_eq!(rule.on, [NotifyOn::Failed, NotifyOn::NewFailure]);
    assert_eq!(
        rule.target,
        NotifyTarget::Webhook("https://ci.example.com/testarena".into())
    );
    assert!(rule.secret.is_some());
    assert!(file.repo("https://GitHub.com/team/fw").is_some());
    assert!(file.repo("https://github.com/team/fw2.git").is_none());
}

#[test]
fn an_empty_file_configures_nothing_and_refs_default_to_all() {
    assert!(parse("").unwrap().repos.is_empty());
    let file = parse("[[repos]]\nurl = \"/srv/fw\"\nwebhook_secret_file = \"k\"\n").unwrap();
    assert!(file.repos[0].refs.matches("refs/heads/anything"));
    // A relative secret file is read from the config file's folder.
    assert_eq!(
        file.repos[0].webhook_secret.file(),
        Path::new("/etc/testarena/k")
    );
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let err =
        refused("[[repos]]\nurl = \"/srv/fw\"\nwebhook_secret_file = \"k\"\nbranch = \"x\"\n");
    assert!(err.contains("line 4") && err.contains("branch"), "{err}");
    let err = refused("\n[[repo]]\nurl = \"/srv/fw\"\n");
    assert!(err.contains("line 2") && err.contains("repo"), "{err}");
    let err = refused("[[notify]]\non = [\"failed\"]\nwebhook = \"https://x\"\nsecret = \"k\"\n");
    assert!(err.contains("line 4") && err.contains("secret"), "{err}");
}

#[test]
fn missing_and_wrong_values_name_the_line() {
    let err = refused("[[repos]]\nurl = \"/srv/fw\"\n");
    assert!(
        err.contains("line 1") && err.contains("webhook_secret_file"),
        "{err}"
    );
    let err = refused("\n\n[[notify]]\non = [\"exploded\"]\nslack = \"https://h\"\n");
    assert!(err.contains("line 4") && err.contains("exploded"), "{err}");
    let err = refused("[[repos]]\nurl = \"--upload-pack=x\"\nwebhook_secret_file = \"k\"\n");
    assert!(err.contains("line 1") && err.contains("url"), "{err}");
    let err = refused(
        "[[repos]]\nurl = \"/a\"\nwebhook_secret_file = \"k\"\nstatus = { api = \"bitbucket\", url = \"https://x\", token_file = \"t\" }\n",
    );
    assert!(err.contains("line 4") && err.contains("bitbucket"), "{err}");
    let err = refused("[[repos]]\nurl = \"/a\"\nwebhook_secret_file = \"k\"\nrefs = [\"[\"]\n");
    assert!(err.contains("line 1") && err.contains("refs"), "{err}");
    let err = refused("[[repos]]\nurl = 7\n");
    assert!(err.contains("line 2"), "{err}");
    let err = refused("[[repos]\n");
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn a_notify_rule_has_exactly_one_target_and_a_slack_one_no_secret() {
    let both = "[[notify]]\non = [\"failed\"]\nwebhook = \"https://a\"\nslack = \"https://b\"\n";
    assert!(refused(both).contains("exactly one of webhook and slack"));
    assert!(refused("[[notify]]\non = [\"failed\"]\n").contains("exactly one"));
    let signed_slack =
        "[[notify]]\non = [\"failed\"]\nslack = \"https://b\"\nsecret_file = \"/run/s\"\n";
    assert!(refused(signed_slack).contains("secret_file"));
    assert!(refused("[[notify]]\non = []\nslack = \"https://b\"\n").contains("at least one"));
    let not_http = "[[notify]]\non = [\"failed\"]\nwebhook = \"file:///etc/passwd\"\n";
    assert!(refused(not_http).contains("not an http(s) URL"));
    let slack = parse("[[notify]]\non = [\"board_quarantined\", \"bisect_found\", \"flaky\", \"finished\"]\nslack = \"https://hooks.slack.com/x\"\n").unwrap();
    assert_eq!(slack.notify[0].on.len(), 4);
    assert!(slack.notify[0].repo.is_none());
}

#[test]
fn secret_files_that_cannot_be_read_or_are_empty_are_named() {
    let err =
        refused("\n[[repos]]\nurl = \"/a\"\nwebhook_secret_file = \"/run/secrets/missing\"\n");
    assert!(
        err.contains("line 2") && err.contains("/run/secrets/missing"),
        "{err}"
    );
    let err = refused("[[repos]]\nurl = \"/a\"\nwebhook_secret_file = \"/run/secrets/empty\"\n");
    assert!(
        err.contains("/run/secrets/empty") && err.contains("empty"),
        "{err}"
    );
}

#[test]
fn a_repository_configured_twice_is_refused() {
    let twice = "[[repos]]\nurl = \"/a\"\nwebhook_secret_file = \"k\"\n[[repos]]\nurl = \"/a\"\nwebhook_secret_file = \"k\"\n";
    let err = refused(twice);
    assert!(err.contains("line 4") && err.contains("twice"), "{err}");
}

#[test]
fn hostile_text_is_refused_not_panicked_on() {
    for text in [
        "\u{0}",
        "[[repos]]\nurl = \"\u{7}\"\nwebhook_secret_file = \"k\"\n",
        "repos = 3",
        "[[repos]]\nurl = \"/a\"\nwebhook_secret_file = \"k\"\nrefs = \"main\"\n",
        &"[".repeat(10_000),
        "[[notify]]\non = [\"failed\"]\nwebhook = \"https://a b\"\n",
    ] {
        assert!(parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn debug_output_of_a_loaded_file_holds_no_secret() {
    let shown = format!("{:?}", parse(ISSUE_EXAMPLE).unwrap());
    assert!(!shown.contains("key of"), "{shown}");
}
