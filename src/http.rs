//! The HTTP edge: `/api/v1` (JSON, stable error body) and `/health`. Requests become domain types
//! here; handlers call use cases and never touch SQL.

pub mod applications;
pub mod error;
pub mod health;

use axum::Router;

use crate::app::AppState;

pub use error::ApiError;

pub fn router(state: AppState) -> Router {
    // The body limit covers a whole multipart upload; per-file and per-application limits are checked
    // while reading it, with their own 413 messages.
    let body_limit = state.limits().max_application_bytes as usize + 1024 * 1024;
    Router::new()
        .nest("/api/v1", applications::router())
        .merge(health::router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
