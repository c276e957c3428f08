//! 好差评 pages: the applicant rates a decided case (`/applications/{id}/rating`) and grades how a
//! bad rating was handled; staff work the orders bad ratings open (`/work-orders`), each step a
//! form of its own with the order's history beside it.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::form::Posted;
use super::page::{Nav, PageError};
use super::session::Visitor;
use super::{ErrorItem, Errors};
use crate::domain::application::{ApplicationId, ApplicationState};
use crate::domain::rating::{Grade, ASPECTS, LEVEL_LABELS};
use crate::http::AppState;
use crate::usecases::ratings::{parse_step, WorkOrderFilter, WorkOrderView};
use crate::usecases::UseCaseError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/applications/{id}/rating", get(rating_page).post(rate))
        .route("/work-orders", get(list))
        .route("/work-orders/{id}", get(order_page).post(step))
}

fn case_id(text: &str) -> Result<ApplicationId, PageError> {
    ApplicationId::parse(text).ok_or(PageError::NotFound)
}

fn first(posted: &Posted, name: &str) -> String {
    posted.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
}

/// A step of an order's history as the pages show it.
struct StepRow {
    name: &'static str,
    on: String,
    text: String,
    outcome: String,
}

fn step_rows(view: &WorkOrderView) -> Vec<StepRow> {
    view.steps
        .iter()
        .map(|s| {
            let flag = |key: &str| s.details.get(key).and_then(serde_json::Value::as_bool);
            let (name, outcome) = match s.step.as_str() {
                "verify" => ("核实", if flag("founded") == Some(true) { "属实" } else { "不属实" }.to_string()),
                "rectify" => ("整改", String::new()),
                "callback" => ("回访", String::new()),
                "appeal" => ("申诉", String::new()),
                "decide_appeal" => {
                    ("申诉审定", if flag("upheld") == Some(true) { "申诉成立，该评价不计入统计" } else { "申诉不成立" }.to_string())
                }
                "close" => (
                    "申请人评价整改",
                    s.details
                        .get("grade")
                        .and_then(|g| g.as_str())
                        .and_then(Grade::parse)
                        .map(|g| g.label().to_string())
                        .unwrap_or_default(),
                ),
                "lapse" => ("自动办结", "申请人未评价".to_string()),
                _ => ("其他", String::new()),
            };
            StepRow { name, on: s.on.to_string(), text: s.text.clone(), outcome }
        })
        .collect()
}

/// A rating as its page repeats it: the level, each aspect rated, the comment.
struct Given {
    level: String,
    comment: String,
    aspects: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "rating.html")]
struct RatingPage {
    nav: Nav,
    id: String,
    service: String,
    /// The case may be rated now (decided, not yet rated).
    can_rate: bool,
    given: Option<Given>,
    order_state: String,
    order_due: String,
    steps: Vec<StepRow>,
    can_grade: bool,
    levels: Vec<(u8, &'static str)>,
    aspects: Vec<(&'static str, &'static str)>,
    errors: Errors,
}

async fn build_rating_page(state: &AppState, visitor: &Visitor, id: &str, errors: Errors) -> Result<RatingPage, PageError> {
    let actor = visitor.require(&format!("/applications/{id}/rating"))?.clone();
    let case = case_id(id)?;
    let usecases = state.usecases();
    let application = usecases.readable(&actor, &case).await?;
    if application.owner_id != Some(actor.user_id) {
        return Err(PageError::NotFound);
    }
    let rating = usecases.rating(&actor, &case).await?;
    let order = usecases.work_order_of(&actor, &case).await?;
    let decided = matches!(application.state, ApplicationState::Issued | ApplicationState::Refused | ApplicationState::NeedsMaterials);
    let level_label = |v: u8| LEVEL_LABELS[5 - v as usize].to_string();
    Ok(RatingPage {
        nav: Nav::of(visitor),
        id: case.to_string(),
        service: usecases.rules().service(&application.service).map(|s| s.info().name.clone()).unwrap_or_default(),
        can_rate: decided && rating.is_none(),
        given: rating.as_ref().map(|r| {
            let aspects =
                ASPECTS.iter().filter_map(|(k, name)| r.aspects.get(*k).map(|l| (name.to_string(), level_label(l.value())))).collect();
            Given { level: r.level.label().to_string(), comment: r.comment.clone(), aspects }
        }),
        order_state: order.as_ref().map(|o| o.order.state.label().to_string()).unwrap_or_default(),
        order_due: order.as_ref().map(|o| o.order.due_on.to_string()).unwrap_or_default(),
        steps: order.as_ref().map(step_rows).unwrap_or_default(),
        can_grade: order.as_ref().is_some_and(|o| usecases.steps_open_to(&actor, o).contains(&"close")),
        levels: (1..=5u8).rev().map(|v| (v, LEVEL_LABELS[5 - v as usize])).collect(),
        aspects: ASPECTS.to_vec(),
        errors,
    })
}

async fn rating_page(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Result<Response, PageError> {
    Ok(build_rating_page(&state, &visitor, &id, Errors::default()).await?.into_response())
}

/// The rating form, or (with `grade`) the applicant's grade of a bad rating's handling.
async fn rate(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    let actor = visitor.require(&format!("/applications/{id}/rating"))?.clone();
    visitor.check_csrf(&first(&posted, "csrf"))?;
    let case = case_id(&id)?;
    let problem = rate_or_grade(&state, &actor, &case, &posted).await?;
    let Some((field, message)) = problem else { return Ok(Redirect::to(&format!("/applications/{id}/rating")).into_response()) };
    let page = build_rating_page(&state, &visitor, &id, Errors(vec![ErrorItem { id: field.to_string(), message }])).await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// What the form asked, done; or the field to show a problem at, with the problem.
async fn rate_or_grade(
    state: &AppState,
    actor: &crate::domain::user::Actor,
    case: &ApplicationId,
    posted: &Posted,
) -> Result<Option<(&'static str, String)>, PageError> {
    let usecases = state.usecases();
    if first(posted, "form") == "grade" {
        let Some(order) = usecases.work_order_of(actor, case).await? else { return Err(PageError::NotFound) };
        let Ok(step) = parse_step("close", None, None, Some(&first(posted, "grade"))) else {
            return Ok(Some(("grade", "请选择您对整改情况的评价".into())));
        };
        usecases.work_order_step(actor, order.order.id, step, &first(posted, "text")).await?;
        return Ok(None);
    }
    let Ok(level) = first(posted, "level").parse::<i64>() else { return Ok(Some(("level", "请选择一个满意程度".into()))) };
    let aspects: BTreeMap<String, i64> =
        ASPECTS.iter().filter_map(|(k, _)| first(posted, &format!("aspect-{k}")).parse::<i64>().ok().map(|v| (k.to_string(), v))).collect();
    match usecases.rate(actor, case, level, &aspects, &first(posted, "comment")).await {
        Ok(_) => Ok(None),
        Err(UseCaseError::Invalid(message)) => {
            let field = if message.starts_with("comment") { "comment" } else { "level" };
            Ok(Some((field, format!("评价内容有误：{message}"))))
        }
        Err(e) => Err(e.into()),
    }
}

fn staff(visitor: &Visitor, back: &str) -> Result<crate::domain::user::Actor, PageError> {
    super::reviewer::staff(visitor, back).cloned()
}

struct OrderRow {
    id: i64,
    application_id: String,
    level: &'static str,
    state: &'static str,
    due_on: String,
    overdue: bool,
    escalated: bool,
    assignee: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "work_orders.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<OrderRow>,
    filter: String,
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn assignee_name(state: &AppState, assignee: Option<i64>) -> Result<String, PageError> {
    Ok(match assignee {
        Some(id) => state.usecases().store().user_by_id(id).await?.map(|u| u.name).unwrap_or_default(),
        None => "管理员（机器审批的案件）".to_string(),
    })
}

async fn list(State(state): State<AppState>, visitor: Visitor, Query(query): Query<ListQuery>) -> Result<Response, PageError> {
    let actor = staff(&visitor, "/work-orders")?;
    let filter = WorkOrderFilter::parse(query.state.as_deref()).ok_or(PageError::NotFound)?;
    let mut rows = Vec::new();
    // Most orders share a few handlers: each name is read once.
    let mut names: std::collections::HashMap<Option<i64>, String> = std::collections::HashMap::new();
    for view in state.usecases().work_orders(&actor, filter).await? {
        let o = &view.order;
        if let std::collections::hash_map::Entry::Vacant(entry) = names.entry(o.assignee_id) {
            entry.insert(assignee_name(&state, o.assignee_id).await?);
        }
        rows.push(OrderRow {
            id: o.id,
            application_id: o.application_id.to_string(),
            level: o.level.label(),
            state: o.state.label(),
            due_on: o.due_on.to_string(),
            overdue: view.overdue,
            escalated: o.escalated_on.is_some(),
            assignee: names[&o.assignee_id].clone(),
        });
    }
    Ok(ListPage { nav: Nav::of(&visitor), rows, filter: query.state.unwrap_or_default() }.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "work_order.html")]
struct OrderPage {
    nav: Nav,
    id: i64,
    application_id: String,
    level: &'static str,
    state: &'static str,
    due_on: String,
    overdue: bool,
    assignee: String,
    aspects: Vec<(String, String)>,
    comment: String,
    removed: String,
    steps: Vec<StepRow>,
    open: Vec<&'static str>,
    errors: Errors,
}

async fn build_order_page(state: &AppState, visitor: &Visitor, id: i64, errors: Errors) -> Result<OrderPage, PageError> {
    let actor = staff(visitor, &format!("/work-orders/{id}"))?;
    let usecases = state.usecases();
    let view = usecases.work_order(&actor, id).await?;
    let o = &view.order;
    let rating = view.rating.as_ref();
    Ok(OrderPage {
        nav: Nav::of(visitor),
        id,
        application_id: o.application_id.to_string(),
        level: o.level.label(),
        state: o.state.label(),
        due_on: o.due_on.to_string(),
        overdue: view.overdue,
        assignee: assignee_name(state, o.assignee_id).await?,
        aspects: rating
            .map(|r| ASPECTS.iter().filter_map(|(k, n)| r.aspects.get(*k).map(|l| (n.to_string(), l.label().to_string()))).collect())
            .unwrap_or_default(),
        comment: rating.map(|r| r.comment.clone()).unwrap_or_default(),
        removed: rating.and_then(|r| r.removed_reason.clone()).unwrap_or_default(),
        steps: step_rows(&view),
        open: usecases.steps_open_to(&actor, &view),
        errors,
    })
}

async fn order_page(State(state): State<AppState>, visitor: Visitor, Path(id): Path<i64>) -> Result<Response, PageError> {
    Ok(build_order_page(&state, &visitor, id, Errors::default()).await?.into_response())
}

/// One step, named by the form's `step`; `founded`, `upheld` and `grade` as radios.
async fn step(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    let actor = staff(&visitor, &format!("/work-orders/{id}"))?;
    visitor.check_csrf(&first(&posted, "csrf"))?;
    let name = first(&posted, "step");
    let yes = |key: &str| match first(&posted, key).as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let grade = first(&posted, "grade");
    let taken = match parse_step(&name, yes("founded"), yes("upheld"), (!grade.is_empty()).then_some(grade.as_str())) {
        Ok(step) => state.usecases().work_order_step(&actor, id, step, &first(&posted, "text")).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match taken {
        Ok(()) => Ok(Redirect::to(&format!("/work-orders/{id}")).into_response()),
        Err(UseCaseError::Invalid(message) | UseCaseError::Conflict(message)) => {
            let errors = Errors(vec![ErrorItem { id: format!("text-{name}"), message }]);
            let page = build_order_page(&state, &visitor, id, errors).await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
