//! `ccache = true`: a build runs with ccache in front of its compiler. The
//! worker puts the distribution's folder of compiler links to ccache
//! (`/usr/lib/ccache` on Debian) first on the build's `PATH`, so `cc`,
//! `gcc` or `arm-none-eabi-gcc` in a Makefile go through ccache without the
//! repository knowing, and sets ccache's variables itself (they are never
//! taken from the worker's environment, command_env.rs):
//! `CCACHE_DIR` is the worker's own, `CCACHE_BASEDIR` the worktree, so a
//! hit survives a change of worktree slot.

use std::path::{Path, PathBuf};

/// Where distributions keep the compiler links to ccache.
const LINK_DIRS: [&str; 3] = [
    "/usr/lib/ccache",
    "/usr/lib64/ccache",
    "/usr/local/lib/ccache",
];

/// The ccache this worker found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ccache {
    /// A folder of `cc`, `gcc`, … links to ccache.
    link_dir: PathBuf,
}

impl Ccache {
    /// The first of the known folders that holds a `cc` or `gcc` link, or
    /// an error saying what to install.
    pub fn locate() -> Result<Self, String> {
        Self::locate_in(&LINK_DIRS.map(Path::new))
    }

    fn locate_in(dirs: &[&Path]) -> Result<Self, String> {
        dirs.iter()
            .find(|dir| dir.join("cc").exists() || dir.join("gcc").exists())
            .map(|dir| Self {
                link_dir: dir.to_path_buf(),
            })
            .ok_or_else(|| {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                format!(
                    "ccache is not installed on this worker (none of {} holds compiler links); \
                     install it (Debian/Ubuntu: apt-get install ccache) or set ccache = false",
                    dirs.join(", ")
                )
            })
    }

    /// `env` (a command's whole environment) with ccache's variables set
    /// and the links first on `PATH`.
    pub(crate) fn in_env(
        &self,
        mut env: Vec<(String, String)>,
        ccache_dir: &Path,
        worktree: &Path,
    ) -> Vec<(String, String)> {
        env.retain(|(name, _)| !name.starts_with("CCACHE_"));
        let links = self.link_dir.display().to_string();
        match env.iter_mut().find(|(name, _)| name == "PATH") {
            Some((_, path)) => *path = format!("{links}:{path}"),
            None => env.push(("PATH".into(), format!("{links}:/usr/bin:/bin"))),
        }
        env.push(("CCACHE_DIR".into(), ccache_dir.display().to_string()));
        env.push(("CCACHE_BASEDIR".into(), worktree.display().to_string()));
        // With `-g`, ccache hashes the current directory unless told not
        // to; the debug info then names the worktree that compiled first.
        env.push(("CCACHE_NOHASHDIR".into(), "1".into()));
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_the_links_is_told_what_to_install() {
        let root = tempfile::tempdir().unwrap();
        let (empty, links) = (root.path().join("empty"), root.path().join("links"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&links).unwrap();
        let err = Ccache::locate_in(&[&empty]).unwrap_err();
        assert!(err.contains("ccache is not installed"), "{err}");
        assert!(err.contains("apt-get install ccache"), "{err}");
        std::fs::write(links.join("gcc"), "").unwrap();
        let found = Ccache::locate_in(&[&empty, &links]).unwrap();
        assert_eq!(found.link_dir, links);
    }

    #[test]
    fn the_links_go_first_on_path_and_ccache_variables_are_the_workers() {
        let ccache = Ccache {
            link_dir: "/usr/lib/ccache".into(),
        };
        let env = vec![
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ("CCACHE_DIR".to_owned(), "/from/the/profile".to_owned()),
            ("DUT_PORT".to_owned(), "4000".to_owned()),
        ];
        let env = ccache.in_env(env, Path::new("/w/cache/ccache"), Path::new("/w/wt/0"));
        let get = |name: &str| {
            env.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("PATH"), ["/usr/lib/ccache:/usr/bin:/bin"]);
        assert_eq!(get("CCACHE_DIR"), ["/w/cache/ccache"]);
        assert_eq!(get("CCACHE_BASEDIR"), ["/w/wt/0"]);
        assert_eq!(get("DUT_PORT"), ["4000"]);
    }
}
