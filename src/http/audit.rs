//! `/api/v1/audit/…`: the audit log's signed checkpoints, its verifier key and its Merkle proofs
//! (RFC 6962), public: they carry hashes only, no entry and no personal data.

use axum::extract::{Query, State};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::audit::merkle::Hash;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkpoint))
        .routes(routes!(key))
        .routes(routes!(entries))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
}

const TEXT: [(axum::http::HeaderName, &str); 1] = [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")];

/// The latest signed checkpoint (C2SP tlog-checkpoint, signed note).
#[utoipa::path(
    get,
    path = "/audit/checkpoint",
    tag = "audit",
    security(),
    summary = "Public: the latest signed checkpoint of the audit log's Merkle tree",
    description = "C2SP tlog-checkpoint as an Ed25519 signed note, text/plain",
    responses(
        (status = 200, description = "origin, tree size, base64 root, blank line, signature line", body = String, content_type = "text/plain; charset=utf-8"),
    )
)]
async fn checkpoint(State(state): State<AppState>) -> Result<impl axum::response::IntoResponse, ApiError> {
    Ok((TEXT, state.usecases().checkpoint(state.signer()).await?))
}

/// The verifier key of the checkpoints' signatures (note vkey format).
#[utoipa::path(
    get,
    path = "/audit/key",
    tag = "audit",
    security(),
    summary = "Public: the verifier key of the checkpoints",
    description = "note vkey format: name+keyid+base64(0x01 || key), text/plain",
    responses((status = 200, description = "the verifier key", body = String, content_type = "text/plain; charset=utf-8"))
)]
async fn key(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (TEXT, format!("{}\n", state.signer().verifier_key()))
}

fn encoded(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| base64::engine::general_purpose::STANDARD.encode(h)).collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RangeQuery {
    /// The first leaf index (0-based).
    start: u64,
    /// The leaf index after the last (at most 1000 more than `start`).
    end: u64,
}

#[derive(Debug, Serialize, ToSchema)]
struct Entries {
    entries: Vec<Entry>,
}

/// An audit entry by its leaf: the leaf's exact bytes beside what they say.
#[derive(Debug, Serialize, ToSchema)]
struct Entry {
    index: u64,
    /// The leaf's bytes, base64.
    data: String,
    kind: String,
    application_id: Option<String>,
    at: String,
}

/// Entries by leaf index, for auditors and admins: each leaf's exact bytes (base64) beside what
/// they say, so that a verifier recomputes the leaf hashes itself.
#[utoipa::path(
    get,
    path = "/audit/entries",
    tag = "audit",
    summary = "Auditors and admins: audit entries of leaves start..end",
    description = "Audit entries of leaves start..end (at most 1000), each with its leaf bytes (base64), kind, application and time",
    params(RangeQuery),
    responses(
        (status = 200, description = "the entries", body = Entries),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
async fn entries(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Entries>, ApiError> {
    let entries = state.usecases().audit_entries_range(&caller, q.start, q.end).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let entries = entries
        .into_iter()
        .map(|e| Entry {
            index: e.leaf_index(),
            data: b64.encode(e.leaf_bytes()),
            kind: e.kind,
            application_id: e.application_id,
            at: e.at,
        })
        .collect();
    Ok(Json(Entries { entries }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InclusionQuery {
    /// The entry's leaf index (0-based: entry seq − 1).
    index: u64,
    /// The size of the tree the proof is against.
    #[param(minimum = 1)]
    tree_size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
struct InclusionProof {
    index: u64,
    tree_size: u64,
    /// The proof's hashes, base64, leaf first.
    hashes: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/audit/proof/inclusion",
    tag = "audit",
    security(),
    summary = "Public: the RFC 6962 inclusion proof of an audit entry",
    description = "The RFC 6962 inclusion proof of audit entry `index` (0-based: entry seq − 1) in the log's Merkle tree of `tree_size` entries; hashes base64, leaf first",
    params(InclusionQuery),
    responses(
        (status = 200, description = "the proof", body = InclusionProof),
        (status = 400, response = ErrorBody),
    )
)]
async fn inclusion(State(state): State<AppState>, Query(q): Query<InclusionQuery>) -> Result<Json<InclusionProof>, ApiError> {
    let hashes = state.usecases().inclusion_proof(q.index, q.tree_size).await?;
    Ok(Json(InclusionProof { index: q.index, tree_size: q.tree_size, hashes: encoded(&hashes) }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    /// The size of the older tree.
    first: u64,
    /// The size of the newer tree.
    second: u64,
}

#[derive(Debug, Serialize, ToSchema)]
struct ConsistencyProof {
    first: u64,
    second: u64,
    /// The proof's hashes, base64.
    hashes: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/audit/proof/consistency",
    tag = "audit",
    security(),
    summary = "Public: the RFC 6962 consistency proof between two trees of the log",
    description = "The RFC 6962 consistency proof between the log's trees of `first` and `second` entries; hashes base64",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "the proof", body = ConsistencyProof),
        (status = 400, response = ErrorBody),
    )
)]
async fn consistency(State(state): State<AppState>, Query(q): Query<ConsistencyQuery>) -> Result<Json<ConsistencyProof>, ApiError> {
    let hashes = state.usecases().consistency_proof(q.first, q.second).await?;
    Ok(Json(ConsistencyProof { first: q.first, second: q.second, hashes: encoded(&hashes) }))
}
