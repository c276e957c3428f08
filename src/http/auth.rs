//! Who is calling: `Authorization: Bearer <token>` → an account with a role. Access rules per role
//! live here so every handler asks the same questions.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;
use crate::app::AppState;
use crate::domain::user::{token_digest, Role};
use crate::storage::ApplicationRecord;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// How the caller appears in the audit log: `reviewer:王芳`.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("a {} may not do this", self.role.as_str())))
        }
    }

    /// Applicants see only their own applications; reviewers, auditors and admins see all. An
    /// application the caller may not see is reported as not found, so ids leak nothing.
    pub fn can_read(&self, application: &ApplicationRecord) -> bool {
        match self.role {
            Role::Applicant => application.owner_id == Some(self.user_id),
            Role::Reviewer | Role::Auditor | Role::Admin => true,
        }
    }

    /// Only the owner (or an admin) adds documents or submits.
    pub fn can_change_as_applicant(&self, application: &ApplicationRecord) -> bool {
        match self.role {
            Role::Applicant => application.owner_id == Some(self.user_id),
            Role::Admin => true,
            Role::Reviewer | Role::Auditor => false,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = header.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::Unauthorized("an Authorization: Bearer token is required".into()));
        };
        let user = state.store().user_by_token(&token_digest(token)).await?;
        let user = user.ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))?;
        let role = Role::parse(&user.role).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("user {} has unknown role", user.id)))?;
        Ok(Caller { user_id: user.id, name: user.name, role })
    }
}
