//! Permits: the certificate PDF of an issued application, and public verification of a number
//! (JSON and the page a certificate's QR code opens), without personal data.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, AppJson};
use super::AppState;
use crate::usecases::permits::PermitStatus;

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
    let id = super::application_id(&id)?;
    let permit = state.usecases().permit_of(&caller, &id).await?;
    // Rendered from what was fixed when the permit was issued, never from today's rule tables.
    let data = crate::issuance::certificate_data(&permit, state.public_url());
    let state_for_render = state.clone();
    let pdf = tokio::task::spawn_blocking(move || crate::issuance::certificate::render(state_for_render.certificate_font(), &data))
        .await
        .map_err(|e| ApiError::Internal(format!("rendering the certificate panicked: {e}")))?
        .map_err(|e| ApiError::Internal(format!("rendering the certificate: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Revocation {
    reason: String,
}

/// A person revokes a permit with a reason; the public verification shows it at once.
async fn revoke_permit(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    AppJson(body): AppJson<Revocation>,
) -> Result<Json<Value>, ApiError> {
    let permit = state.usecases().revoke_permit(&caller, &number, &body.reason).await?;
    Ok(Json(json!({"number": permit.number, "status": "revoked"})))
}

async fn verify_permit(State(state): State<AppState>, Path(number): Path<String>) -> Result<Json<Value>, ApiError> {
    let verified = state.usecases().verify_permit(&number).await?.ok_or_else(|| ApiError::NotFound("no permit with this number".into()))?;
    Ok(Json(json!({
        "number": verified.permit.number,
        "service": verified.service_name,
        "status": verified.status.as_str(),
        "valid_from": verified.permit.valid_from,
        "valid_to": verified.permit.valid_to,
    })))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn verify_page(State(state): State<AppState>, Path(number): Path<String>) -> Result<Html<String>, ApiError> {
    let body = match state.usecases().verify_permit(&number).await? {
        None => format!("<p class=\"bad\">未查到许可证编号“{}”。请核对编号，或联系发证机关。</p>", escape_html(&number)),
        Some(verified) => {
            let (label, class) = match verified.status {
                PermitStatus::Valid => ("有效", "good"),
                PermitStatus::Expired => ("已过期", "bad"),
                PermitStatus::Revoked => ("已撤销", "bad"),
            };
            format!(
                "<p>许可证编号：{}</p><p>许可事项：{}</p><p>状态：<strong class=\"{class}\">{label}</strong></p><p>有效期限：{} 至 {}</p>",
                escape_html(&verified.permit.number),
                escape_html(&verified.service_name),
                escape_html(&verified.permit.valid_from),
                escape_html(&verified.permit.valid_to)
            )
        }
    };
    Ok(Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>许可证核验</title><style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}}\
         .good{{color:#106b21}}.bad{{color:#a0161b}}</style></head><body><h1>许可证核验</h1>{body}</body></html>"
    )))
}
