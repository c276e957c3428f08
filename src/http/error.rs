//! The one API error type and its stable JSON body: `{"error": "...", "error_type": "..."}`
//! (plus `fields` for a form that failed validation). Internal details are logged, never sent.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::pipeline::PipelineError;
use crate::rules::schema::FieldError;
use crate::storage::StoreError;
use crate::usecases::UseCaseError;

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
    /// Logged with its detail; the caller is told only that the service failed.
    #[error("internal error")]
    Internal(String),
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
            tracing::error!(error = %error, "internal error");
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
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<UseCaseError> for ApiError {
    fn from(error: UseCaseError) -> Self {
        match error {
            UseCaseError::NotFound(message) => ApiError::NotFound(message),
            e @ UseCaseError::NotAllowed(_) => ApiError::Forbidden(e.to_string()),
            UseCaseError::Forbidden(message) => ApiError::Forbidden(message),
            UseCaseError::Conflict(message) => ApiError::Conflict(message),
            UseCaseError::Invalid(message) => ApiError::BadRequest(message),
            UseCaseError::TooLarge(message) => ApiError::PayloadTooLarge(message),
            UseCaseError::Overloaded { message, retry_after_secs } => ApiError::Overloaded { message, retry_after_secs },
            UseCaseError::Pipeline(e) => e.into(),
            UseCaseError::Store(e) => e.into(),
            UseCaseError::Internal(message) => ApiError::Internal(message),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> Self {
        match error {
            PipelineError::UnknownService(s) => ApiError::UnknownService(s),
            PipelineError::InvalidForm(fields) => ApiError::InvalidForm(fields),
            e @ PipelineError::UnknownField(_) => ApiError::BadRequest(e.to_string()),
            e @ PipelineError::System(_) => ApiError::Internal(e.to_string()),
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
