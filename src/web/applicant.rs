//! The applicant's pages: the services, the one form, the case page (task list, files, upload,
//! status, outcome), check your answers, submit, and the applicant's own list.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::case_view::{self, FileRow, Task};
use super::form::{self, Answer, Posted, Row};
use super::page::{Nav, PageError};
use super::session::Visitor;
use super::{ErrorItem, Errors};
use crate::domain::application::ApplicationId;
use crate::domain::user::Role;
use crate::http::{ApiError, AppState};
use crate::usecases::UseCaseError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/apply/{service}", get(apply_page).post(apply))
        .route("/my", get(my_applications))
        .route("/applications/{id}", get(case_page))
        .route("/applications/{id}/edit", get(edit_page).post(edit))
        .route("/applications/{id}/state", get(case_state))
        .route("/applications/{id}/documents", post(upload))
        .route("/applications/{id}/documents/{document}", get(document_file))
        .route("/applications/{id}/documents/{document}/withdraw", post(withdraw))
        .route("/applications/{id}/check", get(check_page))
        .route("/applications/{id}/submit", post(submit))
        .route("/applications/{id}/certificate", get(certificate))
}

fn case_id(text: &str) -> Result<ApplicationId, PageError> {
    ApplicationId::parse(text).ok_or(PageError::NotFound)
}

/// One service on the front page.
struct ServiceCard {
    id: String,
    name: String,
    materials: Vec<(String, bool)>,
    promise_days: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    services: Vec<ServiceCard>,
}

async fn home(State(state): State<AppState>, visitor: Visitor) -> Response {
    let rules = state.usecases().rules();
    let services = rules
        .services()
        .map(|s| ServiceCard {
            id: s.info().id.clone(),
            name: s.info().name.clone(),
            materials: s
                .materials()
                .iter()
                .map(|m| (rules.documents.kinds.get(&m.id).map_or_else(|| m.id.clone(), |k| k.name.clone()), m.required.is_none()))
                .collect(),
            promise_days: s.info().promise_days.to_string(),
        })
        .collect();
    HomePage { nav: Nav::of(&visitor), services }.into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "apply.html")]
struct ApplyPage {
    nav: Nav,
    title: String,
    action: String,
    rows: Vec<Row>,
    errors: Errors,
    button: &'static str,
}

/// The form page of `service`: new (`/apply/…`) or a draft's (`/applications/…/edit`).
fn form_page(
    visitor: &Visitor,
    service: &crate::rules::engine::CompiledService,
    action: String,
    posted: &Posted,
    errors: BTreeMap<String, String>,
    editing: bool,
) -> ApplyPage {
    let rows = form::rows(service, posted, &errors);
    let mut ordered: Vec<ErrorItem> = Vec::new();
    for row in &rows {
        if let Row::Field(field) = row {
            if let Some(message) = &field.error {
                ordered.push(ErrorItem { id: field.id.clone(), message: message.clone() });
            }
        }
    }
    // A problem with no field of its own on the page (the form as a whole) is listed too.
    for (path, message) in &errors {
        if !ordered.iter().any(|e| &e.id == path) {
            ordered.push(ErrorItem { id: "main".into(), message: message.clone() });
        }
    }
    let verb = if editing { "修改" } else { "申请" };
    ApplyPage {
        nav: Nav::of(visitor),
        title: format!("{verb}：{}", service.info().name),
        action,
        rows,
        errors: Errors(ordered),
        button: if editing { "保存并继续" } else { "保存并继续上传材料" },
    }
}

fn applicant<'a>(visitor: &'a Visitor, back: &str) -> Result<&'a crate::domain::user::Actor, PageError> {
    let actor = visitor.require(back)?;
    if !matches!(actor.role, Role::Applicant | Role::Admin) {
        return Err(PageError::Forbidden("只有申请人账户可以提交申请。".into()));
    }
    Ok(actor)
}

async fn apply_page(State(state): State<AppState>, visitor: Visitor, Path(service): Path<String>) -> Result<Response, PageError> {
    let rules = state.usecases().rules().clone();
    let compiled = rules.service(&service).ok_or(PageError::NotFound)?;
    applicant(&visitor, &format!("/apply/{service}"))?;
    Ok(form_page(&visitor, compiled, format!("/apply/{service}"), &Vec::new(), BTreeMap::new(), false).into_response())
}

/// The posted pairs without the page's own controls, and what those asked for.
struct PostedForm {
    csrf: String,
    add: Option<String>,
    remove: Option<String>,
    fields: Posted,
}

fn split(posted: Posted) -> PostedForm {
    let mut out = PostedForm { csrf: String::new(), add: None, remove: None, fields: Vec::new() };
    for (name, value) in posted {
        match name.as_str() {
            "csrf" => out.csrf = value,
            "add" => out.add = Some(value),
            "remove" => out.remove = Some(value),
            _ => out.fields.push((name, value)),
        }
    }
    out
}

/// The form's problems by path: what the page could not read, then what validation named.
fn merge(local: BTreeMap<String, String>, error: UseCaseError) -> Result<BTreeMap<String, String>, PageError> {
    match error {
        UseCaseError::Pipeline(crate::pipeline::PipelineError::InvalidForm(fields)) => {
            let mut errors = local;
            for field in fields {
                errors.entry(field.field).or_insert(field.error);
            }
            Ok(errors)
        }
        other => Err(other.into()),
    }
}

async fn apply(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(service): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    let rules = state.usecases().rules().clone();
    let compiled = rules.service(&service).ok_or(PageError::NotFound)?;
    let actor = applicant(&visitor, &format!("/apply/{service}"))?.clone();
    let posted = split(posted);
    visitor.check_csrf(&posted.csrf)?;
    let action = format!("/apply/{service}");
    if posted.add.is_some() || posted.remove.is_some() {
        let fields = form::edit_lists(posted.fields, posted.add.as_deref(), posted.remove.as_deref());
        return Ok(form_page(&visitor, compiled, action, &fields, BTreeMap::new(), false).into_response());
    }
    let fields = form::compact(compiled, posted.fields);
    let (value, local) = form::parse(compiled, &fields);
    let result = match local.is_empty() {
        true => state.usecases().create_application(&actor, &service, &value).await,
        false => Err(invalid_form(&state, &service, &value)),
    };
    match result {
        Ok(record) => Ok(Redirect::to(&format!("/applications/{}", record.id)).into_response()),
        Err(error) => {
            let errors = merge(local, error)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, form_page(&visitor, compiled, action, &fields, errors, false)).into_response())
        }
    }
}

/// The form's validation alone, for a page that found problems of its own first: every problem
/// is named at once, not the rest after the first are fixed.
fn invalid_form(state: &AppState, service: &str, value: &serde_json::Value) -> UseCaseError {
    match state.usecases().pipeline().check_form(service, value) {
        Err(error) => error.into(),
        Ok(_) => UseCaseError::Pipeline(crate::pipeline::PipelineError::InvalidForm(Vec::new())),
    }
}

async fn edit_page(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Result<Response, PageError> {
    let actor = applicant(&visitor, &format!("/applications/{id}/edit"))?.clone();
    let id = case_id(&id)?;
    let application = state.usecases().changeable(&actor, &id).await?;
    let rules = state.usecases().rules().clone();
    let compiled = rules.service(&application.service).ok_or(PageError::NotFound)?;
    let form_value = application.form_value()?;
    let posted = form::to_posted(compiled.form_schema(), &form_value);
    Ok(form_page(&visitor, compiled, format!("/applications/{id}/edit"), &posted, BTreeMap::new(), true).into_response())
}

async fn edit(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, PageError> {
    let actor = applicant(&visitor, &format!("/applications/{id}/edit"))?.clone();
    let id = case_id(&id)?;
    let posted = split(posted);
    visitor.check_csrf(&posted.csrf)?;
    let application = state.usecases().changeable(&actor, &id).await?;
    let rules = state.usecases().rules().clone();
    let compiled = rules.service(&application.service).ok_or(PageError::NotFound)?;
    let action = format!("/applications/{id}/edit");
    if posted.add.is_some() || posted.remove.is_some() {
        let fields = form::edit_lists(posted.fields, posted.add.as_deref(), posted.remove.as_deref());
        return Ok(form_page(&visitor, compiled, action, &fields, BTreeMap::new(), true).into_response());
    }
    let fields = form::compact(compiled, posted.fields);
    let (value, local) = form::parse(compiled, &fields);
    let result = match local.is_empty() {
        true => state.usecases().update_form(&actor, &id, &value).await,
        false => Err(invalid_form(&state, &application.service, &value)),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/applications/{id}/check")).into_response()),
        Err(error) => {
            let errors = merge(local, error)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, form_page(&visitor, compiled, action, &fields, errors, true)).into_response())
        }
    }
}

/// One line of the applicant's list.
struct MyRow {
    id: String,
    service: String,
    created: String,
    state: &'static str,
    tag: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "my.html")]
struct MyPage {
    nav: Nav,
    rows: Vec<MyRow>,
}

async fn my_applications(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let actor = applicant(&visitor, "/my")?.clone();
    let rules = state.usecases().rules().clone();
    let rows = state
        .usecases()
        .my_applications(&actor)
        .await?
        .into_iter()
        .map(|a| {
            let (state, tag) = case_view::state_label(a.state);
            let service = rules.service(&a.service).map_or_else(|| a.service.clone(), |s| s.info().name.clone());
            MyRow { id: a.id.to_string(), service, created: a.created_at.chars().take(10).collect(), state, tag }
        })
        .collect();
    Ok(MyPage { nav: Nav::of(&visitor), rows }.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "case.html")]
pub(super) struct CasePage {
    nav: Nav,
    id: String,
    service: String,
    state: &'static str,
    state_tag: &'static str,
    state_code: &'static str,
    open_for_documents: bool,
    draft: bool,
    pending: bool,
    just_submitted: bool,
    tasks: Vec<Task>,
    files: Vec<FileRow>,
    findings: Vec<(String, String)>,
    missing: Vec<String>,
    notice: Option<(String, Vec<String>)>,
    promised_due: String,
    legal_due: String,
    holder: String,
    permit: Option<(String, String, String)>,
    staff: bool,
    accept: &'static str,
    limits_hint: String,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
struct CaseQuery {
    submitted: Option<String>,
}

async fn case_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(query): Query<CaseQuery>,
) -> Result<Response, PageError> {
    let page = build_case_page(&state, &visitor, &id, Errors::default()).await?;
    // The confirmation stands while the case is being decided; once decided, the outcome leads.
    Ok(CasePage { just_submitted: query.submitted.is_some() && page.pending, ..page }.into_response())
}

pub(super) async fn build_case_page(state: &AppState, visitor: &Visitor, id: &str, errors: Errors) -> Result<CasePage, PageError> {
    let actor = visitor.require(&format!("/applications/{id}"))?.clone();
    let id = case_id(id)?;
    let usecases = state.usecases();
    let view = usecases.view(&actor, &id).await?;
    let application = &view.application;
    let rules = usecases.rules().clone();
    let kind_name = |kind: &str| rules.documents.kinds.get(kind).map_or_else(|| "未识别的材料".to_string(), |k| k.name.clone());
    let decision = case_view::latest_decision(&view);
    let needs = usecases.material_needs(&application.service, &view.form)?;
    let current_files = view.documents.iter().any(|d| d.withdrawn_at.is_none());
    // A decision's task list is shown while it stands; a new upload after it is not read yet.
    let decided = decision.as_ref().filter(|_| application.state != crate::domain::application::ApplicationState::Draft);
    let tasks = case_view::tasks(&needs, decided, current_files);
    let (state_text, state_tag) = case_view::state_label(application.state);
    let owner = actor.can_change_as_applicant(application.owner_id);
    let open = owner && application.state.add_document().is_ok();
    let (findings, missing) = match (&decision, application.state) {
        (
            Some(d),
            crate::domain::application::ApplicationState::NeedsMaterials | crate::domain::application::ApplicationState::NeedsReview,
        ) => (case_view::findings(d), d.missing_materials.iter().map(|m| kind_name(m)).collect()),
        _ => (Vec::new(), Vec::new()),
    };
    let holder = match (application.claimed_by, application.is_claimed(usecases.clock().now_ms())) {
        (Some(reviewer), true) => usecases.store().user_by_id(reviewer).await.ok().flatten().map(|u| u.name).unwrap_or_default(),
        _ => String::new(),
    };
    let permit = view.permit.as_ref().filter(|p| p.status != "revoked").map(|p| {
        let code = state.verification().code(&p.number);
        let link = format!("{}?code={}", crate::issuance::verify_url("", &p.number), form::url_encode(&code));
        (p.number.clone(), p.valid_to.clone(), link)
    });
    let limits = usecases.limits();
    Ok(CasePage {
        nav: Nav::of(visitor),
        id: id.to_string(),
        service: rules.service(&application.service).map_or_else(|| application.service.clone(), |s| s.info().name.clone()),
        state: state_text,
        state_tag,
        state_code: application.state.as_str(),
        open_for_documents: open,
        draft: application.state == crate::domain::application::ApplicationState::Draft,
        pending: application.state == crate::domain::application::ApplicationState::Submitted,
        just_submitted: false,
        files: case_view::files(&view, decision.as_ref(), kind_name),
        tasks,
        findings,
        missing,
        notice: case_view::person_notice(&view),
        promised_due: view.deadlines.as_ref().map(|d| d.promised_due.clone()).unwrap_or_default(),
        legal_due: view.deadlines.as_ref().map(|d| d.legal_due.clone()).unwrap_or_default(),
        holder,
        permit,
        staff: matches!(actor.role, Role::Reviewer | Role::Admin | Role::Auditor),
        accept: "image/*,application/pdf",
        limits_hint: format!(
            "可上传 PDF、JPG 或 PNG 文件，可一次选择多个；手机可直接拍照。每个文件不超过 {}，每件申请合计不超过 {}，最多 {} 个文件。",
            case_view::size_text(limits.max_file_bytes as i64),
            case_view::size_text(limits.max_application_bytes as i64),
            limits.max_files
        ),
        errors,
    })
}

/// The case's state as text, for the status page's live refresh.
async fn case_state(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Result<Response, PageError> {
    let actor = visitor.require(&format!("/applications/{id}"))?.clone();
    let id = case_id(&id)?;
    let application = state.usecases().readable(&actor, &id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], application.state.as_str())
        .into_response())
}

/// An API error as a page's: not found, a conflict (the case was submitted in another tab), else internal.
fn page_error(error: ApiError) -> PageError {
    match error {
        ApiError::NotFound(_) | ApiError::UnknownService(_) => PageError::NotFound,
        ApiError::Conflict(m) => PageError::Conflict(m),
        ApiError::Forbidden(m) => PageError::Forbidden(m),
        ApiError::Overloaded { message, .. } => PageError::TooMany(message),
        other => PageError::Internal(format!("{other:?}")),
    }
}

/// An upload refused, in the words the case page shows at the file input.
fn upload_problem(error: &ApiError, limits: crate::usecases::CaseLimits) -> Option<String> {
    Some(match error {
        ApiError::PayloadTooLarge(_) => format!(
            "文件过大或过多：每个文件不超过 {}，每件申请合计不超过 {}，最多 {} 个文件。本次上传的文件都没有保存。",
            case_view::size_text(limits.max_file_bytes as i64),
            case_view::size_text(limits.max_application_bytes as i64),
            limits.max_files
        ),
        ApiError::UnsupportedMediaType(message) if message.contains("empty") => {
            "所选文件是空文件，请重新选择。本次上传的文件都没有保存。".into()
        }
        ApiError::UnsupportedMediaType(_) => "只能上传 PDF、JPG 或 PNG 文件（按文件内容判断）。本次上传的文件都没有保存。".into(),
        ApiError::BadRequest(_) => "请选择要上传的文件。".into(),
        ApiError::Quota(_) => "您的账户已达到存储或申请数量上限，请联系服务中心。".into(),
        _ => return None,
    })
}

async fn upload(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let actor = applicant(&visitor, &format!("/applications/{id}"))?.clone();
    let case = case_id(&id)?;
    state.usecases().open_for_documents(&actor, &case).await?;
    let limits = state.usecases().limits();
    let files = match crate::http::applications::read_uploads(&mut multipart, limits, Some(&visitor.csrf)).await {
        Err(ApiError::Forbidden(_)) => return Err(PageError::Csrf),
        Err(error) => Err(error),
        Ok(files) if files.is_empty() => Err(ApiError::BadRequest("no file".into())),
        Ok(files) => state.usecases().add_documents(&actor, &case, files).await.map_err(ApiError::from),
    };
    match files {
        Ok(_) => Ok(Redirect::to(&format!("/applications/{id}#uploaded")).into_response()),
        Err(error) => {
            let Some(message) = upload_problem(&error, limits) else { return Err(page_error(error)) };
            let status = error.status_code();
            let page = build_case_page(&state, &visitor, &id, Errors(vec![ErrorItem { id: "files".into(), message }])).await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn withdraw(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, document)): Path<(String, i64)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let actor = applicant(&visitor, &format!("/applications/{id}"))?.clone();
    visitor.check_csrf(&form.csrf)?;
    state.usecases().withdraw_document(&actor, &case_id(&id)?, document).await?;
    Ok(Redirect::to(&format!("/applications/{id}#uploaded")).into_response())
}

/// A stored file, shown in the browser (PDFs in its viewer, images inline), never run as a page.
async fn document_file(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, document)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let actor = visitor.require(&format!("/applications/{id}"))?.clone();
    let (record, bytes) = state.usecases().document_file(&actor, &case_id(&id)?, document).await?;
    let content_type = match record.format.as_str() {
        "pdf" => "application/pdf",
        "jpeg" => "image/jpeg",
        "png" => "image/png",
        _ => "application/octet-stream",
    };
    let disposition = format!("inline; filename*=UTF-8''{}", form::url_encode(&record.file_name).replace('/', "%2F"));
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::CACHE_CONTROL, "private, no-store".into()),
        ],
        bytes,
    )
        .into_response();
    // The type was judged by content at upload, so a file is only ever a PDF or an image here. An
    // image is also sandboxed; a PDF is not, because a sandboxed PDF does not open in the
    // browser's viewer at all (its viewer runs no page script).
    if record.format != "pdf" {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static("sandbox; default-src 'none'"));
    }
    Ok(response)
}

#[derive(Template, WebTemplate)]
#[template(path = "check.html")]
struct CheckPage {
    nav: Nav,
    id: String,
    service: String,
    answers: Vec<Answer>,
    files: Vec<FileRow>,
    can_edit_form: bool,
    idempotency_key: String,
    resubmission: bool,
}

async fn check_page(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Result<Response, PageError> {
    let actor = applicant(&visitor, &format!("/applications/{id}/check"))?.clone();
    let case = case_id(&id)?;
    let application = state.usecases().changeable(&actor, &case).await?;
    application.state.add_document().map_err(|e| PageError::Conflict(format!("这件申请现在不能提交：{e}")))?;
    let view = state.usecases().view(&actor, &case).await?;
    let rules = state.usecases().rules().clone();
    let compiled = rules.service(&application.service).ok_or(PageError::NotFound)?;
    let files: Vec<FileRow> = case_view::files(&view, None, |_| String::new()).into_iter().filter(|f| !f.withdrawn).collect();
    Ok(CheckPage {
        nav: Nav::of(&visitor),
        id: id.clone(),
        service: compiled.info().name.clone(),
        answers: form::answers(compiled, &view.form),
        files,
        can_edit_form: application.state == crate::domain::application::ApplicationState::Draft,
        // The page's own key: submitting this page twice (a double click, a resend) is one submission.
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        resubmission: application.submissions > 0,
    }
    .into_response())
}

#[derive(Deserialize)]
struct SubmitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
}

async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<SubmitForm>,
) -> Result<Response, PageError> {
    let actor = applicant(&visitor, &format!("/applications/{id}/check"))?.clone();
    visitor.check_csrf(&form.csrf)?;
    let key = form.idempotency_key.trim();
    if key.is_empty() || key.len() > 128 {
        return Err(PageError::BadRequest("提交表单不完整，请返回检查页面重新提交。".into()));
    }
    state.usecases().submit(&actor, &case_id(&id)?, &format!("page:{key}")).await?;
    Ok(Redirect::to(&format!("/applications/{id}?submitted=1")).into_response())
}

async fn certificate(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Result<Response, PageError> {
    let actor = visitor.require(&format!("/applications/{id}"))?.clone();
    let case = case_id(&id)?;
    match crate::http::permits::certificate_pdf(&state, &actor, &case).await {
        Ok(pdf) => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"permit-{id}.pdf\"")),
            ],
            pdf,
        )
            .into_response()),
        Err(ApiError::Gone(message)) => Err(PageError::Conflict(message)),
        Err(other) => Err(page_error(other)),
    }
}
