//! Firmware sizes: `GET /api/sizes` (a repository's history, one entry per
//! commit, newest first in commit order), `GET /api/sizes/sources` (what
//! has sizes, for the Sizes page's picker) and `GET /api/queue/{id}/size-diff`
//! (by symbol, against the previous measured commit; the diff is
//! `testarena_events::size_diff`).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    OpenApi,
};
use testarena_events::{size_diff, SizeDiff, SizeDiffBase, SizeHistory, SizeSources};

use super::error::ApiError;
use super::queries::find;
use super::ApiTags;
use crate::state::AppState;

/// Entries one answer holds at most.
const MAX_SIZES: u32 = 500;
/// Repositories and profiles one answer lists at most.
const MAX_SOURCES: u32 = 200;

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

    /// Repositories and profiles with firmware sizes
    ///
    /// Each repository and profile some queue measured firmware for, with
    /// how many commits and when last, the latest first, at most 200.
    #[oai(path = "/sizes/sources", method = "get")]
    async fn sources(&self, state: Data<&Arc<AppState>>) -> Result<Json<SizeSources>, ApiError> {
        let sources = state.views.size_sources(MAX_SOURCES).await?;
        Ok(Json(SizeSources { sources }))
    }

    /// A queue's firmware size diff by symbol
    ///
    /// Its sections and its 20 largest growers and shrinkers among the
    /// ELF's 500 largest symbols, against the previous measured commit of
    /// the same repository and profile (by first-parent depth, else by when
    /// measured); `base` is `null` when there is none. 404 for an unknown
    /// queue or one that measured no firmware.
    #[oai(path = "/queue/:id/size-diff", method = "get")]
    async fn size_diff(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<Json<SizeDiff>, ApiError> {
        let view = find(&state, &id.0).await?;
        let Some((now, base)) = state.views.size_diff_sides(&view.id).await? else {
            return Err(ApiError::no_firmware(&view.id));
        };
        let before = base
            .as_ref()
            .map(|b| b.measured.clone())
            .unwrap_or_else(|| {
                // Without a base nothing changed: the diff of a firmware with itself.
                now.measured.clone()
            });
        let changes = size_diff(&now.measured, &before);
        Ok(Json(SizeDiff {
            queue_id: now.queue_id,
            commit: now.commit,
            base: base.map(|b| SizeDiffBase {
                queue_id: b.queue_id,
                commit: b.commit,
            }),
            text: changes.text,
            data: changes.data,
            bss: changes.bss,
            growers: changes.growers,
            shrinkers: changes.shrinkers,
        }))
    }
}
