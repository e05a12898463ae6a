//! `GET /api/sizes`: the firmware sizes history of a repository (and
//! profile), one entry per commit, newest first.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, OpenApi};
use testarena_events::SizeHistory;

use super::error::ApiError;
use super::ApiTags;
use crate::state::AppState;

/// Entries one answer holds at most.
const MAX_SIZES: u32 = 500;

pub(crate) struct SizesApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl SizesApi {
    /// Firmware sizes per commit
    ///
    /// `text`, `data` and `bss` of the profile's `elf`, as each queue of the
    /// repository measured it after its build: one entry per commit (its
    /// latest queue), newest first, at most 500.
    #[oai(path = "/sizes", method = "get")]
    async fn sizes(
        &self,
        state: Data<&Arc<AppState>>,
        /// The source URL, exactly as submitted.
        #[oai(validator(min_length = 1, max_length = 2048))]
        repo: Query<String>,
        /// Only this profile (the one the worker ran); every profile when absent.
        #[oai(validator(max_length = 64))]
        profile: Query<Option<String>>,
    ) -> Result<Json<SizeHistory>, ApiError> {
        let sizes = state
            .views
            .sizes(&repo.0, profile.0.as_deref(), MAX_SIZES)
            .await?;
        Ok(Json(SizeHistory { sizes }))
    }
}
