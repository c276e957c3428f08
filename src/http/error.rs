//! The one API error type and its stable JSON body: `{"error": "...", "error_type": "..."}`
//! (plus `fields` for a form that failed validation). Internal details are logged, never sent.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

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
    /// The account's quota (applications a day, bytes stored) is used up.
    #[error("{0}")]
    Quota(String),
    /// What was here is withdrawn for good (a revoked permit's certificate).
    #[error("{0}")]
    Gone(String),
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
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_type(&self) -> ErrorType {
        match self {
            ApiError::Unauthorized(_) => ErrorType::Unauthorized,
            ApiError::Forbidden(_) => ErrorType::Forbidden,
            ApiError::NotFound(_) => ErrorType::NotFound,
            ApiError::UnknownService(_) => ErrorType::UnknownService,
            ApiError::InvalidForm(_) => ErrorType::InvalidForm,
            ApiError::InvalidJson(_) => ErrorType::InvalidJson,
            ApiError::BadRequest(_) => ErrorType::BadRequest,
            ApiError::Conflict(_) => ErrorType::Conflict,
            ApiError::PayloadTooLarge(_) => ErrorType::PayloadTooLarge,
            ApiError::Gone(_) => ErrorType::Gone,
            ApiError::Quota(_) => ErrorType::QuotaExceeded,
            ApiError::UnsupportedMediaType(_) => ErrorType::UnsupportedMediaType,
            ApiError::Overloaded { .. } => ErrorType::Overloaded,
            ApiError::Internal(_) => ErrorType::Internal,
        }
    }
}

/// Every `error_type` an answer may carry. The stable body holds one of these and nothing else,
/// so the document's enum (derived from this type) names every one the service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    Unauthorized,
    Forbidden,
    NotFound,
    UnknownService,
    InvalidForm,
    InvalidJson,
    BadRequest,
    Conflict,
    PayloadTooLarge,
    Gone,
    QuotaExceeded,
    UnsupportedMediaType,
    Overloaded,
    Internal,
    /// A known path asked with another method (axum's 405).
    MethodNotAllowed,
    UriTooLong,
    HeadersTooLarge,
    /// axum's own 422 (a path, query or form it could not take).
    InvalidRequest,
}

/// The stable error body: what went wrong in words, its type, and for a form that failed
/// validation which fields did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: String,
    #[schema(inline)]
    pub error_type: ErrorType,
    /// Only with `invalid_form`: each field that failed, by its dotted path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldErrorBody>>,
}

/// One field of a form that failed validation.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// Dotted path of the field, with list indexes: `outlets[1].kind`.
    pub field: String,
    pub error: String,
}

impl From<&FieldError> for FieldErrorBody {
    fn from(e: &FieldError) -> Self {
        Self { field: e.field.clone(), error: e.error.clone() }
    }
}

impl ErrorBody {
    fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self { error: message.into(), error_type, fields: None }
    }
}

/// The document's reusable `Error` response (`#/components/responses/Error`): the stable body.
impl<'r> utoipa::ToResponse<'r> for ErrorBody {
    fn response() -> (&'r str, utoipa::openapi::RefOr<utoipa::openapi::response::Response>) {
        let schema = utoipa::openapi::Ref::from_schema_name(<ErrorBody as ToSchema>::name());
        let content = utoipa::openapi::ContentBuilder::new().schema(Some(schema)).build();
        (
            "Error",
            utoipa::openapi::ResponseBuilder::new()
                .description("error (the stable error body)")
                .content("application/json", content)
                .into(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = %error, "internal error");
        }
        let mut body = ErrorBody::new(self.error_type(), self.to_string());
        if let ApiError::InvalidForm(fields) = &self {
            body.fields = Some(fields.iter().map(FieldErrorBody::from).collect());
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
            e @ StoreError::Quota(_) => ApiError::Quota(e.to_string()),
            e @ StoreError::Overloaded { .. } => ApiError::Overloaded { message: e.to_string(), retry_after_secs: 30 },
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
            e @ PipelineError::OverBudget(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

/// The largest JSON body a route takes: a form, a review decision or a correction is a few KB.
pub const MAX_JSON_BODY_BYTES: usize = 256 * 1024;

/// `Json` whose rejections (malformed JSON, wrong content type, a body over
/// [`MAX_JSON_BODY_BYTES`]) answer with the API's error body: 422, 415 and 413.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence != "application/json" && !(essence.starts_with("application/") && essence.ends_with("+json")) {
            return Err(ApiError::UnsupportedMediaType("expected a JSON body with Content-Type: application/json".into()));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(format!("a JSON body may be at most {MAX_JSON_BODY_BYTES} bytes")))?;
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(ApiError::InvalidJson(rejection.body_text())),
        }
    }
}

/// Longest request target (path and query) the service answers; a real one is under 200 bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of request headers (names and values) the service answers.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// 414 and 431 with the stable body, for a request target or headers over the service's own limits.
/// These are far below hyper's (64 KiB of target, about 400 KiB of head), which answer with an
/// empty body of their own before any middleware runs: only a request past those gets that.
pub async fn request_size_limits(request: Request, next: axum::middleware::Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return error_response(
            StatusCode::URI_TOO_LONG,
            ErrorType::UriTooLong,
            &format!("the request target may be at most {MAX_URI_BYTES} bytes"),
        );
    }
    let headers: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if headers > MAX_HEADER_BYTES {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorType::HeadersTooLarge,
            &format!("request headers may be at most {MAX_HEADER_BYTES} bytes"),
        );
    }
    next.run(request).await
}

fn error_response(status: StatusCode, error_type: ErrorType, message: &str) -> Response {
    (status, Json(ErrorBody::new(error_type, message))).into_response()
}

/// Every error answer carries the stable body: the rejections of axum's own extractors (path,
/// query, multipart), 405 for a known path with another method, 413 from the body limit, come
/// as plain text or empty, and are rewritten here with their status kept. Pages (HTML) and the
/// API's own JSON errors pass untouched.
pub async fn stable_error_body(request: Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let content_type = response.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let error_type = match status {
        StatusCode::BAD_REQUEST => ErrorType::BadRequest,
        StatusCode::UNAUTHORIZED => ErrorType::Unauthorized,
        StatusCode::FORBIDDEN => ErrorType::Forbidden,
        StatusCode::NOT_FOUND => ErrorType::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorType::MethodNotAllowed,
        StatusCode::CONFLICT => ErrorType::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorType::PayloadTooLarge,
        StatusCode::URI_TOO_LONG => ErrorType::UriTooLong,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorType::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorType::InvalidRequest,
        StatusCode::TOO_MANY_REQUESTS => ErrorType::Overloaded,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorType::HeadersTooLarge,
        s if s.is_server_error() => ErrorType::Internal,
        _ => ErrorType::BadRequest,
    };
    let message = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text.chars().take(300).collect()
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    let body = serde_json::to_string(&ErrorBody::new(error_type, message)).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}
