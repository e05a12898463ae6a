//! A secret read from a file: its value never shows in `Debug`, so a config
//! printed into a log line keeps it out; only the file's path does.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    file: PathBuf,
    value: String,
}

impl Secret {
    /// The file's content without the trailing newline an editor adds; an
    /// empty secret is refused by the caller, never used as a key.
    pub(crate) fn new(file: PathBuf, content: &str) -> Option<Self> {
        let value = content.trim_end_matches(['\n', '\r']);
        (!value.is_empty()).then(|| Self {
            file,
            value: value.to_owned(),
        })
    }

    /// The secret's bytes, for an HMAC key or a token comparison.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where it was read from: what a log line or an error may name.
    pub fn file(&self) -> &Path {
        &self.file
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(from {})", self.file.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_file_never_the_value() {
        let secret = Secret::new("/run/s".into(), "hunter2\n").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        let shown = format!("{secret:?}");
        assert!(
            shown.contains("/run/s") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(Secret::new("/run/s".into(), "\n").is_none());
    }
}
