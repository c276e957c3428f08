//! Permits: the certificate PDF of an issued application, and public verification of a number
//! (JSON and the page a certificate's QR code opens), without personal data.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use crate::app::AppState;
use crate::storage::PermitRecord;

/// Routes under `/api/v1`.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/applications/{id}/certificate", get(get_certificate))
        .route("/permits/{number}/verify", get(verify_permit))
        .route("/permits/{number}/revoke", axum::routing::post(revoke_permit))
}

/// The public page, outside the API.
pub fn page_router() -> Router<AppState> {
    Router::new().route("/verify/{number}", get(verify_page))
}

async fn get_certificate(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    match state.store().application(&id).await? {
        Some(application) if caller.can_read(&application) => {}
        _ => return Err(ApiError::NotFound(format!("application {id} not found"))),
    }
    let permit =
        state.store().permit_for(&id).await?.ok_or_else(|| ApiError::NotFound("no permit has been issued for this application".into()))?;
    // Rendered from what was fixed when the permit was issued, never from today's rule tables.
    let data = crate::issuance::certificate_data(&permit, state.public_url());
    let state_for_render = state.clone();
    let pdf = tokio::task::spawn_blocking(move || crate::issuance::certificate::render(state_for_render.certificate_font(), &data))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Revocation {
    reason: String,
}

/// A person revokes a permit (obtained by deception, conditions no longer met …) with a reason; the
/// public verification shows it at once. Only reviewers and admins; never the machine.
async fn revoke_permit(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    super::error::AppJson(body): super::error::AppJson<Revocation>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[crate::domain::user::Role::Reviewer, crate::domain::user::Role::Admin])?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest("a revocation states its reason".into()));
    }
    let permit = state.store().permit(&number).await?.ok_or_else(|| ApiError::NotFound("no permit with this number".into()))?;
    if !state.store().revoke_permit(&permit.number, body.reason.trim(), &caller.actor()).await? {
        return Err(ApiError::Conflict(format!("the permit is {} already", permit.status)));
    }
    Ok(Json(json!({"number": permit.number, "status": "revoked"})))
}

/// Valid, expired or revoked, as of the service's today.
fn status(state: &AppState, permit: &PermitRecord) -> &'static str {
    let today = state.clock().today().format("%Y-%m-%d").to_string();
    if permit.status == "revoked" {
        "revoked"
    } else if permit.valid_to < today {
        "expired"
    } else {
        "valid"
    }
}

async fn verify_permit(State(state): State<AppState>, Path(number): Path<String>) -> Result<Json<Value>, ApiError> {
    let permit = state.store().permit(&number).await?.ok_or_else(|| ApiError::NotFound("no permit with this number".into()))?;
    let service_name = state.decider().rules().service(&permit.service).map(|s| s.info().name.clone()).unwrap_or(permit.service.clone());
    Ok(Json(json!({
        "number": permit.number,
        "service": service_name,
        "status": status(&state, &permit),
        "valid_from": permit.valid_from,
        "valid_to": permit.valid_to,
    })))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn verify_page(State(state): State<AppState>, Path(number): Path<String>) -> Result<Html<String>, ApiError> {
    let permit = state.store().permit(&number).await?;
    let body = match permit {
        None => format!("<p class=\"bad\">未查到许可证编号“{}”。请核对编号，或联系发证机关。</p>", escape_html(&number)),
        Some(permit) => {
            let (label, class) = match status(&state, &permit) {
                "valid" => ("有效", "good"),
                "expired" => ("已过期", "bad"),
                _ => ("已撤销", "bad"),
            };
            let service_name =
                state.decider().rules().service(&permit.service).map(|s| s.info().name.clone()).unwrap_or(permit.service.clone());
            format!(
                "<p>许可证编号：{}</p><p>许可事项：{}</p><p>状态：<strong class=\"{class}\">{label}</strong></p><p>有效期限：{} 至 {}</p>",
                escape_html(&permit.number),
                escape_html(&service_name),
                escape_html(&permit.valid_from),
                escape_html(&permit.valid_to)
            )
        }
    };
    Ok(Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>许可证核验</title><style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}}\
         .good{{color:#106b21}}.bad{{color:#a0161b}}</style></head><body><h1>许可证核验</h1>{body}</body></html>"
    )))
}
