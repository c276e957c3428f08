//! The HTTP edge: `/api/v1` (JSON, stable error body) and `/health`. Requests become domain types
//! here; handlers call use cases and never touch SQL.

pub mod applications;
pub mod auth;
pub mod error;
pub mod health;
pub mod permits;
pub mod review;

use axum::Router;

use crate::app::AppState;

pub use error::ApiError;

pub fn router(state: AppState) -> Router {
    // The body limit covers a whole multipart upload; per-file and per-application limits are checked
    // while reading it, with their own 413 messages.
    let body_limit = state.limits().max_application_bytes as usize + 1024 * 1024;
    Router::new()
        .nest(
            "/api/v1",
            applications::router().merge(review::router()).merge(permits::api_router()).route("/openapi.json", axum::routing::get(openapi)),
        )
        .merge(health::router())
        .merge(permits::page_router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        // Defence in depth: a bug that panics in a handler answers 500 with the error body; the
        // process and every other request carry on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            axum::response::IntoResponse::into_response(ApiError::Internal(anyhow::anyhow!("a request handler panicked")))
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The OpenAPI document, kept beside the handlers and checked against the router by a test.
pub const OPENAPI: &str = include_str!("http/openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}
