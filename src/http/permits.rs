//! Permits: the certificate PDF of an issued application, and public verification of a number
//! (JSON and the page a certificate's QR code opens), without personal data.

use axum::extract::{Path, State};
use axum::http::header;
use axum::http::StatusCode;
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
    let pdf = certificate_pdf(&state, &caller, &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf))
}

/// The certificate PDF of an issued application the caller may see (the API's and the pages').
pub async fn certificate_pdf(
    state: &AppState,
    caller: &Caller,
    id: &crate::domain::application::ApplicationId,
) -> Result<Vec<u8>, ApiError> {
    let permit = state.usecases().permit_of(caller, id).await?;
    if permit.status == "revoked" {
        // A revoked permit's certificate is no longer served: a copy printed now would be taken
        // for a valid one. The verification page says it was revoked.
        return Err(ApiError::Gone(format!("许可证{}已撤销，证书不再提供；撤销情况可在核验页面查询", permit.number)));
    }
    // Rendered from what was fixed when the permit was issued, never from today's rule tables.
    let code = state.verification().code(&permit.number);
    let log_index = state.usecases().permit_log_index(&permit).await?;
    let data = crate::issuance::certificate_data(&permit, state.public_url(), &code, log_index);
    let state_for_render = state.clone();
    tokio::task::spawn_blocking(move || crate::issuance::certificate::render(state_for_render.certificate_font(), &data))
        .await
        .map_err(|e| ApiError::Internal(format!("rendering the certificate panicked: {e}")))?
        .map_err(|e| ApiError::Internal(format!("rendering the certificate: {e}")))
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

#[derive(Debug, serde::Deserialize)]
struct CodeQuery {
    /// The verification code printed on the certificate (the QR code's address carries it).
    code: Option<String>,
    /// The permit's audit log index, as the QR code's address carries it.
    log: Option<u64>,
}

/// A permit's issue in the audit log, as JSON: hashes only, in base64.
fn log_json(proof: &crate::usecases::audit::LogProof) -> Value {
    use base64::Engine as _;
    let b64 = |h: &crate::audit::merkle::Hash| base64::engine::general_purpose::STANDARD.encode(h);
    json!({
        "index": proof.index,
        "leaf_hash": b64(&proof.leaf_hash),
        "tree_size": proof.tree_size,
        "checkpoint": proof.checkpoint,
        "inclusion": proof.hashes.iter().map(b64).collect::<Vec<_>>(),
    })
}

/// A holder as the public may see it: a business by its name, a person (a name of two to four
/// characters) masked.
fn public_holder(holder: &str) -> String {
    if holder.chars().count() <= 4 {
        crate::domain::pii::mask_person_name(holder)
    } else {
        holder.to_string()
    }
}

/// Public verification. With the certificate's code, whether it matches (`code_valid`) and, when
/// it does, the holder; without one, the permit's standing alone (`code_valid: null`).
async fn verify_permit(
    State(state): State<AppState>,
    Path(number): Path<String>,
    axum::extract::Query(query): axum::extract::Query<CodeQuery>,
) -> Result<Json<Value>, ApiError> {
    let verified = state.usecases().verify_permit(&number).await?.ok_or_else(|| ApiError::NotFound("no permit with this number".into()))?;
    let code_valid = query.code.as_deref().map(|code| state.verification().check(&verified.permit.number, code));
    let mut body = json!({
        "number": verified.permit.number,
        "service": verified.service_name,
        "status": verified.status.as_str(),
        "valid_from": verified.permit.valid_from,
        "valid_to": verified.permit.valid_to,
        "code_valid": code_valid,
    });
    if code_valid == Some(true) {
        body["holder"] = json!(public_holder(&verified.permit.holder));
    }
    // The permit's standing is answered even when its proof cannot be made now.
    let proof = state.usecases().permit_log_proof(&verified.permit, state.signer()).await.unwrap_or_else(|error| {
        tracing::error!(%error, number = %verified.permit.number, "no log proof for a permit");
        None
    });
    body["log"] = proof.as_ref().map(log_json).unwrap_or(Value::Null);
    body["log_matches"] = json!(query.log.map(|asked| proof.as_ref().map(|p| p.index) == Some(asked)));
    Ok(Json(body))
}

/// The verification page's account of the permit's issue in the audit log: its index, and its
/// inclusion proof against the latest signed checkpoint (checked before it is shown).
async fn log_section(state: &AppState, verified: &crate::usecases::permits::Verification, asked: Option<u64>) -> Result<String, ApiError> {
    let proof = match state.usecases().permit_log_proof(&verified.permit, state.signer()).await {
        Ok(Some(proof)) => proof,
        Ok(None) => return Ok("<p class=\"bad\">审计日志中未找到本证的发证记录，请联系发证机关。</p>".into()),
        Err(error) => {
            tracing::error!(%error, number = %verified.permit.number, "no log proof for a permit");
            return Ok("<p>审计日志的包含证明暂时无法生成，请稍后再试；上面的核验结果不受影响。</p>".into());
        }
    };
    let mismatch = match asked {
        Some(index) if index != proof.index => "<p class=\"bad\"><strong>证书上的日志序号与记录不符</strong>，请联系发证机关。</p>",
        _ => "",
    };
    let json = serde_json::to_string_pretty(&log_json(&proof)).unwrap_or_default();
    Ok(format!(
        "{mismatch}<p>审计日志：本证的发证记录是日志第 {} 条（从 0 数起），已包含在发证机关签名的日志检查点（共 {} 条）中，包含证明已核对。</p>\
         <details><summary>检查点与包含证明（供审计核对）</summary><pre>{}</pre></details>",
        proof.index,
        proof.tree_size,
        escape_html(&json)
    ))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn verify_page(
    State(state): State<AppState>,
    Path(number): Path<String>,
    axum::extract::Query(query): axum::extract::Query<CodeQuery>,
) -> Result<(StatusCode, Html<String>), ApiError> {
    let code = query.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let (status, body) = match state.usecases().verify_permit(&number).await? {
        // An unknown number is not found (404), with a page that says so.
        None => (StatusCode::NOT_FOUND, format!("<p class=\"bad\">未查到许可证编号“{}”。请核对编号，或联系发证机关。</p>", escape_html(&number))),
        Some(verified) => match code {
            // The number alone proves nothing: numbers run in sequence. Ask for the code.
            None => (
                StatusCode::OK,
                format!(
                    "<p>许可证编号：{}</p><form method=\"get\"><label for=\"code\">请输入证书上的核验码</label> \
                     <input id=\"code\" name=\"code\" autocomplete=\"off\" required> <button type=\"submit\">核验</button></form>",
                    escape_html(&verified.permit.number)
                ),
            ),
            Some(code) if !state.verification().check(&verified.permit.number, code) => (
                StatusCode::OK,
                format!(
                    "<p>许可证编号：{}</p><p class=\"bad\"><strong>核验码不符</strong>：此证书与发证记录不一致，可能是伪造或篡改的证书。请联系发证机关。</p>",
                    escape_html(&verified.permit.number)
                ),
            ),
            Some(_) => {
                let (label, class) = match verified.status {
                    PermitStatus::Valid => ("有效", "good"),
                    PermitStatus::Expired => ("已过期", "bad"),
                    PermitStatus::Revoked => ("已撤销", "bad"),
                };
                let mut page = format!(
                    "<p>许可证编号：{}</p><p>持证单位（人）：{}</p><p>许可事项：{}</p><p>状态：<strong class=\"{class}\">{label}</strong></p><p>有效期限：{} 至 {}</p>",
                    escape_html(&verified.permit.number),
                    escape_html(&public_holder(&verified.permit.holder)),
                    escape_html(&verified.service_name),
                    escape_html(&verified.permit.valid_from),
                    escape_html(&verified.permit.valid_to)
                );
                page.push_str(&log_section(&state, &verified, query.log).await?);
                (StatusCode::OK, page)
            }
        },
    };
    Ok((
        status,
        Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>许可证核验</title><style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}}\
         .good{{color:#106b21}}.bad{{color:#a0161b}}</style></head><body><h1>许可证核验</h1>{body}</body></html>"
        )),
    ))
}
