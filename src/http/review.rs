//! `/api/v1/review`: the reviewer's queue, claims (leases), corrections and the human decision.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::bodies::{CorrectionBody, PermitBody};
use super::error::{ApiError, AppJson};
use super::AppState;
use crate::domain::application::ReviewAction;
use crate::usecases::review::ReviewRequest;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review/queue", get(list_queue))
        .route("/review/next", post(claim_next_case))
        .route("/review/{id}/claim", post(claim_case))
        .route("/review/{id}/release", post(release_case))
        .route("/review/{id}/decision", post(decide_case))
        .route("/review/{id}/corrections", post(correct_field))
}

#[derive(Debug, Deserialize)]
struct QueueQuery {
    service: Option<String>,
    /// Only cases with this deadline status: `on_time`, `due_soon`, `overdue`.
    due: Option<String>,
}

async fn list_queue(State(state): State<AppState>, caller: Caller, Query(query): Query<QueueQuery>) -> Result<Json<Value>, ApiError> {
    let entries = state.usecases().review_queue(&caller, query.service.as_deref(), query.due.as_deref()).await?;
    let items: Vec<Value> = entries
        .into_iter()
        .map(|entry| {
            let a = &entry.application;
            json!({
                "id": a.id,
                "service": a.service,
                "applicant": entry.applicant,
                "state": a.state,
                "since": a.updated_at,
                "deadlines": entry.deadlines,
                "escalated_on": a.escalated_on,
                "claimed_by": entry.claim.map(|(holder, _)| holder),
                "claim_until_ms": entry.claim.map(|(_, until)| until),
            })
        })
        .collect();
    Ok(Json(json!({"queue": items})))
}

async fn claim_case(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let until_ms = state.usecases().claim(&caller, &id).await?;
    Ok(Json(json!({"id": id, "claimed_by": caller.user_id, "claim_until_ms": until_ms})))
}

/// Claims the case that is due soonest and free (and not the caller's own).
async fn claim_next_case(State(state): State<AppState>, caller: Caller, Query(query): Query<QueueQuery>) -> Result<Json<Value>, ApiError> {
    let (id, until_ms) = state.usecases().claim_next(&caller, query.service.as_deref()).await?;
    Ok(Json(json!({"id": id, "claimed_by": caller.user_id, "claim_until_ms": until_ms})))
}

async fn release_case(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    state.usecases().release(&caller, &id).await?;
    Ok(Json(json!({"id": id, "released": true})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewDecision {
    action: ReviewAction,
    reason_code: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    missing_materials: Vec<String>,
}

async fn decide_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReviewDecision>,
) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let request = ReviewRequest {
        action: body.action,
        reason_code: body.reason_code,
        text: body.text,
        missing_materials: body.missing_materials,
        previewed_sha256: None,
    };
    let reviewed = state.usecases().review(&caller, &id, request).await?;
    let permit = reviewed.permit.as_ref().map(PermitBody::from);
    Ok(Json(json!({"id": id, "state": reviewed.state.as_str(), "document": reviewed.document, "permit": permit})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Correction {
    /// A decision field key: a form field, `discharge_category`, `licence.name`, `report.pollutants.cod` …
    field: String,
    value: Value,
    reason: String,
}

/// Corrects one field of the case the caller holds and returns the decision the rules now give.
async fn correct_field(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<Correction>,
) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let corrected = state.usecases().correct(&caller, &id, &body.field, body.value, &body.reason).await?;
    let correction = CorrectionBody::from(&corrected.record);
    Ok(Json(json!({"correction": correction, "original": corrected.original, "decision": corrected.decision})))
}
