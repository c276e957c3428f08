//! Health for load balancers and orchestrators: `/health/live` answers 200 while the process
//! serves at all (restart it when this fails); `/health/ready` (and `/health`, kept for existing
//! checks) answers 200 once the database answers and rules and models are loaded (the models are
//! verified against their manifest and loaded before the listener opens), and 503 before, when the
//! database does not answer, and once shutting down (send no more traffic here).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(live))
}

#[derive(Debug, Serialize, ToSchema)]
struct Live {
    /// Always `live`.
    status: &'static str,
}

#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    security(),
    summary = "Liveness: 200 while the process serves at all",
    responses((status = 200, description = "live", body = Live))
)]
async fn live() -> Json<Live> {
    Json(Live { status: "live" })
}

/// Whether the service is ready, and what it runs with.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// ready, starting, database unavailable or stopping.
    status: &'static str,
    /// Whether the database answers.
    database: bool,
    /// `sha256:` of the rule set.
    ruleset: String,
    /// The services of the rule set.
    services: Vec<String>,
    /// Model id → `sha256:` of its weights.
    models: BTreeMap<String, String>,
    /// Whether the OCR model is loaded.
    ocr: bool,
    /// Whether the encoder is loaded.
    encoder: bool,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    security(),
    summary = "The same as /health/ready (kept for existing checks)",
    responses(
        (status = 200, description = "ready", body = Health),
        (status = 503, description = "not ready", body = Health),
    )
)]
async fn health(state: State<AppState>) -> (StatusCode, Json<Health>) {
    ready(state).await
}

#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    security(),
    summary = "Readiness: database answers, rules and models loaded",
    description = "503 while starting, when the database does not answer, and once shutting down (status: ready, starting, database unavailable, stopping)",
    responses(
        (status = 200, description = "ready", body = Health),
        (status = 503, description = "not ready", body = Health),
    )
)]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = state.usecases().store().ping().await.is_ok();
    let ready = state.is_ready() && database;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let said = match (ready, state.is_stopping(), database) {
        (true, _, _) => "ready",
        (false, true, _) => "stopping",
        (false, false, false) if state.was_ready() => "database unavailable",
        _ => "starting",
    };
    let pipeline = state.usecases().pipeline();
    let (ocr, encoder) = pipeline.loaded();
    let body = Health {
        status: said,
        database,
        ruleset: pipeline.rules().hash().to_string(),
        services: pipeline.rules().services.keys().cloned().collect(),
        models: pipeline.model_digests(),
        ocr,
        encoder,
    };
    (status, Json(body))
}
