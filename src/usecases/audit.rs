//! The auditor's use cases: the log by time or by application, its verification, its export, and
//! the replay of one application's decisions under the rule sets they were made under. Auditors
//! and admins only; everything here reads, nothing changes a case.

use std::path::PathBuf;

use super::{UseCaseError, UseCases};
use crate::app::Inference;
use crate::audit::merkle;
use crate::audit::{AuditEntry, ChainError};
use crate::config::LimitsConfig;
use crate::domain::application::ApplicationId;
use crate::domain::user::{Actor, Role};
use crate::replay::{ReplayError, ReplayReport};

const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];

/// An entry's place in the log and its inclusion proof against a signed checkpoint.
#[derive(Debug, Clone)]
pub struct LogProof {
    pub index: u64,
    pub leaf_hash: merkle::Hash,
    pub tree_size: u64,
    pub checkpoint: String,
    pub hashes: Vec<merkle::Hash>,
}
/// The most entries one call returns.
pub const MAX_ENTRIES: u64 = 1000;

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

    /// The Merkle tree's size and root as stored.
    pub async fn tree_head(&self) -> Result<(u64, merkle::Hash), UseCaseError> {
        Ok(crate::storage::tree_head(self.store()).await?)
    }

    /// Entries `start .. end` (0-based leaf indices, at most [`MAX_ENTRIES`] a call), for auditors.
    pub async fn audit_entries_range(&self, actor: &Actor, start: u64, end: u64) -> Result<Vec<AuditEntry>, UseCaseError> {
        actor.require(AUDITORS)?;
        if end < start || end - start > MAX_ENTRIES {
            return Err(UseCaseError::Invalid(format!("end: after start, and at most {MAX_ENTRIES} entries a call")));
        }
        Ok(self.store().audit_range(start, end).await?)
    }

    /// The latest signed checkpoint: the one kept for the tree's size now, or a new one signed and
    /// kept.
    pub async fn checkpoint(&self, signer: &crate::audit::checkpoint::LogSigner) -> Result<String, UseCaseError> {
        let (size, root) = self.tree_head().await?;
        if let Some((kept, note)) = self.store().latest_checkpoint().await? {
            if kept == size {
                return Ok(note);
            }
        }
        let note = signer.sign(size, &root);
        self.store().keep_checkpoint(size, &note).await?;
        // Of two signed at once for one size, the one kept is the one served.
        Ok(self.store().latest_checkpoint().await?.filter(|(kept, _)| *kept == size).map_or(note, |(_, kept)| kept))
    }

    /// The log index of a permit's issue (its `permit.issued` entry), if the log holds one.
    pub async fn permit_log_index(&self, permit: &crate::storage::PermitRecord) -> Result<Option<u64>, UseCaseError> {
        Ok(self.permit_entry(permit).await?.as_ref().map(AuditEntry::leaf_index))
    }

    /// A permit's `permit.issued` entry, if the log holds one.
    async fn permit_entry(&self, permit: &crate::storage::PermitRecord) -> Result<Option<AuditEntry>, UseCaseError> {
        let entries = self.store().audit_for(&permit.application_id).await?;
        let names_it = |e: &AuditEntry| {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
            e.kind == "permit.issued" && payload.get("number").and_then(|n| n.as_str()) == Some(permit.number.as_str())
        };
        Ok(entries.into_iter().rev().find(names_it))
    }

    /// A permit's issue in the audit log, proved: its entry's index and leaf hash, and the
    /// inclusion proof against the latest signed checkpoint, checked here before it is served.
    /// Hashes only: the entry itself is for auditors (`GET /api/v1/audit/entries`).
    pub async fn permit_log_proof(
        &self,
        permit: &crate::storage::PermitRecord,
        signer: &crate::audit::checkpoint::LogSigner,
    ) -> Result<Option<LogProof>, UseCaseError> {
        let Some(entry) = self.permit_entry(permit).await? else { return Ok(None) };
        let index = entry.leaf_index();
        // The latest kept checkpoint, when it covers the entry (the service signs one every few
        // seconds): a public page does not sign one of its own on every request.
        let note = match self.store().latest_checkpoint().await? {
            Some((size, note)) if size > index => note,
            _ => self.checkpoint(signer).await?,
        };
        let signed = crate::audit::checkpoint::verify(&note, &signer.verifier_key()).map_err(|e| UseCaseError::Internal(e.to_string()))?;
        let hashes = self.inclusion_proof(index, signed.size).await?;
        let leaf_hash = merkle::leaf_hash(&entry.leaf_bytes());
        merkle::verify_inclusion(index, signed.size, &leaf_hash, &hashes, &signed.root)
            .map_err(|e| UseCaseError::Internal(format!("the permit's entry does not verify against the checkpoint: {e}")))?;
        Ok(Some(LogProof { index, leaf_hash, tree_size: signed.size, checkpoint: note, hashes }))
    }

    /// The inclusion proof of entry `index` (0-based) in the tree of `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<merkle::Hash>, UseCaseError> {
        self.within_tree(size).await?;
        let needed = merkle::NeededHashes::of(|s| merkle::inclusion_proof(s, index, size).map(|_| ()));
        let fetched = self.store().tree_hashes(&needed).await?;
        merkle::inclusion_proof(&fetched, index, size)
            .map_err(|e| UseCaseError::Internal(e.to_string()))?
            .ok_or_else(|| UseCaseError::Invalid(format!("index: {index} is not below tree_size {size}")))
    }

    /// The consistency proof between the trees of `first` and `second` entries.
    pub async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<merkle::Hash>, UseCaseError> {
        self.within_tree(second).await?;
        let needed = merkle::NeededHashes::of(|s| merkle::consistency_proof(s, first, second).map(|_| ()));
        let fetched = self.store().tree_hashes(&needed).await?;
        merkle::consistency_proof(&fetched, first, second)
            .map_err(|e| UseCaseError::Internal(e.to_string()))?
            .ok_or_else(|| UseCaseError::Invalid(format!("first: {first} is larger than second {second}")))
    }

    async fn within_tree(&self, size: u64) -> Result<(), UseCaseError> {
        let stored = self.store().tree_size().await?;
        if size > stored {
            return Err(UseCaseError::Invalid(format!("tree_size: the log holds {stored} entries, not {size}")));
        }
        Ok(())
    }

    /// Walks the whole hash chain, and checks the Merkle tree's stored root against the entries.
    pub async fn verify_log(&self, actor: &Actor) -> Result<Verified, UseCaseError> {
        actor.require(AUDITORS)?;
        let entries = self.store().audit_entries().await?;
        let head = entries.last().map_or(crate::audit::GENESIS_HASH.to_string(), |e| e.hash.clone());
        let (size, root) = self.tree_head().await?;
        let result = tokio::task::spawn_blocking(move || {
            crate::audit::verify_chain(&entries).and_then(|n| crate::audit::verify_tree(&entries, size, &root).map(|()| n))
        })
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
