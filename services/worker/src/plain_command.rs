//! Whether a profile command line needs a shell at all. Most task commands
//! are one program with words (`sh task.sh {scenario}`, `pytest -x tests`):
//! `sh -c` around them costs a process start per task for nothing. A line
//! is run without a shell only when a shell would do nothing but split it
//! into words: plain characters, single quotes (which is how placeholders
//! are substituted) and backslash escapes, and a first word that is no
//! shell builtin, keyword or assignment. Anything else keeps `sh -c`.
//!
//! Finding the program (`program_path`) follows the shell's rule: a word
//! with a `/` is a path from the command's folder, any other is looked up
//! in the command's own `PATH`. When it is not found, the shell runs the
//! line, so its "not found" and exit code 127 stay what they were.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Words a shell treats as its own when they come first: reserved words and
/// the builtins of dash and bash (a builtin may differ from the program of
/// the same name, e.g. `echo -e`).
const SHELL_WORDS: &[&str] = &[
    "!",
    "{",
    "}",
    "[[",
    "]]",
    "case",
    "coproc",
    "do",
    "done",
    "elif",
    "else",
    "esac",
    "fi",
    "for",
    "function",
    "if",
    "in",
    "select",
    "then",
    "time",
    "until",
    "while",
    ".",
    ":",
    "[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "chdir",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

/// Characters a shell takes literally outside quotes, anywhere in a word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '-' | '.' | '/' | ',' | '+' | ':' | '@' | '%' | '=')
}

/// The words of `line` when a shell would run it as one program with
/// these arguments; `None` when the shell has more to do (variables,
/// globs, redirections, pipes, several commands, builtins, ...).
pub(crate) fn plain_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    // `None` between words; a quoted empty word ('') is still a word.
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let word = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        inside => word.push(inside),
                    }
                }
            }
            '\\' => match chars.next()? {
                // An escaped newline joins lines: leave that to the shell.
                '\n' => return None,
                escaped => word.get_or_insert_with(String::new).push(escaped),
            },
            c if is_plain(c) => word.get_or_insert_with(String::new).push(c),
            _ => return None,
        }
    }
    words.extend(word);
    let first = words.first()?;
    // A first word with `=` may be an assignment (`CC=clang make`).
    if first.is_empty() || first.contains('=') || SHELL_WORDS.contains(&first.as_str()) {
        return None;
    }
    Some(words)
}

/// Where the shell would find `program`: a word with a `/` is a path from
/// `cwd`; any other is the first executable file of that name in `path`
/// (the command's `PATH`; an empty entry is `cwd`). `None` when there is
/// none, or no `PATH`.
pub(crate) fn program_path(program: &str, path: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        let candidate = cwd.join(program);
        return is_executable_file(&candidate).then_some(candidate);
    }
    path?
        .split(':')
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn these(words: &[&str]) -> Option<Vec<String>> {
        Some(words.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn a_program_with_plain_and_quoted_words_needs_no_shell() {
        assert_eq!(
            plain_words("sh task.sh 'trivial' 'q-1'  't1'"),
            these(&["sh", "task.sh", "trivial", "q-1", "t1"])
        );
        assert_eq!(
            plain_words("pytest -x tests/unit --port=4000"),
            these(&["pytest", "-x", "tests/unit", "--port=4000"])
        );
        assert_eq!(plain_words("./run\tquick"), these(&["./run", "quick"]));
    }

    #[test]
    fn quotes_and_escapes_end_as_the_shell_ends_them() {
        // How placeholders quote a value with a quote in it.
        assert_eq!(
            plain_words(r"run 'a b'\''; rm -rf /' --port '4000'"),
            these(&["run", "a b'; rm -rf /", "--port", "4000"])
        );
        assert_eq!(
            plain_words(r"echo2 a\ b '' x"),
            these(&["echo2", "a b", "", "x"])
        );
        assert_eq!(
            plain_words("run 'line\nnext'"),
            these(&["run", "line\nnext"])
        );
    }

    #[test]
    fn anything_more_than_words_keeps_the_shell() {
        for line in [
            "make && ./run",
            "run; other",
            "run | tee out",
            "run > out",
            "run < in",
            "run &",
            "run $HOME",
            "run \"quoted\"",
            "run `date`",
            "run *.c",
            "run file?",
            "run [ab]",
            "run ~/x",
            "run # comment",
            "(run)",
            "run {a,b}",
            "run\nother",
            "run \\\nnext",
            "run 'unclosed",
            "run \\",
            "",
            "   ",
        ] {
            assert_eq!(plain_words(line), None, "{line:?}");
        }
    }

    #[test]
    fn builtins_keywords_and_assignments_keep_the_shell() {
        for line in [
            "true",
            "echo -e 'a\\tb'",
            "cd build",
            "exit 3",
            "test -f x",
            "if",
            ". ./env.sh",
            "CC=clang make",
            "'' x",
        ] {
            assert_eq!(plain_words(line), None, "{line:?}");
        }
        // An `=` after the first word is a plain argument.
        assert_eq!(plain_words("make CC=clang"), these(&["make", "CC=clang"]));
    }

    #[test]
    fn a_program_is_found_as_the_shell_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let write = |path: &Path, mode: u32| {
            std::fs::write(path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(&bin.join("tool"), 0o755);
        write(&bin.join("data"), 0o644);
        write(&dir.path().join("run.sh"), 0o755);
        let path = format!("/nonexistent:{}", bin.display());
        let cwd = dir.path();
        assert_eq!(
            program_path("tool", Some(&path), cwd),
            Some(bin.join("tool"))
        );
        assert_eq!(program_path("data", Some(&path), cwd), None);
        assert_eq!(program_path("missing", Some(&path), cwd), None);
        assert_eq!(program_path("tool", None, cwd), None);
        assert_eq!(
            program_path("./run.sh", Some(&path), cwd),
            Some(cwd.join("./run.sh"))
        );
        assert_eq!(program_path("run.sh", Some(&path), cwd), None);
        // An empty PATH entry is the command's folder.
        assert_eq!(
            program_path("run.sh", Some(":/nonexistent"), cwd),
            Some(cwd.join("run.sh"))
        );
        assert_eq!(program_path("bin", Some(cwd.to_str().unwrap()), cwd), None);
    }
}
