//! Replay: re-run a recorded decision from the stored documents under the rule set it was made
//! under, and compare the result byte for byte.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::NaiveDate;

use crate::pipeline::{sha256_hex, Decider, InputFile};
use crate::reading::Reader;
use crate::rules::{RuleFiles, RuleSet};
use crate::storage::{BlobStore, Store};

#[derive(Debug)]
pub struct ReplayReport {
    pub submission: i64,
    pub reproduced: bool,
    pub recorded_sha256: String,
    pub replayed_sha256: String,
    /// The first differing top-level key, when not reproduced.
    pub first_difference: Option<String>,
}

pub async fn replay(store: &dyn Store, blobs: &BlobStore, reader: Reader, application_id: &str) -> anyhow::Result<Vec<ReplayReport>> {
    let application = store.application(application_id).await?.with_context(|| format!("application {application_id} not found"))?;
    let form: serde_json::Value = serde_json::from_str(&application.form).context("stored form")?;
    let decisions = store.decisions(application_id).await?;
    anyhow::ensure!(!decisions.is_empty(), "application {application_id} has no recorded decision");
    let documents = store.documents(application_id).await?;
    let mut reports = Vec::new();
    for recorded in decisions {
        let files_json =
            store.ruleset(&recorded.ruleset).await?.with_context(|| format!("rule set {} is not on record", recorded.ruleset))?;
        let files: RuleFiles = serde_json::from_str(&files_json).context("stored rule set")?;
        let rules = RuleSet::from_files(files).context("loading the recorded rule set")?;
        anyhow::ensure!(rules.hash() == recorded.ruleset, "recorded rule set does not hash to {}", recorded.ruleset);
        let submission = store.submission(application_id, recorded.submission_seq).await?.context("submission of the decision")?;
        let included = submission.document_ids();
        let mut inputs = Vec::new();
        for document in documents.iter().filter(|d| included.contains(&d.id)) {
            inputs.push(InputFile::new(
                document.file_name.clone(),
                blobs.get(&document.sha256).with_context(|| format!("document {}", document.sha256))?,
            ));
        }
        let submitted_on = NaiveDate::parse_from_str(&submission.submitted_on, "%Y-%m-%d")?;
        let decider = Decider::new(Arc::new(rules), reader.clone());
        let service = application.service.clone();
        let form = form.clone();
        let decision = tokio::task::spawn_blocking(move || decider.decide(&service, &form, &inputs, submitted_on)).await??;
        let replayed = decision.to_canonical_json();
        let reproduced = replayed == recorded.decision;
        let first_difference = if reproduced { None } else { first_difference(&recorded.decision, &replayed) };
        reports.push(ReplayReport {
            submission: recorded.submission_seq,
            reproduced,
            recorded_sha256: sha256_hex(recorded.decision.as_bytes()),
            replayed_sha256: sha256_hex(replayed.as_bytes()),
            first_difference,
        });
    }
    Ok(reports)
}

fn first_difference(recorded: &str, replayed: &str) -> Option<String> {
    let a: serde_json::Value = serde_json::from_str(recorded).ok()?;
    let b: serde_json::Value = serde_json::from_str(replayed).ok()?;
    let keys: std::collections::BTreeSet<&String> = a.as_object()?.keys().chain(b.as_object()?.keys()).collect();
    let first = keys.into_iter().find(|k| a.get(k.as_str()) != b.get(k.as_str())).cloned();
    first
}
