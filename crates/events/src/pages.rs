//! The list and answer bodies of the HTTP API that carry the shared views:
//! what the gateway serves and the CLI reads, one type each. Like the views,
//! with the `openapi` feature they are poem-openapi `Object`s under these
//! names. (A `///` line on a struct is its description in the document.)

use serde::{Deserialize, Serialize};

use crate::{ArtifactView, BisectView, QueueView, WorkerView};

// `GET /api/queues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct QueuePage {
    pub queues: Vec<QueueView>,
    /// Queues matching the filter, over all pages: exact up to 10000; when
    /// more match, 10000 and `total_capped` is `true`.
    pub total: u64,
    /// `true` when more than 10000 queues match, so `total` (10000) is a
    /// lower bound: "10,000+".
    #[serde(default)]
    pub total_capped: bool,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub next_cursor: Option<String>,
    /// The page number asked for; `null` for a page asked by `cursor`.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub page: Option<u32>,
    pub per_page: u32,
}

/// Which queues `GET /api/queues?bisect=` lists by whether they are a
/// bisect's step (their view's `bisect` is set). Step queues are many and
/// made by the bisect driver, not by a person, so the list leaves them out
/// unless asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum BisectSteps {
    /// Queues that are no bisect's step.
    #[default]
    Exclude,
    /// Every queue.
    Include,
    /// Only bisect step queues.
    Only,
}

impl BisectSteps {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exclude => "exclude",
            Self::Include => "include",
            Self::Only => "only",
        }
    }
}

/// `GET /api/queue/{id}/artifacts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ArtifactList {
    /// In the order they were stored.
    pub artifacts: Vec<ArtifactView>,
}

/// `POST /api/bisect`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BisectCreated {
    pub id: String,
    /// `Running` (a new bisect), or the status of the one this id names.
    pub status: String,
}

/// `GET /api/bisects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BisectList {
    /// Newest first.
    pub bisects: Vec<BisectView>,
}

// `GET /api/workers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct WorkersPage {
    /// Live workers (heard from within three heartbeats), by id.
    pub workers: Vec<WorkerView>,
}
