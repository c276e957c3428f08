//! Permits: the certificate PDF of an issued application, and public verification of a number
//! (JSON and the page a certificate's QR code opens), without personal data.

use axum::extract::{Path, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::error::{ApiError, AppJson, ErrorBody};
use super::AppState;
use crate::usecases::permits::PermitStatus;

/// Routes under `/api/v1`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_certificate)).routes(routes!(verify_permit)).routes(routes!(revoke_permit))
}

/// The public page, outside the API (in the document all the same).
pub fn page_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_page))
}

#[utoipa::path(
    get,
    path = "/applications/{id}/certificate",
    tag = "permits",
    summary = "The permit certificate (PDF) of an issued application",
    params(("id" = String, Path, description = "the application's id")),
    responses(
        (status = 200, description = "PDF", content_type = "application/pdf"),
        (status = 401, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 410, response = ErrorBody),
    )
)]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Revocation {
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct Revoked {
    number: String,
    #[schema(value_type = PermitStatus)]
    status: &'static str,
}

/// A person revokes a permit with a reason; the public verification shows it at once.
#[utoipa::path(
    post,
    path = "/permits/{number}/revoke",
    tag = "permits",
    summary = "Revoke a valid permit with a reason (reviewers, admins)",
    params(("number" = String, Path, description = "the permit's number")),
    request_body = Revocation,
    responses(
        (status = 200, description = "revoked", body = Revoked),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
async fn revoke_permit(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    AppJson(body): AppJson<Revocation>,
) -> Result<Json<Revoked>, ApiError> {
    let permit = state.usecases().revoke_permit(&caller, &number, &body.reason).await?;
    Ok(Json(Revoked { number: permit.number, status: PermitStatus::Revoked.as_str() }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CodeQuery {
    /// The verification code printed on the certificate (the QR code's address carries it).
    code: Option<String>,
    /// The permit's audit log index, as the QR code's address carries it.
    log: Option<u64>,
}

/// A permit's issue in the audit log: hashes only, in base64.
#[derive(Debug, Serialize, ToSchema)]
struct PermitLog {
    /// The leaf index in the audit log.
    index: u64,
    leaf_hash: String,
    tree_size: u64,
    /// The latest signed checkpoint the proof is against.
    checkpoint: String,
    /// The RFC 6962 inclusion proof, leaf first.
    inclusion: Vec<String>,
}

impl From<&crate::usecases::audit::LogProof> for PermitLog {
    fn from(proof: &crate::usecases::audit::LogProof) -> Self {
        use base64::Engine as _;
        let b64 = |h: &crate::audit::merkle::Hash| base64::engine::general_purpose::STANDARD.encode(h);
        Self {
            index: proof.index,
            leaf_hash: b64(&proof.leaf_hash),
            tree_size: proof.tree_size,
            checkpoint: proof.checkpoint.clone(),
            inclusion: proof.hashes.iter().map(b64).collect(),
        }
    }
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

/// What anyone may learn of a permit number.
#[derive(Debug, Serialize, ToSchema)]
struct PermitVerification {
    number: String,
    /// The service's name.
    service: String,
    #[schema(value_type = PermitStatus)]
    status: &'static str,
    valid_from: String,
    valid_to: String,
    /// Whether the code asked with matches the certificate's; null when none was asked.
    code_valid: Option<bool>,
    /// The holder (a person's name masked); only when the code matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<String>,
    /// The permit issue's entry in the audit log; null when no proof can be made now.
    log: Option<PermitLog>,
    /// With `log` asked: whether it is the entry; else null.
    log_matches: Option<bool>,
}

/// Public verification. With the certificate's code, whether it matches (`code_valid`) and, when
/// it does, the holder; without one, the permit's standing alone (`code_valid: null`).
#[utoipa::path(
    get,
    path = "/permits/{number}/verify",
    tag = "permits",
    security(),
    summary = "Public: whether a permit number is valid, expired or revoked, without personal data",
    description = "With code, whether the certificate's code matches (and then the holder); log: the permit issue's audit log index, leaf hash and RFC 6962 inclusion proof (base64) against the latest signed checkpoint; with log (the QR code carries it), log_matches says whether it is that entry",
    params(("number" = String, Path, description = "the permit's number"), CodeQuery),
    responses(
        (status = 200, description = "status", body = PermitVerification),
        (status = 404, response = ErrorBody),
    )
)]
async fn verify_permit(
    State(state): State<AppState>,
    Path(number): Path<String>,
    axum::extract::Query(query): axum::extract::Query<CodeQuery>,
) -> Result<Json<PermitVerification>, ApiError> {
    let verified = state.usecases().verify_permit(&number).await?.ok_or_else(|| ApiError::NotFound("no permit with this number".into()))?;
    let code_valid = query.code.as_deref().map(|code| state.verification().check(&verified.permit.number, code));
    // The permit's standing is answered even when its proof cannot be made now.
    let proof = state.usecases().permit_log_proof(&verified.permit, state.signer()).await.unwrap_or_else(|error| {
        tracing::error!(%error, number = %verified.permit.number, "no log proof for a permit");
        None
    });
    let holder = (code_valid == Some(true)).then(|| public_holder(&verified.permit.holder));
    let permit = verified.permit;
    Ok(Json(PermitVerification {
        number: permit.number,
        service: verified.service_name,
        status: verified.status.as_str(),
        valid_from: permit.valid_from,
        valid_to: permit.valid_to,
        code_valid,
        holder,
        log: proof.as_ref().map(PermitLog::from),
        log_matches: query.log.map(|asked| proof.as_ref().map(|p| p.index) == Some(asked)),
    }))
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
    let json = serde_json::to_string_pretty(&PermitLog::from(&proof)).unwrap_or_default();
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

#[utoipa::path(
    get,
    path = "/verify/{number}",
    tag = "permits",
    security(),
    summary = "Public verification page (HTML) that a certificate's QR code opens",
    params(("number" = String, Path, description = "the permit's number"), CodeQuery),
    responses(
        (status = 200, description = "HTML page", content_type = "text/html; charset=utf-8"),
        (status = 404, description = "HTML page: no permit with this number", content_type = "text/html; charset=utf-8"),
    )
)]
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
