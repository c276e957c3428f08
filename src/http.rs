//! The HTTP edge: `/api/v1` (JSON, stable error body), `/health` and `/metrics`. Requests become domain types
//! here; handlers parse, call a use case and map its answer, and never touch storage.

pub mod applications;
pub mod audit;
pub mod auth;
pub mod bodies;
pub mod error;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod permits;
pub mod ratings;
pub mod review;
pub mod schemas;
pub mod state;

use axum::Router;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use state::AppState;

/// Every route the OpenAPI document names, and the document: the API under `/api/v1`, the health
/// checks and the public verification page. Each is added with `routes!` and the handler's
/// `#[utoipa::path]`, never with a plain `.route(...)`: a test (`openapi::tests`) walks the served
/// router and fails on any route outside the HTML pages that the document does not name.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest(
            "/api/v1",
            applications::router()
                .merge(review::router())
                .merge(ratings::router())
                .merge(audit::router())
                .merge(permits::api_router())
                .merge(openapi::router()),
        )
        .merge(health::router())
        .merge(metrics::router())
        .merge(permits::page_router())
}

pub fn router(state: AppState) -> Router {
    // The body limit covers a whole multipart upload; per-file and per-application limits are checked
    // while reading it, with their own 413 messages.
    let body_limit = state.usecases().limits().max_application_bytes as usize + 1024 * 1024;
    let (documented, _) = documented().split_for_parts();
    Router::new()
        .merge(documented)
        .merge(crate::web::router(state.clone()))
        .fallback(crate::web::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(error::stable_error_body))
        .layer(axum::middleware::from_fn(error::request_size_limits))
        // Defence in depth: a bug that panics in a handler answers 500 with the error body; the
        // process and every other request carry on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            axum::response::IntoResponse::into_response(ApiError::Internal("a request handler panicked".into()))
        }))
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The application a path names; text that is no application id names nothing, like an unknown id.
pub fn application_id(text: &str) -> Result<crate::domain::application::ApplicationId, ApiError> {
    crate::domain::application::ApplicationId::parse(text).ok_or_else(|| ApiError::NotFound(format!("application {text} not found")))
}
