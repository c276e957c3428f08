//! `/api/v1/review`: the reviewer's queue, claims (leases), corrections and the human decision.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::bodies::{CorrectionBody, PermitBody};
use super::error::{ApiError, AppJson, ErrorBody};
use super::schemas::{ApplicantDocument, DeadlinesDocument, DecisionDocument};
use super::AppState;
use crate::deadlines::Deadlines;
use crate::domain::application::{ApplicationId, ApplicationState, ReviewAction};
use crate::usecases::review::{ApplicantSummary, ReviewRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_queue))
        .routes(routes!(claim_next_case))
        .routes(routes!(claim_case))
        .routes(routes!(release_case))
        .routes(routes!(decide_case))
        .routes(routes!(correct_field))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct QueueQuery {
    /// Only cases of this service.
    service: Option<String>,
    /// Only cases with this deadline status: `on_time`, `due_soon`, `overdue`.
    #[param(pattern = "^(on_time|due_soon|overdue)$")]
    due: Option<String>,
}

/// The service filter of `/review/next` (the queue's `due` does not apply there).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ServiceQuery {
    /// Only cases of this service.
    service: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Queue {
    queue: Vec<QueuedCase>,
}

/// A case in review, with its deadlines and claim.
#[derive(Debug, Serialize, ToSchema)]
struct QueuedCase {
    id: ApplicationId,
    service: String,
    #[schema(value_type = ApplicantDocument)]
    applicant: ApplicantSummary,
    state: ApplicationState,
    /// When the case last changed.
    since: String,
    #[schema(value_type = Option<DeadlinesDocument>)]
    deadlines: Option<Deadlines>,
    escalated_on: Option<NaiveDate>,
    /// The reviewer holding a claim on it, if any.
    claimed_by: Option<i64>,
    /// Until when (ms since the epoch) that claim runs.
    claim_until_ms: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/review/queue",
    tag = "review",
    summary = "Cases in review, oldest due first (reviewers, auditors, admins)",
    params(QueueQuery),
    responses(
        (status = 200, description = "the queue, each case with its deadlines and claim", body = Queue),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
async fn list_queue(State(state): State<AppState>, caller: Caller, Query(query): Query<QueueQuery>) -> Result<Json<Queue>, ApiError> {
    let entries = state.usecases().review_queue(&caller, query.service.as_deref(), query.due.as_deref()).await?;
    let queue = entries
        .into_iter()
        .map(|entry| {
            let a = entry.application;
            QueuedCase {
                id: a.id,
                service: a.service,
                applicant: entry.applicant,
                state: a.state,
                since: a.updated_at,
                deadlines: entry.deadlines,
                escalated_on: a.escalated_on,
                claimed_by: entry.claim.map(|(holder, _)| holder),
                claim_until_ms: entry.claim.map(|(_, until)| until),
            }
        })
        .collect();
    Ok(Json(Queue { queue }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Claimed {
    id: ApplicationId,
    /// The caller's user id.
    claimed_by: i64,
    /// Until when (ms since the epoch) the claim runs.
    claim_until_ms: i64,
}

#[utoipa::path(
    post,
    path = "/review/{id}/claim",
    tag = "review",
    summary = "Claim (or renew) a 30-minute lease on a case; never two holders, never one's own application",
    params(("id" = String, Path, description = "the application's id")),
    responses(
        (status = 200, description = "claimed", body = Claimed),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn claim_case(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Claimed>, ApiError> {
    let id = super::application_id(&id)?;
    let until_ms = state.usecases().claim(&caller, &id).await?;
    Ok(Json(Claimed { id, claimed_by: caller.user_id, claim_until_ms: until_ms }))
}

/// Claims the case that is due soonest and free (and not the caller's own).
#[utoipa::path(
    post,
    path = "/review/next",
    tag = "review",
    summary = "Claim the free case due soonest (never one's own); side-by-side reviewers get different cases",
    params(ServiceQuery),
    responses(
        (status = 200, description = "claimed", body = Claimed),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
async fn claim_next_case(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ServiceQuery>,
) -> Result<Json<Claimed>, ApiError> {
    let (id, until_ms) = state.usecases().claim_next(&caller, query.service.as_deref()).await?;
    Ok(Json(Claimed { id, claimed_by: caller.user_id, claim_until_ms: until_ms }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Released {
    id: ApplicationId,
    /// Always true.
    released: bool,
}

#[utoipa::path(
    post,
    path = "/review/{id}/release",
    tag = "review",
    summary = "Give a claimed case back to the queue",
    params(("id" = String, Path, description = "the application's id")),
    responses(
        (status = 200, description = "released", body = Released),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn release_case(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Released>, ApiError> {
    let id = super::application_id(&id)?;
    state.usecases().release(&caller, &id).await?;
    Ok(Json(Released { id, released: true }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReviewDecision {
    action: ReviewAction,
    reason_code: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    missing_materials: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Reviewed {
    id: ApplicationId,
    #[schema(value_type = ApplicationState)]
    state: &'static str,
    /// The written decision (决定书) as a document.
    #[schema(value_type = Object)]
    document: Value,
    /// The permit, when the decision issued one.
    permit: Option<PermitBody>,
}

#[utoipa::path(
    post,
    path = "/review/{id}/decision",
    tag = "review",
    summary = "Issue, refuse (in writing, with remedies) or ask for materials, with a reason code from rules/tables/review-reasons.toml",
    params(("id" = String, Path, description = "the application's id")),
    request_body = ReviewDecision,
    responses(
        (status = 200, description = "the new state, the written decision, the permit if issued", body = Reviewed),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn decide_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReviewDecision>,
) -> Result<Json<Reviewed>, ApiError> {
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
    Ok(Json(Reviewed { id, state: reviewed.state.as_str(), document: reviewed.document, permit }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Correction {
    /// A decision field key: a form field, `discharge_category`, `licence.name`, `report.pollutants.cod` …
    field: String,
    /// The corrected value, held to the field's schema or type.
    #[schema(value_type = Value)]
    value: Value,
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct CorrectionMade {
    correction: CorrectionBody,
    /// The machine's reading the correction replaced.
    #[schema(value_type = Value)]
    original: Value,
    /// The decision the rules now give.
    #[schema(value_type = DecisionDocument)]
    decision: crate::domain::decision::Decision,
}

/// Corrects one field of the case the caller holds and returns the decision the rules now give.
#[utoipa::path(
    post,
    path = "/review/{id}/corrections",
    tag = "review",
    summary = "Correct a field with a reason; the case is re-decided",
    description = "Correct a field with a reason; the case is re-decided (one correction at a time per instance: 429 with Retry-After while another runs) and the reading stays on record; a value that does not fit the field's schema or type is 422 invalid_form",
    params(("id" = String, Path, description = "the application's id")),
    request_body = Correction,
    responses(
        (status = 200, description = "the correction and the re-run decision", body = CorrectionMade),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
async fn correct_field(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<Correction>,
) -> Result<Json<CorrectionMade>, ApiError> {
    let id = super::application_id(&id)?;
    let corrected = state.usecases().correct(&caller, &id, &body.field, body.value, &body.reason).await?;
    let correction = CorrectionBody::from(&corrected.record);
    Ok(Json(CorrectionMade { correction, original: corrected.original, decision: corrected.decision }))
}
