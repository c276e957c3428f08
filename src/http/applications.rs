//! `/api/v1/applications`: create, upload documents, submit (idempotent), read status and decisions.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, AppJson};
use crate::app::AppState;
use crate::domain::decision::Decision;
use crate::domain::user::Role;
use crate::reading::Format;
use crate::storage::ApplicationRecord;
use crate::storage::{DocumentLimits, NewDocument};

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

/// The application if the caller may see it; otherwise "not found", so ids reveal nothing.
async fn readable(state: &AppState, caller: &Caller, id: &str) -> Result<ApplicationRecord, ApiError> {
    match state.store().application(id).await? {
        Some(application) if caller.can_read(&application) => Ok(application),
        _ => Err(ApiError::NotFound(format!("application {id} not found"))),
    }
}

/// The application if the caller may act on it as its applicant: 404 if unseen, 403 if only readable.
async fn changeable(state: &AppState, caller: &Caller, id: &str) -> Result<ApplicationRecord, ApiError> {
    let application = readable(state, caller, id).await?;
    if caller.can_change_as_applicant(&application) {
        Ok(application)
    } else {
        Err(ApiError::Forbidden(format!("a {} may not change an application", caller.role.as_str())))
    }
}

async fn create_application(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateApplication>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Role::Applicant, Role::Admin])?;
    state.decider().check_form(&body.service, &body.form)?;
    let id = uuid::Uuid::new_v4().to_string();
    let record =
        state.store().create_application(&id, &body.service, &body.form.to_string(), Some(caller.user_id), &caller.actor()).await?;
    tracing::info!(application.id = %id, service = %body.service, "application created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "service": record.service, "state": record.state, "created_at": record.created_at})),
    ))
}

async fn get_application(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let store = state.store();
    let application = readable(&state, &caller, &id).await?;
    let documents = store.documents(&id).await?;
    let decisions = store.decisions(&id).await?;
    let reviews = store.reviews(&id).await?;
    let corrections = store.corrections(&id).await?;
    let permit = store.permit_for(&id).await?;
    let item_records = store.item_records(&id).await?;
    let history: Vec<Value> =
        store.audit_for(&id).await?.into_iter().map(|e| json!({"seq": e.seq, "at": e.at, "actor": e.actor, "kind": e.kind})).collect();
    let latest: Option<Value> =
        decisions.last().map(|d| serde_json::from_str(&d.decision)).transpose().map_err(|e| ApiError::Internal(e.into()))?;
    let form: Value = serde_json::from_str(&application.form).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(json!({
        "id": application.id,
        "service": application.service,
        "state": application.state,
        "form": form,
        "submissions": application.submissions,
        "created_at": application.created_at,
        "updated_at": application.updated_at,
        "documents": documents,
        "decision": latest,
        "decisions": decisions,
        "deadlines": state
            .decider()
            .rules()
            .service(&application.service)
            .and_then(|s| crate::deadlines::deadlines(&state.decider().rules().calendar, s.info(), &application, state.clock().today())),
        "escalated_on": application.escalated_on,
        "reviews": reviews,
        "corrections": corrections,
        "permit": permit,
        "item_records": item_records,
        "history": history,
    })))
}

async fn get_decision(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Decision>, ApiError> {
    readable(&state, &caller, &id).await?;
    let decisions = state.store().decisions(&id).await?;
    let latest = decisions.last().ok_or_else(|| ApiError::NotFound(format!("application {id} has no decision yet")))?;
    Ok(Json(serde_json::from_str(&latest.decision).map_err(|e| ApiError::Internal(e.into()))?))
}

async fn list_decisions(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    readable(&state, &caller, &id).await?;
    let decisions = state.store().decisions(&id).await?;
    let history: Vec<Value> = decisions
        .iter()
        .map(|d| {
            Ok(json!({"submission": d.submission_seq, "created_at": d.created_at, "decision": serde_json::from_str::<Value>(&d.decision)?}))
        })
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| ApiError::Internal(e.into()))?;
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
    let application = changeable(&state, &caller, &id).await?;
    application.state()?.add_document().map_err(|e| ApiError::Conflict(e.to_string()))?;
    let limits = state.limits().clone();
    let mut files: Vec<(String, Vec<u8>, Format)> = Vec::new();
    while let Some(mut field) =
        multipart.next_field().await.map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text())))?
    {
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
        files.push((name, bytes, format));
    }
    if files.is_empty() {
        return Err(ApiError::BadRequest("no file in the upload".into()));
    }
    let blobs = state.blobs().clone();
    let stored = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|(name, bytes, format)| {
                let sha256 = blobs.put(&bytes)?;
                Ok(NewDocument { file_name: name, sha256, size_bytes: bytes.len() as u64, format: format.as_str().to_string() })
            })
            .collect::<std::io::Result<Vec<_>>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::Internal(anyhow::Error::from(e).context("storing uploaded blobs")))?;
    let document_limits = DocumentLimits { max_files: limits.max_files, max_application_bytes: limits.max_application_bytes };
    let records = state.store().add_documents(&id, &stored, document_limits, &caller.actor()).await?;
    tracing::info!(application.id = %id, n_documents = records.len(), "documents stored");
    Ok((StatusCode::CREATED, Json(json!({"documents": records}))))
}

/// Withdraws a wrong or unreadable file before the next submission; it stays on record.
async fn withdraw_document(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, document_id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    changeable(&state, &caller, &id).await?;
    if state.store().withdraw_document(&id, document_id, &caller.actor()).await? {
        Ok(Json(json!({"id": id, "document_id": document_id, "withdrawn": true})))
    } else {
        Err(ApiError::NotFound(format!("no current document {document_id} in application {id}")))
    }
}

/// Keeps the last path component and drops control characters: a name is shown, never used as a path.
fn sanitize_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
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
    let application = changeable(&state, &caller, &id).await?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.chars().count() <= MAX_IDEMPOTENCY_KEY_CHARS)
        .ok_or_else(|| ApiError::BadRequest(format!("an Idempotency-Key header (1–{MAX_IDEMPOTENCY_KEY_CHARS} characters) is required")))?
        .to_string();
    // Overload is answered at once, not by a stall: the decision queue has a bound.
    let pending = state.store().pending_jobs().await?;
    let bound = state.limits().max_queued_decisions as i64;
    if pending >= bound {
        return Err(ApiError::Overloaded {
            message: format!("{pending} decisions are queued (bound {bound}); submit again later, nothing was lost"),
            retry_after_secs: 30,
        });
    }
    let today = state.clock().today().format("%Y-%m-%d").to_string();
    // A resubmission after a request for materials restarts the clock; the wait does not count.
    let calendar = &state.decider().rules().calendar;
    let resumed_after_days = application
        .waiting_since
        .as_deref()
        .and_then(|since| chrono::NaiveDate::parse_from_str(since, "%Y-%m-%d").ok())
        .map(|since| calendar.working_days_between(since, state.clock().today()) as i64)
        .unwrap_or(0);
    let submitted = state.store().submit(&id, &key, &today, resumed_after_days, &caller.actor()).await?;
    if !submitted.repeated {
        state.notify_jobs();
        tracing::info!(application.id = %id, submission = submitted.submission.seq, "submitted");
    }
    let application = state.store().application(&id).await?.ok_or_else(|| ApiError::NotFound(format!("application {id} not found")))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"id": id, "submission": submitted.submission.seq, "submitted_on": submitted.submission.submitted_on, "repeated": submitted.repeated, "state": application.state}),
        ),
    ))
}
