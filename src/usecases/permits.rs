//! Permits after issue: the certificate's record for whoever may see the case, public
//! verification (valid, expired or revoked, no personal data), and revocation by a person.

use super::{UseCaseError, UseCases};
use crate::domain::application::ApplicationId;
use crate::domain::user::{Actor, Role};
use crate::storage::PermitRecord;

/// A permit's standing as of the service's today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermitStatus {
    Valid,
    Expired,
    Revoked,
}

impl PermitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PermitStatus::Valid => "valid",
            PermitStatus::Expired => "expired",
            PermitStatus::Revoked => "revoked",
        }
    }
}

/// What anyone may learn of a permit number.
#[derive(Debug, Clone)]
pub struct Verification {
    pub permit: PermitRecord,
    /// The service's name (its id when the rule set no longer has it).
    pub service_name: String,
    pub status: PermitStatus,
}

impl UseCases {
    /// The permit issued for a case the actor may see.
    pub async fn permit_of(&self, actor: &Actor, id: &ApplicationId) -> Result<PermitRecord, UseCaseError> {
        self.readable(actor, id).await?;
        self.store().permit_for(id).await?.ok_or_else(|| UseCaseError::NotFound("no permit has been issued for this application".into()))
    }

    /// Public verification of a permit number; `None` when there is no such permit.
    pub async fn verify_permit(&self, number: &str) -> Result<Option<Verification>, UseCaseError> {
        let Some(permit) = self.store().permit(number).await? else { return Ok(None) };
        let today = self.clock().today().format("%Y-%m-%d").to_string();
        let status = if permit.status == "revoked" {
            PermitStatus::Revoked
        } else if permit.valid_to < today {
            PermitStatus::Expired
        } else {
            PermitStatus::Valid
        };
        let service_name = self.rules().service(&permit.service).map(|s| s.info().name.clone()).unwrap_or(permit.service.clone());
        Ok(Some(Verification { permit, service_name, status }))
    }

    /// A person revokes a permit (obtained by deception, conditions no longer met …) with a
    /// reason; verification shows it at once. Reviewers and admins only; never the machine.
    pub async fn revoke_permit(&self, actor: &Actor, number: &str, reason: &str) -> Result<PermitRecord, UseCaseError> {
        actor.require(&[Role::Reviewer, Role::Admin])?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(UseCaseError::Invalid("a revocation states its reason".into()));
        }
        let permit = self.store().permit(number).await?.ok_or_else(|| UseCaseError::NotFound("no permit with this number".into()))?;
        if !self.store().revoke_permit(&permit.number, reason, &actor.audit_name()).await? {
            return Err(UseCaseError::Conflict(format!("the permit is {} already", permit.status)));
        }
        Ok(permit)
    }
}
