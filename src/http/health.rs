//! `/health`: 200 once the database answers and rules and models are loaded (the models are
//! verified against their manifest and loaded before the listener opens), 503 before.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = state.store().ping().await.is_ok();
    let ready = state.is_ready() && database;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "starting" },
        "database": database,
        "ruleset": state.decider().rules().hash(),
        "services": state.decider().rules().services.keys().collect::<Vec<_>>(),
        "models": state.decider().reader().model_digests(),
        "ocr": state.decider().reader().has_ocr(),
        "encoder": state.decider().reader().encoder().is_some(),
    });
    (status, Json(body))
}
