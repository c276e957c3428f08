//! `/health`: 200 once the database answers and rules and models are loaded (the models are
//! verified against their manifest and loaded before the listener opens), 503 before.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = state.usecases().store().ping().await.is_ok();
    let ready = state.is_ready() && database;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "starting" },
        "database": database,
        "ruleset": state.usecases().pipeline().rules().hash(),
        "services": state.usecases().pipeline().rules().services.keys().collect::<Vec<_>>(),
        "models": state.usecases().pipeline().model_digests(),
        "ocr": state.usecases().pipeline().loaded().0,
        "encoder": state.usecases().pipeline().loaded().1,
    });
    (status, Json(body))
}
