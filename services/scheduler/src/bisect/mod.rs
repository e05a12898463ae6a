//! Bisect: find the first commit where a test fails. `search.rs` is the one
//! decision, what to do next (pure); `driver.rs` does it: reads the bisect
//! views, resolves ranges with git (`git_range.rs`), submits step queues
//! and publishes the bisect's events. The gateway validates the request.

pub(crate) mod driver;
mod git_range;
pub(crate) mod search;
