//! What the gateway answers a reservation, its release and a power action
//! with: the API writes these and the CLI reads them, one type each.

use serde::{Deserialize, Serialize};

/// `POST /api/boards/{worker}/{board}/reserve`: a reservation taken or
/// extended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Reservation {
    pub worker: String,
    pub board: String,
    /// The API token's name that holds it.
    pub reserved_by: String,
    /// RFC 3339, UTC.
    pub until: String,
    pub reason: String,
    /// `null`: the board is the reserver's now; else when it will be
    /// (`after queue <id>`: a queue running on it finishes first).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub free_at: Option<String>,
}

/// A reservation released, or a power action's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BoardAnswer {
    pub worker: String,
    pub board: String,
    /// For a power action: whether the worker's command succeeded.
    pub ok: bool,
    /// What happened, in words.
    pub message: String,
}
