//! The environment a profile command starts from. Repository code runs in
//! it, so it is built from an allow-list, never inherited: the worker's own
//! variables (NATS passwords, API tokens, cloud keys) stay out unless the
//! worker config names them in `pass_env`.

use std::collections::BTreeMap;

/// Variables every command gets from the worker, when the worker has them.
const ALWAYS_PASSED: [&str; 5] = ["PATH", "HOME", "TERM", "TZ", "TMPDIR"];

/// Locale variables (`LANG`, `LANGUAGE`, `LC_*`) pass too: tools print
/// differently without them.
fn is_locale(name: &str) -> bool {
    name == "LANG" || name == "LANGUAGE" || name.starts_with("LC_")
}

/// The variables a worker passes on to every profile command, computed once
/// at start from its own environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandEnv {
    passed: BTreeMap<String, String>,
}

impl CommandEnv {
    /// Picks from `parent` (the worker's environment) what the allow-list
    /// and `pass_env` name. Variables whose name or value is not UTF-8 are
    /// left out.
    pub fn from_parent<I, K, V>(parent: I, pass_env: &[String]) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<std::ffi::OsString>,
        V: Into<std::ffi::OsString>,
    {
        let passed = parent
            .into_iter()
            .filter_map(|(k, v)| Some((k.into().into_string().ok()?, v.into().into_string().ok()?)))
            .filter(|(name, _)| {
                ALWAYS_PASSED.contains(&name.as_str())
                    || is_locale(name)
                    || pass_env.iter().any(|p| p == name)
            })
            .collect();
        Self { passed }
    }

    /// The worker's environment as this process sees it.
    pub fn from_worker(pass_env: &[String]) -> Self {
        Self::from_parent(std::env::vars_os(), pass_env)
    }

    /// The passed variables, then `extra` (placeholders, the profile's
    /// `env`), later ones winning.
    pub(crate) fn with(&self, extra: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut env = self.passed.clone();
        env.extend(extra);
        env.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Vec<(String, String)> {
        [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/ci"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("TESTARENA_NATS_PASSWORD", "hunter2"),
            ("TESTARENA_API_TOKENS", "token-token-token-token"),
            ("AWS_SECRET_ACCESS_KEY", "aws"),
            ("SSH_AUTH_SOCK", "/run/agent"),
            ("ARM_TOOLCHAIN", "/opt/arm"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn only_the_allow_list_and_pass_env_reach_a_command() {
        let env = CommandEnv::from_parent(parent(), &["ARM_TOOLCHAIN".to_owned()]);
        let names: Vec<String> = env.with(vec![]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["ARM_TOOLCHAIN", "HOME", "LANG", "LC_ALL", "PATH"]);
    }

    #[test]
    fn the_workers_secrets_never_pass_by_default() {
        let env = CommandEnv::from_parent(parent(), &[]).with(vec![]);
        for (name, value) in &env {
            assert!(!name.contains("NATS") && !name.contains("TOKEN") && !name.starts_with("AWS"));
            assert_ne!(value, "hunter2");
        }
    }

    #[test]
    fn placeholders_and_profile_env_override_passed_values() {
        let env = CommandEnv::from_parent(parent(), &[]).with(vec![
            ("TESTARENA_PORT".into(), "4000".into()),
            ("HOME".into(), "/work".into()),
        ]);
        assert!(env.contains(&("HOME".into(), "/work".into())));
        assert!(env.contains(&("TESTARENA_PORT".into(), "4000".into())));
    }
}
