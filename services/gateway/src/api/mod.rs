//! The HTTP API as poem-openapi services; the OpenAPI document and Swagger UI
//! are generated from these handlers.

pub(crate) mod artifact_stream;
pub(crate) mod artifacts;
pub(crate) mod auth;
pub(crate) mod bisect;
pub(crate) mod board_console;
pub(crate) mod board_reservation;
pub(crate) mod boards;
pub(crate) mod byte_range;
pub(crate) mod control;
pub(crate) mod document;
pub(crate) mod error;
pub(crate) mod health;
pub(crate) mod hook_body;
pub(crate) mod hooks;
pub(crate) mod junit;
pub(crate) mod log_follower;
pub(crate) mod log_lines;
pub(crate) mod log_resume;
pub(crate) mod log_stream;
pub(crate) mod method_not_allowed;
pub(crate) mod model;
pub(crate) mod notifications;
pub(crate) mod queries;
pub(crate) mod query_params;
pub(crate) mod queue;
pub(crate) mod repos;
pub(crate) mod request_examples;
pub(crate) mod rerun;
pub(crate) mod serde_json_body;
pub(crate) mod sizes;
pub(crate) mod stream_event;
pub(crate) mod strict_json;
pub(crate) mod submit;
pub(crate) mod tests;
pub(crate) mod workers;

use poem_openapi::{OpenApiService, Tags};

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Submit, read, cancel and delete queues
    Queues,
    /// The workers and their boards: registry, drain, readmit, reserve, power
    Fleet,
    /// Test history and quarantine
    Tests,
    /// Find the commit that broke a test
    Bisect,
    /// Commit statuses and notifications the notifier delivered
    Notifications,
    /// Probes
    Health,
}

pub(crate) type Api = (
    submit::SubmitApi,
    // The integrations' routes as one: poem-openapi takes at most 16.
    (repos::ReposApi, hooks::HooksApi, junit::JunitApi),
    rerun::RerunApi,
    queries::QueryApi,
    queue::QueueApi,
    log_stream::LogStreamApi,
    log_lines::LogLinesApi,
    control::ControlApi,
    (workers::WorkersApi, boards::BoardsApi),
    tests::TestsApi,
    artifacts::ArtifactApi,
    sizes::SizesApi,
    bisect::BisectApi,
    notifications::NotificationsApi,
    health::HealthApi,
);

pub(crate) fn service(server_url: &str) -> OpenApiService<Api, ()> {
    OpenApiService::new(
        (
            submit::SubmitApi,
            (repos::ReposApi, hooks::HooksApi, junit::JunitApi),
            rerun::RerunApi,
            queries::QueryApi,
            queue::QueueApi,
            log_stream::LogStreamApi,
            log_lines::LogLinesApi,
            control::ControlApi,
            (workers::WorkersApi, boards::BoardsApi),
            tests::TestsApi,
            artifacts::ArtifactApi,
            sizes::SizesApi,
            bisect::BisectApi,
            notifications::NotificationsApi,
            health::HealthApi,
        ),
        "TestArena",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Firmware test queues: submit a git source and scenarios, watch them run.")
    .server(server_url)
}
