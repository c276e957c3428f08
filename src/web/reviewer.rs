//! The reviewer's pages: the queue (due dates, overdue and due-soon marks, a service filter, claim
//! next), and a case: each document beside the fields read from it, the findings with their legal
//! basis, weak readings marked, corrections with a reason, and the decision with its written
//! notice shown before it is sent. Claim and decide controls appear only to the case's holder
//! (or, on a free case, to a reviewer who may claim it).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::Value;

use super::case_view::{self, latest_decision};
use super::form::Posted;
use super::page::{Nav, PageError};
use super::session::Visitor;
use super::{ErrorItem, Errors};
use crate::domain::application::{ApplicationId, ApplicationState, ReviewAction};
use crate::domain::decision::{Decision, RuleResult};
use crate::domain::user::Role;
use crate::http::AppState;
use crate::usecases::review::ReviewRequest;
use crate::usecases::UseCaseError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review", get(queue))
        .route("/review/next", post(claim_next))
        .route("/review/{id}", get(case))
        .route("/review/{id}/claim", post(claim))
        .route("/review/{id}/release", post(release))
        .route("/review/{id}/corrections", post(correct))
        .route("/review/{id}/preview", post(preview))
        .route("/review/{id}/decision", post(decide))
        .route("/review/{id}/documents/{document}/boxes.svg", get(super::boxes::boxes))
}

pub(super) fn staff<'a>(visitor: &'a Visitor, back: &str) -> Result<&'a crate::domain::user::Actor, PageError> {
    let actor = visitor.require(back)?;
    if actor.role == Role::Applicant {
        return Err(PageError::NotFound);
    }
    Ok(actor)
}

struct QueueRow {
    id: String,
    service: String,
    applicant: String,
    promised_due: String,
    status: &'static str,
    tag: &'static str,
    holder: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "review_queue.html")]
struct QueuePage {
    nav: Nav,
    rows: Vec<QueueRow>,
    services: Vec<(String, String, bool)>,
    due: String,
    can_claim: bool,
    message: String,
}

#[derive(Debug, Deserialize)]
struct QueueQuery {
    service: Option<String>,
    due: Option<String>,
    empty: Option<String>,
}

fn due_label(status: &str) -> (&'static str, &'static str) {
    match status {
        "overdue" => ("已超期", "red"),
        "due_soon" => ("即将到期", "yellow"),
        _ => ("按期", "green"),
    }
}

async fn queue(State(state): State<AppState>, visitor: Visitor, Query(query): Query<QueueQuery>) -> Result<Response, PageError> {
    let actor = staff(&visitor, "/review")?.clone();
    let service = query.service.as_deref().filter(|s| !s.is_empty());
    let due = query.due.as_deref().filter(|s| matches!(*s, "overdue" | "due_soon" | "on_time"));
    let usecases = state.usecases();
    let rules = usecases.rules().clone();
    let entries = usecases.review_queue(&actor, service, due).await?;
    let mut rows = Vec::new();
    for entry in entries {
        let (status, tag) = due_label(entry.deadlines.as_ref().map_or("", |d| d.status));
        let holder = match entry.claim {
            Some((holder, _)) if holder == actor.user_id => "您".to_string(),
            Some((holder, _)) => usecases.store().user_by_id(holder).await?.map(|u| u.name).unwrap_or_default(),
            None => String::new(),
        };
        rows.push(QueueRow {
            id: entry.application.id.to_string(),
            service: rules.service(&entry.application.service).map_or_else(|| entry.application.service.clone(), |s| s.info().name.clone()),
            applicant: entry.applicant.name.clone().unwrap_or_default(),
            promised_due: entry.deadlines.as_ref().map(|d| d.promised_due.clone()).unwrap_or_default(),
            status,
            tag,
            holder,
        });
    }
    let services = rules.services().map(|s| (s.info().id.clone(), s.info().name.clone(), Some(s.info().id.as_str()) == service)).collect();
    let message = if query.empty.is_some() { "队列中没有可领取的案件。".to_string() } else { String::new() };
    let can_claim = matches!(actor.role, Role::Reviewer | Role::Admin);
    Ok(QueuePage { nav: Nav::of(&visitor), rows, services, due: due.unwrap_or_default().to_string(), can_claim, message }.into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    service: String,
}

async fn claim_next(State(state): State<AppState>, visitor: Visitor, Form(form): Form<CsrfForm>) -> Result<Response, PageError> {
    let actor = staff(&visitor, "/review")?.clone();
    visitor.check_csrf(&form.csrf)?;
    let service = Some(form.service.as_str()).filter(|s| !s.is_empty());
    match state.usecases().claim_next(&actor, service).await {
        Ok((id, _)) => Ok(Redirect::to(&format!("/review/{id}")).into_response()),
        Err(UseCaseError::NotFound(_)) => Ok(Redirect::to("/review?empty=1").into_response()),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn case_id(text: &str) -> Result<ApplicationId, PageError> {
    ApplicationId::parse(text).ok_or(PageError::NotFound)
}

async fn claim(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let actor = staff(&visitor, &format!("/review/{id}"))?.clone();
    visitor.check_csrf(&form.csrf)?;
    state.usecases().claim(&actor, &case_id(&id)?).await?;
    Ok(Redirect::to(&format!("/review/{id}")).into_response())
}

async fn release(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let actor = staff(&visitor, &format!("/review/{id}"))?.clone();
    visitor.check_csrf(&form.csrf)?;
    state.usecases().release(&actor, &case_id(&id)?).await?;
    Ok(Redirect::to("/review").into_response())
}

/// A field as the case page lists it.
pub(super) struct FieldRow {
    key: String,
    label: String,
    /// The number of its box on the image, when drawn there.
    mark: String,
    value: String,
    confidence: String,
    page: String,
    line: String,
    weak: bool,
    note: String,
    corrected_from: String,
}

/// A document with the fields read from it.
pub(super) struct DocView {
    id: i64,
    name: String,
    kind: String,
    is_pdf: bool,
    /// An image with numbered lines to draw over it.
    boxes: bool,
    readable: bool,
    reason: String,
    fields: Vec<FieldRow>,
}

pub(super) struct FindingRow {
    rule: String,
    fails: bool,
    message: String,
    basis: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "review_case.html")]
pub(super) struct ReviewPage {
    nav: Nav,
    id: String,
    service: String,
    state: &'static str,
    state_tag: &'static str,
    in_review: bool,
    holder: String,
    mine: bool,
    free: bool,
    can_work: bool,
    promised_due: String,
    legal_due: String,
    documents: Vec<DocView>,
    other_fields: Vec<FieldRow>,
    findings: Vec<FindingRow>,
    reasons: Vec<(String, String, String)>,
    materials: Vec<(String, String)>,
    errors: Errors,
    notice: Option<(String, Vec<String>)>,
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "（未读出）".into(),
        other => other.to_string(),
    }
}

/// The decision that stands on the current submission: after its latest correction, else the machine's.
pub(super) fn standing(view: &crate::usecases::applications::ApplicationView) -> Option<Decision> {
    let seq = view.application.submissions;
    view.corrections
        .iter()
        .rfind(|c| c.submission_seq == seq)
        .and_then(|c| serde_json::from_str(&c.decision_after).ok())
        .or_else(|| latest_decision(view))
}

pub(super) async fn build_review_page(state: &AppState, visitor: &Visitor, id: &str, errors: Errors) -> Result<ReviewPage, PageError> {
    let actor = staff(visitor, &format!("/review/{id}"))?.clone();
    let case = case_id(id)?;
    let usecases = state.usecases();
    let view = usecases.view(&actor, &case).await?;
    let application = &view.application;
    let rules = usecases.rules().clone();
    let service = rules.service(&application.service).ok_or(PageError::NotFound)?;
    let threshold = service.param_f64("field_confidence").unwrap_or(0.9);
    let decision = standing(&view);
    let now = usecases.clock().now_ms();
    let holder_id = application.claimed_by.filter(|_| application.is_claimed(now));
    let holder = match holder_id {
        Some(h) => usecases.store().user_by_id(h).await?.map(|u| u.name).unwrap_or_default(),
        None => String::new(),
    };
    let kind_name = |kind: &str| rules.documents.kinds.get(kind).map_or_else(|| "未识别的材料".to_string(), |k| k.name.clone());
    let row = |key: &str, f: &crate::domain::decision::FieldReport| FieldRow {
        key: key.to_string(),
        label: case_view::field_label(&rules, service, key),
        mark: String::new(),
        value: shown(&f.value),
        confidence: format!("{:.2}", f.confidence),
        page: f.page.map(|p| p.to_string()).unwrap_or_default(),
        line: f.line.clone().unwrap_or_default(),
        weak: f.confidence < threshold,
        note: f.note.clone().unwrap_or_default(),
        corrected_from: f.corrected_from.as_ref().map(shown).unwrap_or_default(),
    };
    let mut documents = Vec::new();
    let mut placed = std::collections::BTreeSet::new();
    for d in view.documents.iter().filter(|d| d.withdrawn_at.is_none()) {
        let report = decision.as_ref().and_then(|dec| dec.documents.iter().find(|r| r.sha256 == d.sha256));
        let marks = decision.as_ref().map(|dec| super::boxes::marked_fields(dec, &d.file_name)).unwrap_or_default();
        let mut fields: Vec<FieldRow> = decision
            .as_ref()
            .map(|dec| {
                dec.fields.iter().filter(|(_, f)| f.document.as_deref() == Some(d.file_name.as_str())).map(|(k, f)| row(k, f)).collect()
            })
            .unwrap_or_default();
        let is_pdf = d.format == "pdf";
        let boxes = !is_pdf && !marks.is_empty() && state.replay_kit().inference.ocr.is_some();
        if boxes {
            for f in &mut fields {
                f.mark = marks.iter().find(|(_, key, _)| *key == f.key).map(|(n, _, _)| n.to_string()).unwrap_or_default();
            }
        }
        placed.extend(fields.iter().map(|f| f.key.clone()));
        documents.push(DocView {
            id: d.id,
            name: d.file_name.clone(),
            kind: report.map(|r| kind_name(&r.kind)).unwrap_or_default(),
            is_pdf,
            boxes,
            readable: report.is_none_or(|r| r.readable),
            reason: report.and_then(|r| r.reason.clone()).unwrap_or_default(),
            fields,
        });
    }
    let other_fields = decision
        .as_ref()
        .map(|dec| dec.fields.iter().filter(|(k, _)| !placed.contains(*k)).map(|(k, f)| row(k, f)).collect())
        .unwrap_or_default();
    let findings = decision
        .as_ref()
        .map(|dec| {
            // What fails first, then what could not be decided: a reviewer reads the defects first.
            let mut rows: Vec<FindingRow> = dec
                .findings
                .iter()
                .map(|f| FindingRow {
                    rule: f.rule.clone(),
                    fails: f.result == RuleResult::Fail,
                    message: f.message.clone(),
                    basis: f.basis.clone(),
                })
                .collect();
            rows.sort_by_key(|r| !r.fails);
            rows
        })
        .unwrap_or_default();
    let (state_text, state_tag) = case_view::state_label(application.state);
    let can_work = matches!(actor.role, Role::Reviewer | Role::Admin);
    Ok(ReviewPage {
        nav: Nav::of(visitor),
        id: case.to_string(),
        service: service.info().name.clone(),
        state: state_text,
        state_tag,
        in_review: application.state == ApplicationState::NeedsReview,
        mine: holder_id == Some(actor.user_id),
        free: holder_id.is_none(),
        can_work,
        holder,
        promised_due: view.deadlines.as_ref().map(|d| d.promised_due.clone()).unwrap_or_default(),
        legal_due: view.deadlines.as_ref().map(|d| d.legal_due.clone()).unwrap_or_default(),
        documents,
        other_fields,
        findings,
        reasons: rules.review_reasons.reasons.iter().map(|r| (r.code.clone(), r.action.clone(), r.label.clone())).collect(),
        materials: service.material_ids().map(|m| (m.to_string(), kind_name(m))).collect(),
        errors,
        notice: case_view::person_notice(&view),
    })
}

async fn case(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Result<Response, PageError> {
    Ok(build_review_page(&state, &visitor, &id, Errors::default()).await?.into_response())
}

/// A refusal the reviewer can fix (a missing reason, a correction not allowed) shown on the case
/// page at `field`; anything else is an error page.
async fn on_case_page(state: &AppState, visitor: &Visitor, id: &str, field: &str, error: UseCaseError) -> Result<Response, PageError> {
    let message = match error {
        UseCaseError::Invalid(m) | UseCaseError::Conflict(m) => m,
        UseCaseError::Pipeline(crate::pipeline::PipelineError::InvalidForm(fields)) => {
            fields.into_iter().map(|f| f.error).collect::<Vec<_>>().join("；")
        }
        other => return Err(other.into()),
    };
    let page = build_review_page(state, visitor, id, Errors(vec![ErrorItem { id: field.into(), message }])).await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Deserialize)]
struct CorrectionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    reason: String,
}

async fn correct(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CorrectionForm>,
) -> Result<Response, PageError> {
    let actor = staff(&visitor, &format!("/review/{id}"))?.clone();
    visitor.check_csrf(&form.csrf)?;
    let case = case_id(&id)?;
    let application = state.usecases().readable(&actor, &case).await?;
    let value = state.usecases().typed_correction(&application.service, &form.field, &form.value);
    match state.usecases().correct(&actor, &case, &form.field, value, &form.reason).await {
        Ok(_) => Ok(Redirect::to(&format!("/review/{id}#fields")).into_response()),
        Err(e) => on_case_page(&state, &visitor, &id, "correction", e).await,
    }
}

/// The decision form as posted: action, reason code, text and the materials asked for.
fn review_request(posted: &Posted) -> Result<ReviewRequest, UseCaseError> {
    let get = |name: &str| posted.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let action = match get("action").as_str() {
        "issue" => ReviewAction::Issue,
        "refuse" => ReviewAction::Refuse,
        "request_materials" => ReviewAction::RequestMaterials,
        _ => return Err(UseCaseError::Invalid("请选择审核决定：准予许可、不予许可或要求补正".into())),
    };
    Ok(ReviewRequest {
        action,
        reason_code: get("reason_code"),
        text: get("text"),
        missing_materials: posted.iter().filter(|(n, _)| n == "missing").map(|(_, v)| v.clone()).collect(),
        previewed_sha256: Some(get("previewed")).filter(|h| !h.is_empty()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "review_preview.html")]
struct PreviewPage {
    nav: Nav,
    id: String,
    title: String,
    lines: Vec<String>,
    hidden: Posted,
    action_label: &'static str,
}

async fn preview(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    let actor = staff(&visitor, &format!("/review/{id}"))?.clone();
    visitor.check_csrf(posted.iter().find(|(n, _)| n == "csrf").map_or("", |(_, v)| v.as_str()))?;
    let request = match review_request(&posted) {
        Ok(request) => request,
        Err(e) => return on_case_page(&state, &visitor, &id, "action", e).await,
    };
    let document = match state.usecases().preview_review(&actor, &case_id(&id)?, &request).await {
        Ok(document) => document,
        Err(e) => return on_case_page(&state, &visitor, &id, "action", e).await,
    };
    let text = |key: &str| document.get(key).and_then(Value::as_str).map(str::to_string);
    let mut lines: Vec<String> = document
        .get("reasons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|t| format!("理由：{t}"))
        .collect();
    lines.extend(["reason", "message", "text", "basis", "remedies"].iter().filter_map(|k| text(k)).filter(|t| !t.is_empty()));
    if let Some(rules) = document.get("override").and_then(|o| o.get("failed_rules")).and_then(Value::as_array) {
        let names: Vec<&str> = rules.iter().filter_map(Value::as_str).collect();
        lines.push(format!("注意：这是越过未通过规则的决定（{}），将作为越权审定记录在案。", names.join("、")));
    }
    let action_label = match request.action {
        ReviewAction::Issue => "确认准予许可",
        ReviewAction::Refuse => "确认不予许可并送达",
        ReviewAction::RequestMaterials => "确认发出补正通知",
    };
    let mut hidden: Posted = posted.into_iter().filter(|(n, _)| n != "csrf" && n != "previewed").collect();
    hidden.push(("previewed".into(), crate::domain::sha256_hex(document.to_string().as_bytes())));
    Ok(PreviewPage { nav: Nav::of(&visitor), id, title: text("title").unwrap_or_default(), lines, hidden, action_label }.into_response())
}

async fn decide(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    let actor = staff(&visitor, &format!("/review/{id}"))?.clone();
    visitor.check_csrf(posted.iter().find(|(n, _)| n == "csrf").map_or("", |(_, v)| v.as_str()))?;
    let result = match review_request(&posted) {
        // The page sends only what the reviewer saw: a decision without its preview is refused.
        Ok(request) if request.previewed_sha256.is_none() => Err(UseCaseError::Invalid("请先预览决定书，再确认发出".into())),
        Ok(request) => state.usecases().review(&actor, &case_id(&id)?, request).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/review/{id}")).into_response()),
        Err(e) => on_case_page(&state, &visitor, &id, "action", e).await,
    }
}
