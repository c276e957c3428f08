//! `/api/v1/applications`: create, upload documents, submit (idempotent), read status and decisions.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::bodies::{self, CorrectionBody, DecisionSummaryBody, DocumentBody, ItemRecordBody, PermitBody, ReviewBody};
use super::error::{ApiError, AppJson};
use super::AppState;
use crate::reading::Format;
use crate::usecases::applications::Upload;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/applications", post(create_application))
        .route("/applications/{id}", get(get_application))
        .route("/applications/{id}/documents", post(upload_documents))
        .route("/applications/{id}/documents/{document_id}", axum::routing::delete(withdraw_document))
        .route("/applications/{id}/submit", post(submit_application))
        .route("/applications/{id}/decision", get(get_decision))
        .route("/applications/{id}/decisions", get(list_decisions))
}

const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApplication {
    service: String,
    form: Value,
}

async fn create_application(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateApplication>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let record = state.usecases().create_application(&caller, &body.service, &body.form).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "service": record.service, "state": record.state, "created_at": record.created_at})),
    ))
}

async fn get_application(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let view = state.usecases().view(&caller, &id).await?;
    let application = &view.application;
    let history: Vec<Value> =
        view.history.iter().map(|(seq, at, actor, kind)| json!({"seq": seq, "at": at, "actor": actor, "kind": kind})).collect();
    Ok(Json(json!({
        "id": application.id,
        "service": application.service,
        "state": application.state,
        "form": view.form,
        "submissions": application.submissions,
        "created_at": application.created_at,
        "updated_at": application.updated_at,
        "documents": bodies::all::<_, DocumentBody>(&view.documents),
        "decision": view.decision,
        "decisions": bodies::all::<_, DecisionSummaryBody>(&view.decisions),
        "deadlines": view.deadlines,
        "escalated_on": application.escalated_on,
        "reviews": bodies::all::<_, ReviewBody>(&view.reviews),
        "corrections": bodies::all::<_, CorrectionBody>(&view.corrections),
        "permit": view.permit.as_ref().map(PermitBody::from),
        "item_records": bodies::all::<_, ItemRecordBody>(&view.item_records),
        "history": history,
        // Where the decisions and the permit stand in the audit log (leaf index = seq − 1): the
        // public inclusion proofs at /api/v1/audit/proof/inclusion take these.
        "log": {
            "decisions": view.history.iter().filter(|(_, _, _, kind)| kind == "application.decided" || kind == "review.decided")
                .map(|(seq, ..)| seq - 1).collect::<Vec<_>>(),
            "permit": view.history.iter().rev().find(|(_, _, _, kind)| kind == "permit.issued").map(|(seq, ..)| seq - 1),
        },
    })))
}

/// The decision that stands: a reviewer's once a person decided, else the machine's.
async fn get_decision(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let current = state.usecases().current_decision(&caller, &id).await?;
    Ok(Json(current.ok_or_else(|| ApiError::NotFound(format!("application {id} has no decision yet")))?))
}

async fn list_decisions(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let decisions = state.usecases().decisions(&caller, &id).await?;
    let history: Vec<Value> = decisions
        .iter()
        .map(|(record, decision)| json!({"submission": record.submission_seq, "created_at": record.created_at, "decision": decision}))
        .collect();
    Ok(Json(json!({"decisions": history})))
}

/// Accepts one or many files (`multipart/form-data`, any field name). All are checked first (size
/// limits, type by content); then all are stored, or none is.
async fn upload_documents(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = super::application_id(&id)?;
    state.usecases().open_for_documents(&caller, &id).await?;
    let files = read_uploads(&mut multipart, state.usecases().limits(), None).await?;
    let records = state.usecases().add_documents(&caller, &id, files).await?;
    Ok((StatusCode::CREATED, Json(json!({"documents": bodies::all::<_, DocumentBody>(&records)}))))
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

/// Withdraws a wrong or unreadable file before the next submission; it stays on record.
async fn withdraw_document(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, document_id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    state.usecases().withdraw_document(&caller, &id, document_id).await?;
    Ok(Json(json!({"id": id, "document_id": document_id, "withdrawn": true})))
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

/// Submits for a decision. The `Idempotency-Key` header is required: repeating a submit with the
/// same key answers with the same submission and never creates a second case or job.
async fn submit_application(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        Json(
            json!({"id": id, "submission": submitted.submission.seq, "submitted_on": submitted.submission.submitted_on, "repeated": submitted.repeated, "state": application.state}),
        ),
    ))
}
