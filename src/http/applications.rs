//! `/api/v1/applications`: create, upload documents, submit (idempotent), read status and decisions.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::bodies::{self, CorrectionBody, DecisionSummaryBody, DocumentBody, ItemRecordBody, PermitBody, ReviewBody};
use super::error::{ApiError, AppJson, ErrorBody};
use super::schemas::{DeadlinesDocument, DecisionDocument, DocumentFiles};
use super::AppState;
use crate::deadlines::Deadlines;
use crate::domain::application::{ApplicationId, ApplicationState};
use crate::reading::Format;
use crate::usecases::applications::Upload;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_application))
        .routes(routes!(get_application))
        .routes(routes!(upload_documents))
        .routes(routes!(withdraw_document))
        .routes(routes!(submit_application))
        .routes(routes!(get_decision))
        .routes(routes!(list_decisions))
}

const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateApplication {
    /// The service applied for (a service of the rule set).
    #[schema(example = "drainage-permit")]
    service: String,
    /// The application form, as the service's form schema has it.
    #[schema(value_type = Object)]
    form: Value,
}

#[derive(Debug, Serialize, ToSchema)]
struct ApplicationCreated {
    id: ApplicationId,
    service: String,
    state: ApplicationState,
    created_at: String,
}

#[utoipa::path(
    post,
    path = "/applications",
    tag = "applications",
    summary = "Create an application (draft)",
    request_body = CreateApplication,
    responses(
        (status = 201, description = "created", body = ApplicationCreated),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
async fn create_application(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateApplication>,
) -> Result<(StatusCode, Json<ApplicationCreated>), ApiError> {
    let record = state.usecases().create_application(&caller, &body.service, &body.form).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApplicationCreated { id: record.id, service: record.service, state: record.state, created_at: record.created_at }),
    ))
}

/// An application as its owner and staff see it.
#[derive(Debug, Serialize, ToSchema)]
struct ApplicationBody {
    id: ApplicationId,
    service: String,
    state: ApplicationState,
    /// The form as submitted.
    #[schema(value_type = Object)]
    form: Value,
    submissions: i64,
    created_at: String,
    updated_at: String,
    documents: Vec<DocumentBody>,
    /// The current decision: the latest submission's.
    #[schema(value_type = Option<DecisionDocument>)]
    decision: Option<Value>,
    decisions: Vec<DecisionSummaryBody>,
    #[schema(value_type = Option<DeadlinesDocument>)]
    deadlines: Option<Deadlines>,
    escalated_on: Option<NaiveDate>,
    reviews: Vec<ReviewBody>,
    corrections: Vec<CorrectionBody>,
    permit: Option<PermitBody>,
    item_records: Vec<ItemRecordBody>,
    history: Vec<HistoryEntry>,
    log: LogIndices,
}

/// One of the case's audit events.
#[derive(Debug, Serialize, ToSchema)]
struct HistoryEntry {
    seq: i64,
    at: String,
    actor: String,
    kind: String,
}

/// Where the decisions and the permit stand in the audit log (leaf index = seq − 1): the public
/// inclusion proofs at /api/v1/audit/proof/inclusion take these.
#[derive(Debug, Serialize, ToSchema)]
struct LogIndices {
    decisions: Vec<i64>,
    permit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/applications/{id}",
    tag = "applications",
    summary = "An application",
    description = "State, form, documents, current decision and decision history; log: the audit log indices (leaf index = seq - 1) of its decisions and of its permit's issue",
    params(("id" = String, Path, description = "the application's id")),
    responses(
        (status = 200, description = "the application", body = ApplicationBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
async fn get_application(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<ApplicationBody>, ApiError> {
    let id = super::application_id(&id)?;
    let view = state.usecases().view(&caller, &id).await?;
    let log = LogIndices {
        decisions: view
            .history
            .iter()
            .filter(|(_, _, _, kind)| kind == "application.decided" || kind == "review.decided")
            .map(|(seq, ..)| seq - 1)
            .collect(),
        permit: view.history.iter().rev().find(|(_, _, _, kind)| kind == "permit.issued").map(|(seq, ..)| seq - 1),
    };
    let history = view
        .history
        .iter()
        .map(|(seq, at, actor, kind)| HistoryEntry { seq: *seq, at: at.clone(), actor: actor.clone(), kind: kind.clone() })
        .collect();
    let application = view.application;
    Ok(Json(ApplicationBody {
        id: application.id,
        service: application.service,
        state: application.state,
        form: view.form,
        submissions: application.submissions,
        created_at: application.created_at,
        updated_at: application.updated_at,
        documents: bodies::all(&view.documents),
        decision: view.decision,
        decisions: bodies::all(&view.decisions),
        deadlines: view.deadlines,
        escalated_on: application.escalated_on,
        reviews: bodies::all(&view.reviews),
        corrections: bodies::all(&view.corrections),
        permit: view.permit.as_ref().map(PermitBody::from),
        item_records: bodies::all(&view.item_records),
        history,
        log,
    }))
}

/// The decision that stands: a reviewer's once a person decided, else the machine's.
#[utoipa::path(
    get,
    path = "/applications/{id}/decision",
    tag = "applications",
    summary = "The current decision (CONTRACT.md decision JSON)",
    description = "The decision that stands: a reviewer's once a person decided, else the machine's",
    params(("id" = String, Path, description = "the application's id")),
    responses(
        (status = 200, description = "decision", body = DecisionDocument),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
async fn get_decision(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let current = state.usecases().current_decision(&caller, &id).await?;
    Ok(Json(current.ok_or_else(|| ApiError::NotFound(format!("application {id} has no decision yet")))?))
}

#[derive(Debug, Serialize, ToSchema)]
struct DecisionHistory {
    decisions: Vec<DecisionEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
struct DecisionEntry {
    submission: i64,
    created_at: String,
    #[schema(value_type = DecisionDocument)]
    decision: crate::domain::decision::Decision,
}

#[utoipa::path(
    get,
    path = "/applications/{id}/decisions",
    tag = "applications",
    summary = "Every decision, oldest first",
    params(("id" = String, Path, description = "the application's id")),
    responses(
        (status = 200, description = "history", body = DecisionHistory),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
async fn list_decisions(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<DecisionHistory>, ApiError> {
    let id = super::application_id(&id)?;
    let decisions = state.usecases().decisions(&caller, &id).await?;
    let decisions = decisions
        .into_iter()
        .map(|(record, decision)| DecisionEntry { submission: record.submission_seq, created_at: record.created_at, decision })
        .collect();
    Ok(Json(DecisionHistory { decisions }))
}

#[derive(Debug, Serialize, ToSchema)]
struct DocumentsStored {
    documents: Vec<DocumentBody>,
}

/// Accepts one or many files (`multipart/form-data`, any field name). All are checked first (size
/// limits, type by content); then all are stored, or none is.
#[utoipa::path(
    post,
    path = "/applications/{id}/documents",
    tag = "applications",
    summary = "Upload one or many files (all stored or none)",
    description = "multipart/form-data, any field names, every part a file: each is checked against the size limits and by its content (PDF, JPEG or PNG) before any is stored",
    params(("id" = String, Path, description = "the application's id")),
    request_body(content = DocumentFiles, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "stored", body = DocumentsStored),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 413, response = ErrorBody),
        (status = 415, response = ErrorBody),
    )
)]
async fn upload_documents(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<DocumentsStored>), ApiError> {
    let id = super::application_id(&id)?;
    state.usecases().open_for_documents(&caller, &id).await?;
    let files = read_uploads(&mut multipart, state.usecases().limits(), None).await?;
    let records = state.usecases().add_documents(&caller, &id, files).await?;
    Ok((StatusCode::CREATED, Json(DocumentsStored { documents: bodies::all(&records) })))
}

/// Reads every file of a multipart upload, each checked against the limits and sniffed. With
/// `token` (the pages), the first part must be the form's `csrf` field carrying it (403 otherwise),
/// other text parts are ignored and an empty file part (no file chosen) is skipped; without it (the
/// API) every part is a file, whatever its name.
pub async fn read_uploads(
    multipart: &mut Multipart,
    limits: crate::usecases::CaseLimits,
    token: Option<&str>,
) -> Result<Vec<Upload>, ApiError> {
    let mut files: Vec<Upload> = Vec::new();
    let mut token_seen = token.is_none();
    while let Some(mut field) =
        multipart.next_field().await.map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text())))?
    {
        let is_file = field.file_name().is_some();
        if let Some(expected) = token {
            if !is_file {
                if field.name() == Some("csrf") && !token_seen {
                    let text =
                        field.text().await.map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text())))?;
                    token_seen = crate::domain::constant_time_eq(text.trim().as_bytes(), expected.as_bytes());
                }
                continue;
            }
            if !token_seen {
                return Err(ApiError::Forbidden("the form's token is missing or stale".into()));
            }
            if field.file_name() == Some("") {
                continue;
            }
        }
        let name = field.file_name().or(field.name()).unwrap_or("document").to_string();
        let name = sanitize_file_name(&name);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!("upload exceeds {} bytes per application", limits.max_application_bytes))
            } else {
                ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
            }
        })? {
            if (bytes.len() + chunk.len()) as u64 > limits.max_file_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "file “{name}” exceeds the limit of {} bytes per file",
                    limits.max_file_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(ApiError::UnsupportedMediaType(format!("file “{name}” is empty")));
        }
        let format = Format::sniff(&bytes);
        if !format.is_accepted() {
            return Err(ApiError::UnsupportedMediaType(format!("file “{name}” is not a PDF, JPEG or PNG (judged by its content)")));
        }
        files.push(Upload { name, bytes, format });
    }
    if !token_seen {
        return Err(ApiError::Forbidden("the form's token is missing or stale".into()));
    }
    Ok(files)
}

#[derive(Debug, Serialize, ToSchema)]
struct DocumentWithdrawn {
    id: ApplicationId,
    document_id: i64,
    /// Always true.
    withdrawn: bool,
}

/// Withdraws a wrong or unreadable file before the next submission; it stays on record.
#[utoipa::path(
    delete,
    path = "/applications/{id}/documents/{document_id}",
    tag = "applications",
    summary = "Withdraw a document before the next submission (kept on record)",
    params(
        ("id" = String, Path, description = "the application's id"),
        ("document_id" = i64, Path, description = "the document's id"),
    ),
    responses(
        (status = 200, description = "withdrawn", body = DocumentWithdrawn),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn withdraw_document(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, document_id)): Path<(String, i64)>,
) -> Result<Json<DocumentWithdrawn>, ApiError> {
    let id = super::application_id(&id)?;
    state.usecases().withdraw_document(&caller, &id, document_id).await?;
    Ok(Json(DocumentWithdrawn { id, document_id, withdrawn: true }))
}

/// Keeps the last path component and drops control characters: a name is shown, never used as a path.
fn sanitize_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    // No control characters, and no bidi controls that show "gpj.exe" as "exe.jpg".
    let clean: String = last.chars().filter(|c| !crate::rules::schema::forbidden_char(*c)).take(200).collect();
    if clean.trim().is_empty() {
        "document".into()
    } else {
        clean
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct SubmissionAccepted {
    id: ApplicationId,
    /// The submission's number (1 for the first).
    submission: i64,
    submitted_on: NaiveDate,
    /// Whether this repeated an earlier request with the same key.
    repeated: bool,
    state: ApplicationState,
}

/// Submits for a decision. The `Idempotency-Key` header is required: repeating a submit with the
/// same key answers with the same submission and never creates a second case or job.
#[utoipa::path(
    post,
    path = "/applications/{id}/submit",
    tag = "applications",
    summary = "Submit for a decision; repeating a key returns the same submission",
    params(
        ("id" = String, Path, description = "the application's id"),
        ("Idempotency-Key" = String, Header, description = "the same key answers with the same submission", min_length = 1, max_length = 128),
    ),
    responses(
        (status = 202, description = "accepted; decided by a background worker", body = SubmissionAccepted),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (
            status = 429,
            description = "the decision queue is full; submit again after Retry-After seconds (the draft is kept)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait"))
        ),
    )
)]
async fn submit_application(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<SubmissionAccepted>), ApiError> {
    let id = super::application_id(&id)?;
    // Who may submit is answered before what they sent: another's case is not found, whatever the key.
    state.usecases().changeable(&caller, &id).await?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.chars().count() <= MAX_IDEMPOTENCY_KEY_CHARS)
        .ok_or_else(|| ApiError::BadRequest(format!("an Idempotency-Key header (1–{MAX_IDEMPOTENCY_KEY_CHARS} characters) is required")))?
        .to_string();
    let (submitted, application) = state.usecases().submit(&caller, &id, &key).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmissionAccepted {
            id,
            submission: submitted.submission.seq,
            submitted_on: submitted.submission.submitted_on,
            repeated: submitted.repeated,
            state: application.state,
        }),
    ))
}
