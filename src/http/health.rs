//! Health for load balancers and orchestrators: `/health/live` answers 200 while the process
//! serves at all (restart it when this fails); `/health/ready` (and `/health`, kept for existing
//! checks) answers 200 once the database answers and rules and models are loaded (the models are
//! verified against their manifest and loaded before the listener opens), and 503 before, when the
//! database does not answer, and once shutting down (send no more traffic here).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(ready)).route("/health/ready", get(ready)).route("/health/live", get(live))
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "live"}))
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = state.usecases().store().ping().await.is_ok();
    let ready = state.is_ready() && database;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let said = match (ready, state.is_stopping(), database) {
        (true, _, _) => "ready",
        (false, true, _) => "stopping",
        (false, false, false) if state.was_ready() => "database unavailable",
        _ => "starting",
    };
    let body = json!({
        "status": said,
        "database": database,
        "ruleset": state.usecases().pipeline().rules().hash(),
        "services": state.usecases().pipeline().rules().services.keys().collect::<Vec<_>>(),
        "models": state.usecases().pipeline().model_digests(),
        "ocr": state.usecases().pipeline().loaded().0,
        "encoder": state.usecases().pipeline().loaded().1,
    });
    (status, Json(body))
}
