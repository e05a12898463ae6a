//! `GET /api/queue/{id}/junit.xml`: every task's cases in one JUnit report
//! (junit_report.rs writes it from the queue's view).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{param::Path, payload::PlainText, ApiResponse, OpenApi};

use super::error::ApiError;
use super::queries::find;
use super::ApiTags;
use crate::junit_report::junit_report;
use crate::state::AppState;

#[derive(ApiResponse, Debug)]
pub(crate) enum JunitResponse {
    /// The report: `<testsuites>`, one `<testsuite>` per task.
    #[oai(status = 200, content_type = "application/xml")]
    Report(PlainText<String>),
}

pub(crate) struct JunitApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Queues")]
impl JunitApi {
    /// A queue's merged JUnit report
    ///
    /// Every task's cases (from its JUnit files or its console) in one
    /// report, one `<testsuite>` per task; a task without cases is one case
    /// of its own, and one that never ran is skipped. For GitLab's
    /// `artifacts:reports:junit` and Jenkins' `junit` step.
    #[oai(path = "/queue/:id/junit.xml", method = "get")]
    async fn junit(
        &self,
        state: Data<&Arc<AppState>>,
        id: Path<String>,
    ) -> Result<JunitResponse, ApiError> {
        let view = find(&state, &id.0).await?;
        Ok(JunitResponse::Report(PlainText(junit_report(&view))))
    }
}
