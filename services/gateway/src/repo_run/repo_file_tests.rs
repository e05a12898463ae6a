//! `testarena.toml` against good and hostile input: each refusal names its line.

use super::*;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn files() -> Vec<String> {
    [
        "scenarios/uart.scn",
        "scenarios/boot.scn",
        "scenarios/deep/x.scn",
        "README.md",
    ]
    .map(String::from)
    .to_vec()
}

fn submissions(text: &str) -> Result<Vec<Submission>, RepoFileError> {
    RepoFile::parse(text)?.submissions("/srv/fw", COMMIT, &files(), &Owner::anonymous())
}

fn refused(text: &str) -> RepoFileError {
    submissions(text).unwrap_err()
}

#[test]
fn the_issue_example_makes_one_queue_per_table_at_the_commit() {
    let text = r#"
[[queue]]
name = "smoke"                       # queue id: <name>-<commit12>
profile = "qemu-arm"
requires = ["board=mps2-an385"]
scenarios = "scenarios/*.scn"
shards = 2
priority = "normal"

[[queue]]
name = "uart"
tasks = [{ id = "uart", scenario = "scenarios/uart.scn", timeout_s = 30 }]
"#;
    let queues = submissions(text).unwrap();
    assert_eq!(queues.len(), 2);
    let smoke = &queues[0];
    assert_eq!(smoke.id.as_str(), "smoke-0123456789ab");
    assert_eq!(smoke.source.git_ref.as_str(), COMMIT);
    assert_eq!(smoke.source.repo.as_str(), "/srv/fw");
    assert_eq!(smoke.shards, 2);
    // One task per file the glob matches, in path order, `*` within one folder.
    let ids: Vec<&str> = smoke.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["boot", "uart"]);
    assert_eq!(queues[1].id.as_str(), "uart-0123456789ab");
    assert_eq!(queues[1].tasks[0].timeout_s, Some(30));
}

#[test]
fn unknown_keys_and_broken_toml_name_their_line() {
    let err = refused("[[queue]]\nname = \"a\"\nscenarios = \"*.scn\"\nshard = 2\n");
    assert_eq!(err.line, 4, "{err}");
    assert!(err.message.contains("shard"), "{err}");
    let err = refused("\n\n[[queues]]\nname = \"a\"\n");
    assert_eq!(err.line, 3, "{err}");
    let err = refused(
        "[[queue]]\nname = \"a\"\ntasks = [{ id = \"x\", scenario = \"s\", timeout = 3 }]\n",
    );
    assert_eq!(err.line, 3, "{err}");
    let err = refused("[[queue]]\nname = \"a\nscenarios = \"*\"\n");
    assert_eq!(err.line, 2, "{err}");
    assert!(
        err.to_string().starts_with("testarena.toml line 2: "),
        "{err}"
    );
    assert_eq!(refused("").line, 1);
}

#[test]
fn a_queue_is_held_to_the_submit_rules_with_its_line() {
    let text = "[[queue]]\nname = \"a\"\nscenarios = \"scenarios/*.scn\"\n\n[[queue]]\nname = \"b\"\nscenarios = \"scenarios/*.scn\"\nshards = 65\n";
    let err = refused(text);
    assert_eq!(err.line, 5, "{err}");
    assert!(err.message.contains("shards"), "{err}");
    let err = refused(
        "[[queue]]\nname = \"a\"\nscenarios = \"scenarios/*.scn\"\npriority = \"urgent\"\n",
    );
    assert!(err.message.contains("priority"), "{err}");
    let err = refused(
        "[[queue]]\nname = \"a\"\ntasks = [{ id = \"x\", scenario = \"../etc/passwd\" }]\n",
    );
    assert!(err.message.contains("tasks[0].scenario"), "{err}");
    let err = refused("[[queue]]\nname = \"a\"\ntasks = []\n");
    assert!(err.message.contains("tasks"), "{err}");
}

#[test]
fn names_globs_and_task_sources_are_checked() {
    let err = refused("[[queue]]\nname = \"a b\"\nscenarios = \"*\"\n");
    assert!(err.message.contains("name"), "{err}");
    assert!(refused(&format!(
        "[[queue]]\nname = \"{}\"\nscenarios = \"*\"\n",
        "n".repeat(52)
    ))
    .message
    .contains("name"));
    assert!(submissions(&format!(
        "[[queue]]\nname = \"{}\"\nscenarios = \"scenarios/*\"\n",
        "n".repeat(51)
    ))
    .is_ok());
    let both =
        "[[queue]]\nname = \"a\"\nscenarios = \"*\"\ntasks = [{ id = \"x\", scenario = \"s\" }]\n";
    assert!(refused(both)
        .message
        .contains("exactly one of scenarios and tasks"));
    assert!(refused("[[queue]]\nname = \"a\"\n")
        .message
        .contains("exactly one"));
    let err = refused("[[queue]]\nname = \"a\"\nscenarios = \"nothing/*.scn\"\n");
    assert!(
        err.message.contains("matches no file at 0123456789ab"),
        "{err}"
    );
    let err = refused("[[queue]]\nname = \"a\"\nscenarios = \"scenarios/[\"\n");
    assert!(err.message.contains("scenarios"), "{err}");
    let twice =
        "[[queue]]\nname = \"a\"\nscenarios = \"*\"\n[[queue]]\nname = \"a\"\nscenarios = \"*\"\n";
    assert_eq!(refused(twice).line, 4);
}

#[test]
fn a_file_stem_that_is_no_task_id_is_named() {
    let files = vec!["scenarios/uart test.scn".to_string()];
    let err = RepoFile::parse("[[queue]]\nname = \"a\"\nscenarios = \"scenarios/*\"\n")
        .unwrap()
        .submissions("/srv/fw", COMMIT, &files, &Owner::anonymous())
        .unwrap_err();
    assert!(err.message.contains("uart test.scn"), "{err}");
}

#[test]
fn hostile_text_is_refused_not_panicked_on() {
    for text in [
        "\u{0}",
        "queue = 1",
        "[[queue]]\nname = 1\n",
        "[[queue]]\nname = \"a\"\nshards = 300\nscenarios = \"*\"\n",
        "[[queue]]\nname = \"a\"\nshards = -1\nscenarios = \"*\"\n",
        &"[[queue]]\n".repeat(20_000),
        &format!(
            "[[queue]]\nname = \"a\"\nscenarios = \"{}\"\n",
            "*".repeat(100_000)
        ),
        "[[queue]]\nname = \"\u{202e}\"\nscenarios = \"*\"\n",
    ] {
        assert!(submissions(text).is_err(), "{:?}", text.get(..40));
    }
}
