//! Replay: re-run a recorded decision from the stored documents under the rule set it was made
//! under, and compare the result byte for byte.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::Inference;
use crate::config::LimitsConfig;
use crate::domain::application::ApplicationId;
use crate::domain::sha256_hex;
use crate::pipeline::{InputFile, PipelineError};
use crate::rules::{RuleFiles, RuleSet, RuleSetError};
use crate::storage::{BlobStore, Store, StoreError};

#[derive(Debug)]
pub struct ReplayReport {
    pub submission: i64,
    pub reproduced: bool,
    pub recorded_sha256: String,
    pub replayed_sha256: String,
    /// The first differing top-level key, when not reproduced.
    pub first_difference: Option<String>,
    /// That key's recorded and replayed values, as JSON.
    pub difference: Option<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("application {0} not found")]
    NotFound(ApplicationId),
    #[error("application {0} has no recorded decision")]
    NoDecision(ApplicationId),
    #[error("rule set {0} is not on record")]
    RuleSetNotRecorded(String),
    #[error("recorded rule set does not hash to {0}")]
    RuleSetAltered(String),
    #[error("submission {0} of the decision is not on record")]
    SubmissionNotRecorded(i64),
    #[error("stored data: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("loading the recorded rule set: {0}")]
    RuleSet(#[from] RuleSetError),
    #[error("deciding again: {0}")]
    Pipeline(#[from] PipelineError),
}

/// Re-decides every recorded decision of `application_id`, each under its own rule set, with the
/// models in `inference`; `reader_exe` reads PDFs in a child process.
pub async fn replay(
    store: &dyn Store,
    blobs: &BlobStore,
    limits: &LimitsConfig,
    inference: Inference,
    reader_exe: PathBuf,
    application_id: &ApplicationId,
) -> Result<Vec<ReplayReport>, ReplayError> {
    let application = store.application(application_id).await?.ok_or_else(|| ReplayError::NotFound(application_id.clone()))?;
    let form: serde_json::Value = serde_json::from_str(&application.form).map_err(|e| ReplayError::Corrupt(format!("form: {e}")))?;
    let decisions = store.decisions(application_id).await?;
    if decisions.is_empty() {
        return Err(ReplayError::NoDecision(application_id.clone()));
    }
    let documents = store.documents(application_id).await?;
    let mut reports = Vec::new();
    for recorded in decisions {
        let files_json =
            store.ruleset(&recorded.ruleset).await?.ok_or_else(|| ReplayError::RuleSetNotRecorded(recorded.ruleset.clone()))?;
        let files: RuleFiles = serde_json::from_str(&files_json).map_err(|e| ReplayError::Corrupt(format!("rule set: {e}")))?;
        let rules = RuleSet::from_files(files)?;
        if rules.hash() != recorded.ruleset {
            return Err(ReplayError::RuleSetAltered(recorded.ruleset.clone()));
        }
        let submission = store
            .submission(application_id, recorded.submission_seq)
            .await?
            .ok_or(ReplayError::SubmissionNotRecorded(recorded.submission_seq))?;
        let mut inputs = Vec::new();
        for document in documents.iter().filter(|d| submission.document_ids.contains(&d.id)) {
            let bytes =
                blobs.get(&document.sha256).await.map_err(|e| ReplayError::Corrupt(format!("document {}: {e}", document.sha256)))?;
            inputs.push(InputFile::new(document.file_name.clone(), bytes));
        }
        // Replay reads without the application's budget: a decision is reproduced however long its
        // reading takes on this machine now.
        let unbudgeted = LimitsConfig { application_read_budget_secs: u64::MAX, ..limits.clone() };
        let pipeline = crate::app::pipeline(Arc::new(rules), &unbudgeted, reader_exe.clone(), inference.clone());
        let (service, form, submitted_on) = (application.service.clone(), form.clone(), submission.submitted_on);
        let decision = tokio::task::spawn_blocking(move || pipeline.run(&service, &form, &inputs, submitted_on))
            .await
            .map_err(|e| ReplayError::Corrupt(format!("the replay task panicked: {e}")))??;
        let replayed = decision.to_canonical_json();
        let reproduced = replayed == recorded.decision;
        let first_difference = if reproduced { None } else { first_difference(&recorded.decision, &replayed) };
        let difference = first_difference.as_deref().and_then(|key| values_of(key, &recorded.decision, &replayed));
        reports.push(ReplayReport {
            submission: recorded.submission_seq,
            reproduced,
            recorded_sha256: sha256_hex(recorded.decision.as_bytes()),
            replayed_sha256: sha256_hex(replayed.as_bytes()),
            first_difference,
            difference,
        });
    }
    Ok(reports)
}

/// The values of top-level `key` in the recorded and the replayed decision.
fn values_of(key: &str, recorded: &str, replayed: &str) -> Option<(String, String)> {
    let value =
        |text: &str| serde_json::from_str::<serde_json::Value>(text).ok().map(|v| v.get(key).cloned().unwrap_or_default().to_string());
    Some((value(recorded)?, value(replayed)?))
}

fn first_difference(recorded: &str, replayed: &str) -> Option<String> {
    let a: serde_json::Value = serde_json::from_str(recorded).ok()?;
    let b: serde_json::Value = serde_json::from_str(replayed).ok()?;
    let keys: std::collections::BTreeSet<&String> = a.as_object()?.keys().chain(b.as_object()?.keys()).collect();
    let first = keys.into_iter().find(|k| a.get(k.as_str()) != b.get(k.as_str())).cloned();
    first
}
