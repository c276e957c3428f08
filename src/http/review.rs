//! `/api/v1/review`: the reviewer's queue, claims (leases), and the human decision; and the public
//! `/api/v1/permits/{number}/verify`.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, AppJson};
use crate::app::AppState;
use crate::deadlines::Deadlines;
use crate::domain::application::ReviewAction;
use crate::domain::user::Role;
use crate::storage::{ApplicationRecord, ClaimOutcome, NewCorrection, ReviewInput};

/// How long a claim holds a case before it returns to the queue by itself.
pub const CLAIM_LEASE_MS: i64 = 30 * 60 * 1000;

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

/// Cases in review with their deadlines, due soonest first (the store's order, oldest waiting
/// first, breaks ties). Deadlines are worked out once per case.
async fn queue_by_due(state: &AppState, service: Option<&str>) -> Result<Vec<(ApplicationRecord, Option<Deadlines>)>, ApiError> {
    let today = state.clock().today();
    let rules = state.decider().rules();
    let mut cases: Vec<(ApplicationRecord, Option<Deadlines>)> = state
        .store()
        .review_queue(service)
        .await?
        .into_iter()
        .map(|a| {
            let due = rules.service(&a.service).and_then(|s| crate::deadlines::deadlines(&rules.calendar, s.info(), &a, today));
            (a, due)
        })
        .collect();
    cases.sort_by(|(_, a), (_, b)| {
        let key = |d: &Option<Deadlines>| d.as_ref().map(|d| d.promised_due.clone()).unwrap_or_default();
        key(a).cmp(&key(b))
    });
    Ok(cases)
}

async fn list_queue(State(state): State<AppState>, caller: Caller, Query(query): Query<QueueQuery>) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Auditor, Role::Admin])?;
    let now_ms = state.clock().now_ms();
    let items: Vec<Value> = queue_by_due(&state, query.service.as_deref())
        .await?
        .into_iter()
        .filter(|(_, due)| query.due.as_deref().is_none_or(|status| due.as_ref().is_some_and(|d| d.status == status)))
        .map(|(a, due)| {
            let claimed = a.is_claimed(now_ms);
            json!({
                "id": a.id,
                "service": a.service,
                "applicant": applicant_summary(&a.form),
                "state": a.state,
                "since": a.updated_at,
                "deadlines": due,
                "escalated_on": a.escalated_on,
                "claimed_by": if claimed { a.claimed_by } else { None },
                "claim_until_ms": if claimed { a.claim_until_ms } else { None },
            })
        })
        .collect();
    Ok(Json(json!({"queue": items})))
}

/// Who the case is about, as a queue may show it: a business by its name, a person by family name,
/// masked ID number and phone (the full form is in the case itself, for whoever claims it).
fn applicant_summary(form: &str) -> Value {
    use crate::domain::pii::{mask_id_number, mask_person_name, mask_phone};
    let form: Value = serde_json::from_str(form).unwrap_or(Value::Null);
    let text = |key: &str| form.get(key).and_then(Value::as_str);
    let mut summary = serde_json::Map::new();
    match (text("id_number"), text("applicant_name"), text("name")) {
        (Some(id), _, name) => {
            summary.insert("id_number".into(), json!(mask_id_number(id)));
            if let Some(name) = name {
                summary.insert("name".into(), json!(mask_person_name(name)));
            }
        }
        (None, Some(business), _) => {
            summary.insert("name".into(), json!(business));
        }
        _ => {}
    }
    if let Some(phone) = text("contact_phone") {
        summary.insert("contact_phone".into(), json!(mask_phone(phone)));
    }
    Value::Object(summary)
}

async fn claim_case(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    let now_ms = state.clock().now_ms();
    match state.store().claim(&id, caller.user_id, now_ms, CLAIM_LEASE_MS, &caller.actor()).await? {
        ClaimOutcome::Claimed { until_ms } => Ok(Json(json!({"id": id, "claimed_by": caller.user_id, "claim_until_ms": until_ms}))),
        ClaimOutcome::HeldByOther => Err(ApiError::Conflict("another reviewer holds this case".into())),
        ClaimOutcome::OwnApplication => Err(ApiError::Forbidden("a reviewer may not review an application they submitted".into())),
        ClaimOutcome::NotInReview(state) => Err(ApiError::Conflict(format!("the case is {state}, not in review"))),
    }
}

/// Claims the case that is due soonest and free (and not the caller's own): reviewers working the
/// queue side by side each get a different case.
async fn claim_next_case(State(state): State<AppState>, caller: Caller, Query(query): Query<QueueQuery>) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    let now_ms = state.clock().now_ms();
    let cases = queue_by_due(&state, query.service.as_deref()).await?;
    for (candidate, _) in cases.into_iter().filter(|(a, _)| !a.is_claimed(now_ms) && a.owner_id != Some(caller.user_id)) {
        // Another reviewer may take it between the listing and this claim; the claim decides.
        if let ClaimOutcome::Claimed { until_ms } =
            state.store().claim(&candidate.id, caller.user_id, now_ms, CLAIM_LEASE_MS, &caller.actor()).await?
        {
            return Ok(Json(json!({"id": candidate.id, "claimed_by": caller.user_id, "claim_until_ms": until_ms})));
        }
    }
    Err(ApiError::NotFound("no free case in the queue".into()))
}

async fn release_case(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    if state.store().release(&id, caller.user_id, &caller.actor()).await? {
        Ok(Json(json!({"id": id, "released": true})))
    } else {
        Err(ApiError::Conflict("you do not hold this case".into()))
    }
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
    caller.require(&[Role::Reviewer, Role::Admin])?;
    let application = state.store().application(&id).await?.ok_or_else(|| ApiError::NotFound(format!("application {id} not found")))?;
    let rules = state.decider().rules();
    let reasons = &rules.review_reasons;
    let reason =
        reasons.reasons.iter().find(|r| r.code == body.reason_code && r.action == body.action.as_str()).ok_or_else(|| {
            ApiError::BadRequest(format!("reason code `{}` is not a reason for {}", body.reason_code, body.action.as_str()))
        })?;
    let service = rules.service(&application.service).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("service vanished")))?;
    let form = crate::cases::form_as_corrected(&state, &application).await.map_err(ApiError::Internal)?;
    let today = state.clock().today();
    let document = match body.action {
        ReviewAction::Refuse => {
            if body.text.trim().is_empty() {
                return Err(ApiError::BadRequest("a refusal states its reasons in `text`".into()));
            }
            json!({
                "title": "不予行政许可决定书",
                "service": service.info().name,
                "applicant": form.get("applicant_name").or(form.get("name")),
                "application_id": id,
                "reason_code": reason.code,
                "reasons": [reason.label, body.text.trim()],
                "basis": reasons.refusal_basis,
                "remedies": reasons.refusal_notice,
                "decided_on": today.format("%Y-%m-%d").to_string(),
                "decided_by": caller.name,
            })
        }
        ReviewAction::RequestMaterials => {
            let known: Vec<&str> = service.material_ids().collect();
            if body.missing_materials.is_empty() || body.missing_materials.iter().any(|m| !known.contains(&m.as_str())) {
                return Err(ApiError::BadRequest(format!("name the missing materials, each one of: {}", known.join(", "))));
            }
            let names: Vec<&str> =
                body.missing_materials.iter().map(|m| rules.documents.kinds.get(m).map(|k| k.name.as_str()).unwrap_or(m)).collect();
            json!({
                "title": "补正材料通知书（一次性告知）",
                "application_id": id,
                "missing_materials": body.missing_materials,
                "message": format!("请补正以下材料：{}。{}", names.join("、"), body.text.trim()),
                "decided_on": today.format("%Y-%m-%d").to_string(),
            })
        }
        ReviewAction::Issue => json!({"title": "准予行政许可", "reason": reason.label, "text": body.text.trim()}),
    };
    // The machine's latest decision: the category it rested on, and the items the applicant asked for.
    let latest: Option<Value> = match body.action {
        ReviewAction::Issue => state.store().decisions(&id).await?.last().and_then(|d| serde_json::from_str(&d.decision).ok()),
        _ => None,
    };
    let permit = match body.action {
        ReviewAction::Issue => {
            let category = latest.as_ref().and_then(|d| crate::issuance::decided_category(d, &form));
            // A reviewer's correction of the category is in the corrected form and wins.
            let category = form.get("discharge_category").and_then(Value::as_str).map(str::to_string).or(category);
            crate::issuance::permit_spec(rules, service.info(), &form, category.as_deref(), today, &caller.actor())
        }
        _ => None,
    };
    // Issuing a bundle case grants every item the applicant asked for (as the latest decision lists them).
    let item_records = match body.action {
        ReviewAction::Issue => {
            let requested: Vec<String> = latest
                .as_ref()
                .and_then(|d| d["items"].as_array())
                .map(|items| items.iter().filter_map(|i| i["item"].as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let requested: Vec<&str> = requested.iter().map(String::as_str).collect();
            crate::issuance::item_record_specs(rules, &application.service, &requested, today)
        }
        _ => Vec::new(),
    };
    let input = ReviewInput {
        action: body.action,
        reason_code: body.reason_code.clone(),
        text: body.text.trim().to_string(),
        missing_materials: body.missing_materials.clone(),
        document: document.to_string(),
        decided_on: today.to_string(),
        item_records,
    };
    let (next, permit) =
        state.store().review(&id, caller.user_id, state.clock().now_ms(), &input, permit.as_ref(), &caller.actor()).await?;
    tracing::info!(application.id = %id, action = body.action.as_str(), reason = %body.reason_code, "reviewed");
    Ok(Json(json!({"id": id, "state": next.as_str(), "document": document, "permit": permit})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Correction {
    /// A decision field key: a form field, `discharge_category`, `licence.name`, `report.pollutants.cod` …
    field: String,
    value: Value,
    reason: String,
}

/// Corrects one field of the case the caller holds, re-runs the rules with every correction made so
/// far on this submission, and returns the new result. The machine's reading stays on record.
async fn correct_field(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<Correction>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest("a correction states its reason".into()));
    }
    let application = state.store().application(&id).await?.ok_or_else(|| ApiError::NotFound(format!("application {id} not found")))?;
    let now_ms = state.clock().now_ms();
    if !application.is_claimed_by(caller.user_id, now_ms) {
        return Err(ApiError::Conflict("claim the case in review before correcting it".into()));
    }
    let mut corrections: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    for earlier in state.store().corrections(&id).await?.into_iter().filter(|c| c.submission_seq == application.submissions) {
        corrections.insert(earlier.field, serde_json::from_str(&earlier.corrected).unwrap_or(Value::Null));
    }
    corrections.insert(body.field.clone(), body.value.clone());
    let machine = state.store().decisions(&id).await?.into_iter().find(|d| d.submission_seq == application.submissions);
    let original = machine
        .and_then(|d| serde_json::from_str::<Value>(&d.decision).ok())
        .and_then(|d| d["fields"].get(&body.field).map(|f| f["value"].clone()))
        .unwrap_or(Value::Null);
    let inputs = crate::cases::load_inputs(&state, &application, application.submissions).await.map_err(ApiError::Internal)?;
    let decider = state.decider().clone();
    let service = application.service.clone();
    let decision = tokio::task::spawn_blocking(move || {
        decider.decide_corrected(&service, &inputs.form, &inputs.files, inputs.submitted_on, &corrections)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    let correction = NewCorrection {
        field: body.field.clone(),
        original: original.clone(),
        corrected: body.value.clone(),
        reason: body.reason.trim().to_string(),
        decision_after: decision.to_canonical_json(),
    };
    let record = state.store().add_correction(&id, caller.user_id, now_ms, &correction, &caller.actor()).await?;
    Ok(Json(json!({"correction": record, "original": original, "decision": decision})))
}
