//! `/metrics` (Prometheus text, see [`crate::telemetry`] for the names) and the middleware that
//! counts every request by its route's pattern and status.
//!
//! Like `/health`, it needs no account: what it shows is counts and latencies, no case's content.
//! Operators who do not want it public keep it behind the load balancer, as they do `/health`.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The content type of Prometheus's text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    security(),
    summary = "Operators' metrics in Prometheus text: stage latencies, decisions, the queue, HTTP requests, models",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 404, description = "this process's metrics go to another recorder")
    )
)]
async fn metrics(State(state): State<AppState>) -> Response {
    // The queue is the shared database's, read at the scrape; a database that does not answer
    // leaves the last figures and shows in /health/ready.
    match state.usecases().store().queue_stats().await {
        Ok(stats) => {
            let now = chrono::Utc::now();
            let oldest = stats
                .oldest_queued_at
                .as_deref()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .and_then(|at| (now - at.with_timezone(&chrono::Utc)).to_std().ok())
                .unwrap_or_default();
            crate::telemetry::queue(stats.queued, stats.running, oldest);
        }
        Err(error) => tracing::warn!(%error, "reading the queue for /metrics failed"),
    }
    match crate::telemetry::render() {
        Some(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics go to another recorder in this process\n").into_response(),
    }
}

/// Counts the request once answered. The route is the pattern the router matched (so
/// `/api/v1/applications/{id}`, whatever the id); a request no route matched counts as
/// `unmatched`, so that scanners' paths do not become series.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    // Any token is a method to HTTP: only the known ones become label values.
    let method: &'static str = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    crate::telemetry::http(method, &route, response.status().as_u16(), started.elapsed());
    response
}
