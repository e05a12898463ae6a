//! Which pushed branches start queues: `refs = ["main", "release/*"]`,
//! globs over the branch name as GitHub's branch filters read them (`*`
//! stays within one path segment, `**` crosses them). No patterns: all.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

#[derive(Debug, Clone, Default)]
pub struct RefFilter {
    patterns: Vec<String>,
    set: Option<GlobSet>,
}

#[derive(Debug, thiserror::Error)]
#[error("ref pattern {pattern:?}: {reason}")]
pub struct RefFilterError {
    pattern: String,
    reason: String,
}

impl RefFilter {
    pub fn parse(patterns: &[String]) -> Result<Self, RefFilterError> {
        if patterns.is_empty() {
            return Ok(Self::default());
        }
        let mut set = GlobSetBuilder::new();
        for pattern in patterns {
            let bad = |reason: String| RefFilterError {
                pattern: pattern.clone(),
                reason,
            };
            if pattern.len() > 255 {
                return Err(bad("is longer than a ref may be (255)".into()));
            }
            if pattern.trim().is_empty() || pattern.chars().any(char::is_control) {
                return Err(bad("must be a non-empty branch name or glob".into()));
            }
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| bad(e.kind().to_string()))?;
            set.add(glob);
        }
        let set = set.build().map_err(|e| RefFilterError {
            pattern: patterns.join(", "),
            reason: e.to_string(),
        })?;
        Ok(Self {
            patterns: patterns.to_vec(),
            set: Some(set),
        })
    }

    /// `git_ref` as a hook names it (`refs/heads/main`) or a bare branch name.
    /// Tags match a pattern only by their full name (`refs/tags/*`).
    pub fn matches(&self, git_ref: &str) -> bool {
        let Some(set) = &self.set else {
            return true;
        };
        let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        set.is_match(branch)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &[&str]) -> RefFilter {
        RefFilter::parse(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn branches_match_by_name_and_star_stays_in_its_segment() {
        let f = filter(&["main", "release/*"]);
        assert!(f.matches("refs/heads/main"));
        assert!(f.matches("main"));
        assert!(f.matches("refs/heads/release/1.2"));
        assert!(!f.matches("refs/heads/release/1.2/hotfix"));
        assert!(!f.matches("refs/heads/feature"));
        assert!(!f.matches("refs/tags/main-1"));
        assert!(filter(&["refs/tags/*"]).matches("refs/tags/v1"));
    }

    #[test]
    fn no_patterns_match_every_ref_and_bad_ones_are_named() {
        assert!(filter(&[]).matches("refs/heads/anything"));
        let err = RefFilter::parse(&["release/[".to_string()]).unwrap_err();
        assert!(err.to_string().contains("release/["), "{err}");
        assert!(RefFilter::parse(&[" ".to_string()]).is_err());
    }
}
