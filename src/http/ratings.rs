//! `/api/v1/applications/{id}/rating`, `/api/v1/work-orders`: 好差评 over JSON.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, AppJson};
use super::AppState;
use crate::storage::{RatingRecord, WorkOrderRecord};
use crate::usecases::dashboard::Scope;
use crate::usecases::ratings::{parse_step, WorkOrderFilter, WorkOrderView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/applications/{id}/rating", post(rate).get(rating))
        .route("/work-orders", get(list))
        .route("/work-orders/{id}", get(one))
        .route("/work-orders/{id}/{step}", post(step))
        .route("/work-orders/{id}/appeal/decision", post(decide_appeal))
        .route("/dashboard", get(dashboard))
}

#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    pub service: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl DashboardQuery {
    /// The scope asked for; an unknown service or a date that is none is the caller's mistake.
    pub fn scope(&self, rules: &crate::rules::RuleSet) -> Result<Scope, String> {
        let date = |name: &str, text: &Option<String>| {
            text.as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| {
                    // A month (YYYY-MM, as a month input sends it) is its first day; `to` widens to
                    // its last for the public, and staff asking by month mean the same.
                    let month = chrono::NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d").ok();
                    let day = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
                    match (day, month) {
                        (Some(d), _) => Ok(d),
                        (None, Some(m)) if name == "to" => Ok(crate::usecases::dashboard::last_of_month(m)),
                        (None, Some(m)) => Ok(m),
                        (None, None) => Err(format!("{name}: a date as YYYY-MM-DD, or a month as YYYY-MM")),
                    }
                })
                .transpose()
        };
        let service = self.service.clone().filter(|s| !s.is_empty());
        if let Some(s) = &service {
            if rules.service(s).is_none() {
                return Err(format!("service: no service {s}"));
            }
        }
        Ok(Scope { service, from: date("from", &self.from)?, to: date("to", &self.to)? })
    }
}

/// `GET /api/v1/dashboard`: public, the figures only (no personal data); with a staff token,
/// every figure and any dates, else the published months only, every figure a sum of cells of at
/// least `public_min_count` cases (`usecases::dashboard::public_dashboard`).
async fn dashboard(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Query(query): Query<DashboardQuery>,
) -> Result<Json<Value>, ApiError> {
    let asked = query.scope(state.usecases().rules()).map_err(ApiError::BadRequest)?;
    let (scope, board) = state.usecases().dashboard(caller.as_ref(), &asked).await?;
    let public = !crate::usecases::dashboard::sees_detail(caller.as_ref());
    let cells = |m: &BTreeMap<String, crate::usecases::dashboard::Figures>| {
        m.iter().map(|(k, f)| (k.clone(), f.to_json())).collect::<serde_json::Map<_, _>>()
    };
    Ok(Json(json!({
        "service": scope.service, "from": scope.from, "to": scope.to,
        "public_min_count": public.then_some(crate::usecases::dashboard::PUBLIC_MIN_COUNT),
        "published_through": if public { scope.to } else { None },
        "overall": board.overall.to_json(), "by_service": cells(&board.by_service), "by_month": cells(&board.by_month),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingBody {
    level: i64,
    #[serde(default)]
    aspects: BTreeMap<String, i64>,
    #[serde(default)]
    comment: String,
}

/// A rating as the API shows it: never who gave it (the case's owner is known to whom may see it).
pub fn rating_json(rating: &RatingRecord) -> Value {
    json!({
        "application_id": rating.application_id,
        "level": rating.level.value(),
        "level_label": rating.level.label(),
        "bad": rating.level.is_bad(),
        "aspects": rating.aspects.iter().map(|(k, v)| (k.clone(), json!(v.value()))).collect::<serde_json::Map<_, _>>(),
        "comment": rating.comment,
        "rated_state": rating.rated_state,
        "rated_on": rating.rated_on,
        "removed": rating.removed_reason.is_some(),
        "removed_reason": rating.removed_reason,
    })
}

pub fn work_order_json(order: &WorkOrderRecord, overdue: bool) -> Value {
    json!({
        "id": order.id,
        "application_id": order.application_id,
        "level": order.level.value(),
        "state": order.state,
        "state_label": order.state.label(),
        "overdue": overdue,
        "opened_on": order.opened_on,
        "due_on": order.due_on,
        "escalated_on": order.escalated_on,
        "assignee": order.assignee_id,
        "rectified": order.rectified,
        "called_back": order.called_back,
        "grade": order.grade,
    })
}

fn view_json(view: &WorkOrderView) -> Value {
    let mut body = work_order_json(&view.order, view.overdue);
    body["rating"] = view.rating.as_ref().map(rating_json).unwrap_or(Value::Null);
    body["steps"] = view
        .steps
        .iter()
        .map(|s| json!({"step": s.step, "actor_id": s.actor_id, "actor": s.actor, "on": s.on, "text": s.text, "details": s.details, "at": s.created_at}))
        .collect();
    body
}

async fn rate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<RatingBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = super::application_id(&id)?;
    let (rating, order) = state.usecases().rate(&caller, &id, body.level, &body.aspects, &body.comment).await?;
    let mut out = rating_json(&rating);
    out["work_order"] = order.map(|o| json!(o.id)).unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn rating(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = super::application_id(&id)?;
    let rating =
        state.usecases().rating(&caller, &id).await?.ok_or_else(|| ApiError::NotFound(format!("application {id} is not rated")))?;
    Ok(Json(rating_json(&rating)))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn list(State(state): State<AppState>, caller: Caller, Query(query): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let filter = WorkOrderFilter::parse(query.state.as_deref())
        .ok_or_else(|| ApiError::BadRequest("state: one of open, overdue, closed (or none for all)".into()))?;
    let orders = state.usecases().work_orders(&caller, filter).await?;
    Ok(Json(json!({"work_orders": orders.iter().map(|v| work_order_json(&v.order, v.overdue)).collect::<Vec<_>>()})))
}

async fn one(State(state): State<AppState>, caller: Caller, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    Ok(Json(view_json(&state.usecases().work_order(&caller, id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    #[serde(default)]
    text: String,
    /// `verify`: whether the complaint is founded.
    founded: Option<bool>,
    /// `close`: the applicant's grade (`satisfied`, `basic`, `dissatisfied`).
    grade: Option<String>,
}

async fn step(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(i64, String)>,
    AppJson(body): AppJson<StepBody>,
) -> Result<Json<Value>, ApiError> {
    if !matches!(name.as_str(), "verify" | "rectify" | "callback" | "close" | "appeal") {
        return Err(ApiError::NotFound(format!("no step {name}")));
    }
    let step = parse_step(&name, body.founded, None, body.grade.as_deref())?;
    Ok(Json(view_json(&state.usecases().work_order_step(&caller, id, step, &body.text).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppealDecisionBody {
    upheld: bool,
    text: String,
}

/// An admin's decision on an appeal: upheld takes the rating out of the figures, the reason kept.
async fn decide_appeal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    AppJson(body): AppJson<AppealDecisionBody>,
) -> Result<Json<Value>, ApiError> {
    let step = parse_step("decide_appeal", None, Some(body.upheld), None)?;
    Ok(Json(view_json(&state.usecases().work_order_step(&caller, id, step, &body.text).await?)))
}
