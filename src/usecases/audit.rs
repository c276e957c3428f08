//! The auditor's use cases: the log by time or by application, its verification, its export, and
//! the replay of one application's decisions under the rule sets they were made under. Auditors
//! and admins only; everything here reads, nothing changes a case.

use std::path::PathBuf;

use super::{UseCaseError, UseCases};
use crate::app::Inference;
use crate::audit::{AuditEntry, ChainError};
use crate::config::LimitsConfig;
use crate::domain::application::ApplicationId;
use crate::domain::user::{Actor, Role};
use crate::replay::{ReplayError, ReplayReport};

const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];

/// What replaying needs besides the store: the models and limits the service runs with, and the
/// executable that reads PDFs (each recorded rule set gets its own pipeline over them).
#[derive(Clone)]
pub struct ReplayKit {
    pub limits: LimitsConfig,
    pub inference: Inference,
    pub reader_exe: PathBuf,
}

/// The log's verification as the page reports it.
#[derive(Debug, Clone)]
pub struct Verified {
    pub result: Result<u64, ChainError>,
    pub head: String,
}

impl UseCases {
    /// The newest `limit` entries before `before`, or every entry of one application.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        application: Option<&ApplicationId>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, UseCaseError> {
        actor.require(AUDITORS)?;
        Ok(match application {
            Some(id) => self.store().audit_for(id).await?,
            None => self.store().audit_page(before, limit).await?,
        })
    }

    /// Walks the whole hash chain.
    pub async fn verify_log(&self, actor: &Actor) -> Result<Verified, UseCaseError> {
        actor.require(AUDITORS)?;
        let entries = self.store().audit_entries().await?;
        let head = entries.last().map_or(crate::audit::GENESIS_HASH.to_string(), |e| e.hash.clone());
        let result = tokio::task::spawn_blocking(move || crate::audit::verify_chain(&entries))
            .await
            .map_err(|e| UseCaseError::Internal(format!("verifying the log panicked: {e}")))?;
        tracing::info!(actor = %actor.audit_name(), ok = result.is_ok(), "audit log verified from the pages");
        Ok(Verified { result, head })
    }

    /// Every entry, oldest first, for export.
    pub async fn export_log(&self, actor: &Actor) -> Result<Vec<AuditEntry>, UseCaseError> {
        actor.require(AUDITORS)?;
        Ok(self.store().audit_entries().await?)
    }

    /// Re-decides every recorded decision of one application and compares each byte for byte. One
    /// replay runs at a time in a process (it reads and OCRs the documents again); another asked
    /// meanwhile is told to try again.
    pub async fn replay_application(&self, actor: &Actor, kit: &ReplayKit, id: &ApplicationId) -> Result<Vec<ReplayReport>, UseCaseError> {
        actor.require(AUDITORS)?;
        let Ok(_permit) = self.0.replays.try_acquire() else {
            return Err(UseCaseError::Overloaded {
                message: "another replay is running; try again in a minute".into(),
                retry_after_secs: 60,
            });
        };
        let reports =
            crate::replay::replay(self.store(), &self.0.blobs, &kit.limits, kit.inference.clone(), kit.reader_exe.clone(), id).await;
        match reports {
            Ok(reports) => Ok(reports),
            Err(ReplayError::NotFound(_)) => Err(UseCaseError::NotFound(format!("application {id} not found"))),
            Err(ReplayError::NoDecision(_)) => Err(UseCaseError::Conflict(format!("application {id} has no recorded decision"))),
            Err(ReplayError::Store(e)) => Err(e.into()),
            Err(other) => Err(UseCaseError::Internal(other.to_string())),
        }
    }
}
