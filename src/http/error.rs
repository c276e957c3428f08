//! The one API error type and its stable JSON body: `{"error": "...", "error_type": "..."}`
//! (plus `fields` for a form that failed validation). Internal details are logged, never sent.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::pipeline::DecideError;
use crate::rules::schema::FieldError;
use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("unknown service `{0}`")]
    UnknownService(String),
    #[error("the form has invalid fields")]
    InvalidForm(Vec<FieldError>),
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too much work queued: try again after the given number of seconds.
    #[error("{message}")]
    Overloaded { message: String, retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::UnknownService(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidForm(_) | ApiError::InvalidJson(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::UnknownService(_) => "unknown_service",
            ApiError::InvalidForm(_) => "invalid_form",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
        let mut body = json!({"error": self.to_string(), "error_type": self.error_type()});
        if let ApiError::InvalidForm(fields) = &self {
            body["fields"] = json!(fields);
        }
        let mut response = (self.status_code(), Json(body)).into_response();
        if let ApiError::Overloaded { retry_after_secs, .. } = &self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(id) => ApiError::NotFound(format!("application {id} not found")),
            StoreError::Transition(e) => ApiError::Conflict(e.to_string()),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::TooManyFiles(n) => ApiError::PayloadTooLarge(format!("an application may hold at most {n} files")),
            e @ StoreError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<DecideError> for ApiError {
    fn from(error: DecideError) -> Self {
        match error {
            DecideError::UnknownService(s) => ApiError::UnknownService(s),
            DecideError::InvalidForm(fields) => ApiError::InvalidForm(fields),
            e @ DecideError::UnknownField(_) => ApiError::BadRequest(e.to_string()),
            e @ DecideError::System(_) => ApiError::Internal(e.into()),
        }
    }
}

/// `Json` whose rejections (malformed JSON, wrong content type) answer with the API's error body.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(ApiError::InvalidJson(rejection.body_text())),
        }
    }
}
