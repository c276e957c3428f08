//! Who is calling: `Authorization: Bearer <token>` → the account and its role, as the use cases'
//! `Actor`. What each role may do is decided by the use cases, not here.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::domain::user::Actor;

/// The authenticated caller, as handlers name it.
pub type Caller = Actor;

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut headers = parts.headers.get_all(axum::http::header::AUTHORIZATION).iter();
        let (header, second) = (headers.next(), headers.next());
        if second.is_some() {
            // Which of two credentials counts is not for the server to guess.
            return Err(ApiError::BadRequest("send one Authorization header, not several".into()));
        }
        let header = header.and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
        // The scheme is case-insensitive (RFC 7235 §2.1): bearer, BEARER and Bearer are one.
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::Unauthorized("an Authorization: Bearer token is required".into()));
        };
        state.usecases().actor_for_token(token).await?.ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))
    }
}

/// A caller who may be anonymous (public endpoints that show staff more): no Authorization header
/// is nobody; a header with a bad token is refused as everywhere.
impl OptionalFromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
            return Ok(None);
        }
        <Actor as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
    }
}
