//! The auditor's pages: the log by time (paged) or by application, `audit verify` from the page
//! with its result, the replay of one application with any difference shown, and the export.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::page::{Nav, PageError};
use super::session::Visitor;
use crate::domain::application::ApplicationId;
use crate::http::AppState;

/// Entries a page of the log shows.
const PAGE_SIZE: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(log))
        .route("/audit/verify", post(verify))
        .route("/audit/replay", post(replay))
        .route("/audit/export", get(export))
}

struct EntryRow {
    seq: i64,
    at: String,
    actor: String,
    kind: String,
    application: String,
    payload: String,
    hash: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct LogPage {
    nav: Nav,
    rows: Vec<EntryRow>,
    application: String,
    older: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    application: Option<String>,
    before: Option<i64>,
}

async fn log(State(state): State<AppState>, visitor: Visitor, Query(query): Query<LogQuery>) -> Result<Response, PageError> {
    let actor = visitor.require("/audit")?.clone();
    let application = query.application.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let id = match application {
        Some(text) => Some(ApplicationId::parse(text).ok_or(PageError::NotFound)?),
        None => None,
    };
    let entries = state.usecases().audit_log(&actor, id.as_ref(), query.before, PAGE_SIZE).await?;
    let older = (id.is_none() && entries.len() as i64 == PAGE_SIZE).then(|| entries.last().map(|e| e.seq)).flatten();
    let rows = entries
        .into_iter()
        .map(|e| EntryRow {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            kind: e.kind,
            application: e.application_id.unwrap_or_default(),
            payload: e.payload,
            hash: e.hash.chars().take(16).collect(),
        })
        .collect();
    Ok(LogPage { nav: Nav::of(&visitor), rows, application: application.unwrap_or_default().to_string(), older }.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "audit_result.html")]
struct ResultPage {
    nav: Nav,
    title: String,
    good: bool,
    lines: Vec<String>,
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    application: String,
}

async fn verify(State(state): State<AppState>, visitor: Visitor, Form(form): Form<CsrfForm>) -> Result<Response, PageError> {
    let actor = visitor.require("/audit")?.clone();
    visitor.check_csrf(&form.csrf)?;
    let verified = state.usecases().verify_log(&actor).await?;
    let page = match verified.result {
        Ok(n) => ResultPage {
            nav: Nav::of(&visitor),
            title: "审计日志校验通过".into(),
            good: true,
            lines: vec![format!("已校验 {n} 条记录，哈希链完整。"), format!("链头哈希：{}", verified.head)],
        },
        Err(error) => ResultPage {
            nav: Nav::of(&visitor),
            title: "审计日志校验未通过".into(),
            good: false,
            lines: vec![format!("发现问题：{error}"), "请立即报告安全负责人，并保留数据库现状以备调查。".into()],
        },
    };
    Ok(page.into_response())
}

async fn replay(State(state): State<AppState>, visitor: Visitor, Form(form): Form<CsrfForm>) -> Result<Response, PageError> {
    let actor = visitor.require("/audit")?.clone();
    visitor.check_csrf(&form.csrf)?;
    let id = ApplicationId::parse(form.application.trim()).ok_or(PageError::NotFound)?;
    let reports = state.usecases().replay_application(&actor, state.replay_kit(), &id).await?;
    let all = reports.iter().all(|r| r.reproduced);
    let mut lines = Vec::new();
    for report in &reports {
        if report.reproduced {
            lines.push(format!("第{}次提交：逐字节重现（sha256 {}）", report.submission, report.recorded_sha256));
        } else {
            lines.push(format!(
                "第{}次提交：未能重现。记录的 sha256 {}，重放的 sha256 {}；第一处不同在 `{}`",
                report.submission,
                report.recorded_sha256,
                report.replayed_sha256,
                report.first_difference.as_deref().unwrap_or("?")
            ));
            if let Some((recorded, replayed)) = &report.difference {
                lines.push(format!("记录的值：{}", truncate(recorded)));
                lines.push(format!("重放的值：{}", truncate(replayed)));
            }
        }
    }
    let title = if all { format!("申请 {id} 的决定全部重现") } else { format!("申请 {id} 有决定未能重现") };
    Ok(ResultPage { nav: Nav::of(&visitor), title, good: all, lines }.into_response())
}

fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(2000).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The whole log as JSON lines, oldest first: what `audit verify` walks, for checking elsewhere.
async fn export(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let actor = visitor.require("/audit")?.clone();
    let entries = state.usecases().export_log(&actor).await?;
    let mut body = String::new();
    for entry in &entries {
        body.push_str(&serde_json::to_string(entry).map_err(|e| PageError::Internal(e.to_string()))?);
        body.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"onewindow-audit-log.jsonl\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}
