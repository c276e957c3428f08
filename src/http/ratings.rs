//! `/api/v1/applications/{id}/rating`, `/api/v1/work-orders`: 好差评 over JSON.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::error::{ApiError, AppJson, ErrorBody};
use super::schemas::FiguresDocument;
use super::AppState;
use crate::domain::application::{ApplicationId, ApplicationState};
use crate::domain::rating::{Grade, WorkOrderState};
use crate::storage::{RatingRecord, WorkOrderRecord, WorkOrderStepRecord};
use crate::usecases::dashboard::Scope;
use crate::usecases::ratings::{parse_step, WorkOrderFilter, WorkOrderView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rate, rating))
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(step))
        .routes(routes!(decide_appeal))
        .routes(routes!(dashboard))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// Only this service.
    pub service: Option<String>,
    /// YYYY-MM-DD, or YYYY-MM for the month's first day.
    pub from: Option<String>,
    /// YYYY-MM-DD, or YYYY-MM for the month's last day.
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

/// The centre's figures, overall, by service and by month.
#[derive(Debug, Serialize, ToSchema)]
struct DashboardBody {
    service: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// Without a staff token: the least number of cases a cell counts from.
    public_min_count: Option<u64>,
    /// Without a staff token: the last day published.
    published_through: Option<NaiveDate>,
    #[schema(value_type = FiguresDocument)]
    overall: Value,
    /// Service → its figures.
    #[schema(value_type = BTreeMap<String, FiguresDocument>)]
    by_service: BTreeMap<String, Value>,
    /// Month of acceptance (YYYY-MM) → its figures.
    #[schema(value_type = BTreeMap<String, FiguresDocument>)]
    by_month: BTreeMap<String, Value>,
}

/// `GET /api/v1/dashboard`: public, the figures only (no personal data); with a staff token,
/// every figure and any dates, else the published months only, every figure a sum of cells of at
/// least `public_min_count` cases (`usecases::dashboard::public_dashboard`).
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "ratings",
    security((), ("bearer" = [])),
    summary = "The centre's figures (no personal data), overall, by service and by month",
    description = "The centre's figures (no personal data): received, decided, auto_issue_rate, contactless_rate, working days, time_limit_compression, on_time_rate, good_rating_rate, rating_rate, rectification_rate, callback_rate, work orders; overall, by service and by month. With a staff token (reviewer, admin, auditor): every figure, for any dates. Without one: whole months, each published once the month after it is over and counted as of then (from and to widened to their months' first and last days, to at most published_through), every figure counted only from the service-month cells of at least public_min_count cases decided and timed (counted says how many of the received), the ratings' figures from cells that also hold that many ratings; a p90 of fewer than 10 cases and work-order rates of fewer than public_min_count orders are null; a group with no such cell, and the open work orders (live), are left out and named in withheld; a bad token is 401",
    params(DashboardQuery),
    responses(
        (status = 200, description = "the figures", body = DashboardBody),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
    )
)]
async fn dashboard(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Query(query): Query<DashboardQuery>,
) -> Result<Json<DashboardBody>, ApiError> {
    let asked = query.scope(state.usecases().rules()).map_err(ApiError::BadRequest)?;
    let (scope, board) = state.usecases().dashboard(caller.as_ref(), &asked).await?;
    let public = !crate::usecases::dashboard::sees_detail(caller.as_ref());
    let cells = |m: &BTreeMap<String, crate::usecases::dashboard::Figures>| m.iter().map(|(k, f)| (k.clone(), f.to_json())).collect();
    Ok(Json(DashboardBody {
        service: scope.service,
        from: scope.from,
        to: scope.to,
        public_min_count: public.then_some(crate::usecases::dashboard::PUBLIC_MIN_COUNT),
        published_through: if public { scope.to } else { None },
        overall: board.overall.to_json(),
        by_service: cells(&board.by_service),
        by_month: cells(&board.by_month),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RatingRequest {
    /// 1 (非常不满意) to 5 (非常满意); 1 or 2 (差评) opens a work order.
    #[schema(minimum = 1, maximum = 5)]
    level: i64,
    /// Aspect (efficiency, guide_accuracy, convenience, usability) → 1 to 5.
    #[serde(default)]
    aspects: BTreeMap<String, i64>,
    // At most `domain::rating::MAX_COMMENT_CHARS` characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    comment: String,
}

/// A rating as the API shows it: never who gave it (the case's owner is known to whom may see it).
#[derive(Debug, Serialize, ToSchema)]
struct RatingBody {
    application_id: ApplicationId,
    level: u8,
    level_label: &'static str,
    /// 1 or 2: 差评.
    bad: bool,
    aspects: BTreeMap<String, u8>,
    comment: String,
    /// The state of the case when it was rated.
    rated_state: ApplicationState,
    rated_on: NaiveDate,
    /// Whether an upheld appeal took it out of the figures.
    removed: bool,
    removed_reason: Option<String>,
}

impl From<&RatingRecord> for RatingBody {
    fn from(rating: &RatingRecord) -> Self {
        Self {
            application_id: rating.application_id.clone(),
            level: rating.level.value(),
            level_label: rating.level.label(),
            bad: rating.level.is_bad(),
            aspects: rating.aspects.iter().map(|(k, v)| (k.clone(), v.value())).collect(),
            comment: rating.comment.clone(),
            rated_state: rating.rated_state,
            rated_on: rating.rated_on,
            removed: rating.removed_reason.is_some(),
            removed_reason: rating.removed_reason.clone(),
        }
    }
}

/// A new rating, with the work order a bad one opened.
#[derive(Debug, Serialize, ToSchema)]
struct RatingCreated {
    #[serde(flatten)]
    rating: RatingBody,
    /// The work order a bad rating opened; null otherwise.
    work_order: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct WorkOrderBody {
    id: i64,
    application_id: ApplicationId,
    level: u8,
    state: WorkOrderState,
    state_label: &'static str,
    overdue: bool,
    opened_on: NaiveDate,
    due_on: NaiveDate,
    escalated_on: Option<NaiveDate>,
    /// Who handles it; null: any admin (the machine decided the case).
    assignee: Option<i64>,
    rectified: bool,
    called_back: bool,
    grade: Option<Grade>,
}

impl WorkOrderBody {
    fn new(order: &WorkOrderRecord, overdue: bool) -> Self {
        Self {
            id: order.id,
            application_id: order.application_id.clone(),
            level: order.level.value(),
            state: order.state,
            state_label: order.state.label(),
            overdue,
            opened_on: order.opened_on,
            due_on: order.due_on,
            escalated_on: order.escalated_on,
            assignee: order.assignee_id,
            rectified: order.rectified,
            called_back: order.called_back,
            grade: order.grade,
        }
    }
}

/// A work order with the rating that opened it and its steps.
#[derive(Debug, Serialize, ToSchema)]
struct WorkOrderDetail {
    #[serde(flatten)]
    order: WorkOrderBody,
    rating: Option<RatingBody>,
    steps: Vec<StepBody>,
}

#[derive(Debug, Serialize, ToSchema)]
struct StepBody {
    step: String,
    actor_id: Option<i64>,
    actor: String,
    on: NaiveDate,
    text: String,
    #[schema(value_type = Object)]
    details: Value,
    at: String,
}

impl From<&WorkOrderStepRecord> for StepBody {
    fn from(s: &WorkOrderStepRecord) -> Self {
        Self {
            step: s.step.clone(),
            actor_id: s.actor_id,
            actor: s.actor.clone(),
            on: s.on,
            text: s.text.clone(),
            details: s.details.clone(),
            at: s.created_at.clone(),
        }
    }
}

impl From<&WorkOrderView> for WorkOrderDetail {
    fn from(view: &WorkOrderView) -> Self {
        Self {
            order: WorkOrderBody::new(&view.order, view.overdue),
            rating: view.rating.as_ref().map(RatingBody::from),
            steps: view.steps.iter().map(StepBody::from).collect(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/applications/{id}/rating",
    tag = "ratings",
    summary = "Rate a decided case once (好差评)",
    description = "Rate a decided case once (好差评): level 1-5, aspects efficiency, guide_accuracy, convenience, usability (1-5 each), comment; a level of 1 or 2 (差评) opens a work order",
    params(("id" = String, Path, description = "the application's id")),
    request_body = RatingRequest,
    responses(
        (status = 201, description = "rated; work_order names the order a bad rating opened", body = RatingCreated),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn rate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<RatingRequest>,
) -> Result<(StatusCode, Json<RatingCreated>), ApiError> {
    let id = super::application_id(&id)?;
    let (rating, order) = state.usecases().rate(&caller, &id, body.level, &body.aspects, &body.comment).await?;
    Ok((StatusCode::CREATED, Json(RatingCreated { rating: RatingBody::from(&rating), work_order: order.map(|o| o.id) })))
}

#[utoipa::path(
    get,
    path = "/applications/{id}/rating",
    tag = "ratings",
    summary = "The case's rating, to its owner and staff",
    params(("id" = String, Path, description = "the application's id")),
    responses(
        (status = 200, description = "the rating", body = RatingBody),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
async fn rating(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<RatingBody>, ApiError> {
    let id = super::application_id(&id)?;
    let rating =
        state.usecases().rating(&caller, &id).await?.ok_or_else(|| ApiError::NotFound(format!("application {id} is not rated")))?;
    Ok(Json(RatingBody::from(&rating)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// open, overdue, closed, or none for all.
    #[param(pattern = "^(open|overdue|closed)$")]
    state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct WorkOrders {
    work_orders: Vec<WorkOrderBody>,
}

#[utoipa::path(
    get,
    path = "/work-orders",
    tag = "ratings",
    summary = "Work orders opened by bad ratings, oldest due first (staff)",
    params(ListQuery),
    responses(
        (status = 200, description = "the work orders", body = WorkOrders),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
async fn list(State(state): State<AppState>, caller: Caller, Query(query): Query<ListQuery>) -> Result<Json<WorkOrders>, ApiError> {
    let filter = WorkOrderFilter::parse(query.state.as_deref())
        .ok_or_else(|| ApiError::BadRequest("state: one of open, overdue, closed (or none for all)".into()))?;
    let orders = state.usecases().work_orders(&caller, filter).await?;
    Ok(Json(WorkOrders { work_orders: orders.iter().map(|v| WorkOrderBody::new(&v.order, v.overdue)).collect() }))
}

#[utoipa::path(
    get,
    path = "/work-orders/{id}",
    tag = "ratings",
    summary = "One work order with its rating and steps (staff, and the applicant who rated)",
    params(("id" = i64, Path, description = "the work order's id")),
    responses(
        (status = 200, description = "the work order", body = WorkOrderDetail),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
async fn one(State(state): State<AppState>, caller: Caller, Path(id): Path<i64>) -> Result<Json<WorkOrderDetail>, ApiError> {
    Ok(Json(WorkOrderDetail::from(&state.usecases().work_order(&caller, id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StepRequest {
    // At most `usecases::ratings::MAX_STEP_TEXT_CHARS` characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    text: String,
    /// `verify`: whether the complaint is founded.
    founded: Option<bool>,
    /// `close`: the applicant's grade (`satisfied`, `basic`, `dissatisfied`).
    #[schema(value_type = Option<Grade>)]
    grade: Option<String>,
}

/// The steps a work order takes by name, the `{step}` of its path.
const STEPS: [&str; 5] = ["verify", "rectify", "callback", "close", "appeal"];

/// The `{step}` path parameter: one of [`STEPS`].
struct StepName;

impl utoipa::PartialSchema for StepName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schemas::string_enum(STEPS.iter().map(|s| Value::from(*s)).collect(), "a step of the work order")
    }
}

impl utoipa::ToSchema for StepName {}

#[utoipa::path(
    post,
    path = "/work-orders/{id}/{step}",
    tag = "ratings",
    summary = "A step of the work order",
    description = "A step of the work order: verify {founded, text}, rectify {text}, callback {text}, appeal {text}, close {grade: satisfied|basic|dissatisfied}; by its handler or an admin (close also by the applicant who rated)",
    params(
        ("id" = i64, Path, description = "the work order's id"),
        ("step" = inline(StepName), Path, description = "the step"),
    ),
    request_body = StepRequest,
    responses(
        (status = 200, description = "the work order after the step", body = WorkOrderDetail),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn step(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(i64, String)>,
    AppJson(body): AppJson<StepRequest>,
) -> Result<Json<WorkOrderDetail>, ApiError> {
    if !STEPS.contains(&name.as_str()) {
        return Err(ApiError::NotFound(format!("no step {name}")));
    }
    let step = parse_step(&name, body.founded, None, body.grade.as_deref())?;
    Ok(Json(WorkOrderDetail::from(&state.usecases().work_order_step(&caller, id, step, &body.text).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AppealDecisionBody {
    upheld: bool,
    text: String,
}

/// An admin's decision on an appeal: upheld takes the rating out of the figures, the reason kept.
#[utoipa::path(
    post,
    path = "/work-orders/{id}/appeal/decision",
    tag = "ratings",
    summary = "An admin decides an appeal",
    description = "An admin decides an appeal: upheld removes the rating from the figures, the reason kept; dismissed sends the order to rectification",
    params(("id" = i64, Path, description = "the work order's id")),
    request_body = AppealDecisionBody,
    responses(
        (status = 200, description = "the work order after the decision", body = WorkOrderDetail),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn decide_appeal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    AppJson(body): AppJson<AppealDecisionBody>,
) -> Result<Json<WorkOrderDetail>, ApiError> {
    let step = parse_step("decide_appeal", None, Some(body.upheld), None)?;
    Ok(Json(WorkOrderDetail::from(&state.usecases().work_order_step(&caller, id, step, &body.text).await?)))
}
