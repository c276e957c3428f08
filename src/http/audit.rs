//! `/api/v1/audit/…`: the audit log's signed checkpoints, its verifier key and its Merkle proofs
//! (RFC 6962), public: they carry hashes only, no entry and no personal data.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::audit::merkle::Hash;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit/checkpoint", get(checkpoint))
        .route("/audit/key", get(key))
        .route("/audit/entries", get(entries))
        .route("/audit/proof/inclusion", get(inclusion))
        .route("/audit/proof/consistency", get(consistency))
}

const TEXT: [(axum::http::HeaderName, &str); 1] = [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")];

/// The latest signed checkpoint (C2SP tlog-checkpoint, signed note).
async fn checkpoint(State(state): State<AppState>) -> Result<impl axum::response::IntoResponse, ApiError> {
    Ok((TEXT, state.usecases().checkpoint(state.signer()).await?))
}

/// The verifier key of the checkpoints' signatures (note vkey format).
async fn key(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (TEXT, format!("{}\n", state.signer().verifier_key()))
}

fn encoded(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| base64::engine::general_purpose::STANDARD.encode(h)).collect()
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    start: u64,
    end: u64,
}

/// Entries by leaf index, for auditors and admins: each leaf's exact bytes (base64) beside what
/// they say, so that a verifier recomputes the leaf hashes itself.
async fn entries(State(state): State<AppState>, caller: super::auth::Caller, Query(q): Query<RangeQuery>) -> Result<Json<Value>, ApiError> {
    let entries = state.usecases().audit_entries_range(&caller, q.start, q.end).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<Value> = entries
        .iter()
        .map(|e| json!({"index": e.leaf_index(), "data": b64.encode(e.leaf_bytes()), "kind": e.kind, "application_id": e.application_id, "at": e.at}))
        .collect();
    Ok(Json(json!({"entries": items})))
}

#[derive(Debug, Deserialize)]
struct InclusionQuery {
    index: u64,
    tree_size: u64,
}

async fn inclusion(State(state): State<AppState>, Query(q): Query<InclusionQuery>) -> Result<Json<Value>, ApiError> {
    let hashes = state.usecases().inclusion_proof(q.index, q.tree_size).await?;
    Ok(Json(json!({"index": q.index, "tree_size": q.tree_size, "hashes": encoded(&hashes)})))
}

#[derive(Debug, Deserialize)]
struct ConsistencyQuery {
    first: u64,
    second: u64,
}

async fn consistency(State(state): State<AppState>, Query(q): Query<ConsistencyQuery>) -> Result<Json<Value>, ApiError> {
    let hashes = state.usecases().consistency_proof(q.first, q.second).await?;
    Ok(Json(json!({"first": q.first, "second": q.second, "hashes": encoded(&hashes)})))
}
