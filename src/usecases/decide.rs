//! The machine's use case: decide a queued submission and record the decision, the state it moves
//! the case to, and (when it issues) the permit and the bundle items' records, in one transaction.

use chrono::NaiveDate;
use serde_json::Value;

use super::{UseCaseError, UseCases};
use crate::domain::decision::{Decision, Outcome};
use crate::pipeline::InputFile;
use crate::storage::{ApplicationRecord, Job};

/// Who issues what the machine decides, in the audit log and on the permit record.
pub const MACHINE: &str = "system:decider";

/// What a submission was decided on: the form, the stored documents and the date.
pub struct SubmissionInputs {
    pub form: Value,
    pub files: Vec<InputFile>,
    pub submitted_on: NaiveDate,
}

impl UseCases {
    /// Decides one claimed job and records the outcome; an `Err` leaves the job for the caller to
    /// give back to the queue (nothing was recorded).
    pub async fn decide_job(&self, job: &Job) -> Result<Outcome, UseCaseError> {
        let started = std::time::Instant::now();
        let application = self
            .store()
            .application(&job.application_id)
            .await?
            .ok_or_else(|| UseCaseError::Internal(format!("application {} vanished", job.application_id)))?;
        let inputs = self.submission_inputs(&application, job.submission_seq).await?;
        let decision = self.run_pipeline(&application.service, inputs, Default::default()).await?;
        let today = self.clock().today();
        let rules = self.rules();
        let service = rules.service(&application.service).ok_or_else(|| UseCaseError::Internal("service vanished".into()))?;
        let form: Value = application.form_value()?;
        let category = crate::issuance::decided_category(service, &decision, &form);
        let permit = crate::issuance::permit_spec(rules, service.info(), &form, category.as_deref(), today, MACHINE);
        // Specs for every item; the store records those the decision issued.
        let items: Vec<&str> = service.items().keys().map(String::as_str).collect();
        let item_records = crate::issuance::item_record_specs(rules, &application.service, &items, today);
        let recorded = self.store().complete_job(job, &decision, permit.as_ref(), &item_records, today).await?;
        crate::telemetry::decision_took(&application.service, started.elapsed());
        if recorded {
            crate::telemetry::decision(&application.service, decision.outcome.as_str(), "machine");
        }
        Ok(decision.outcome)
    }

    /// Runs the pipeline off the async runtime, with a reviewer's corrections (none for the machine).
    pub(super) async fn run_pipeline(
        &self,
        service: &str,
        inputs: SubmissionInputs,
        corrections: std::collections::BTreeMap<String, Value>,
    ) -> Result<Decision, UseCaseError> {
        let pipeline = self.pipeline().clone();
        let service = service.to_string();
        let decision = tokio::task::spawn_blocking(move || {
            pipeline.run_corrected(&service, &inputs.form, &inputs.files, inputs.submitted_on, &corrections)
        })
        .await
        .map_err(|e| UseCaseError::Internal(format!("the decision task panicked: {e}")))??;
        Ok(decision)
    }

    /// The inputs of submission `seq`, with each stored blob re-hashed as it is read.
    pub(super) async fn submission_inputs(&self, application: &ApplicationRecord, seq: i64) -> Result<SubmissionInputs, UseCaseError> {
        let store = self.store();
        let submission =
            store.submission(&application.id, seq).await?.ok_or_else(|| UseCaseError::Internal("submission vanished".into()))?;
        let included = submission.document_ids;
        let documents: Vec<_> = store.documents(&application.id).await?.into_iter().filter(|d| included.contains(&d.id)).collect();
        let form: Value = application.form_value()?;
        let submitted_on = submission.submitted_on;
        let mut files = Vec::with_capacity(documents.len());
        for d in &documents {
            let bytes = (self.0.blobs.get(&d.sha256).await)
                .map_err(|e| UseCaseError::Internal(format!("reading stored document {}: {e}", d.sha256)))?;
            files.push(InputFile::new(d.file_name.clone(), bytes));
        }
        Ok(SubmissionInputs { form, files, submitted_on })
    }
}
