//! Loading what a submission was decided on: the form, the stored documents and the date.

use anyhow::Context as _;
use chrono::NaiveDate;
use serde_json::Value;

use crate::app::AppState;
use crate::pipeline::InputFile;
use crate::storage::ApplicationRecord;

pub struct SubmissionInputs {
    pub form: Value,
    pub files: Vec<InputFile>,
    pub submitted_on: NaiveDate,
}

/// The inputs of submission `seq`, with each stored blob re-hashed as it is read.
pub async fn load_inputs(state: &AppState, application: &ApplicationRecord, seq: i64) -> anyhow::Result<SubmissionInputs> {
    let store = state.store();
    let submission = store.submission(&application.id, seq).await?.context("submission vanished")?;
    let included = submission.document_ids();
    let documents: Vec<_> = store.documents(&application.id).await?.into_iter().filter(|d| included.contains(&d.id)).collect();
    let form: Value = serde_json::from_str(&application.form).context("stored form is not JSON")?;
    let submitted_on = NaiveDate::parse_from_str(&submission.submitted_on, "%Y-%m-%d").context("stored submission date")?;
    let blobs = state.blobs().clone();
    let files = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<InputFile>> {
        documents
            .iter()
            .map(|d| {
                let bytes = blobs.get(&d.sha256).with_context(|| format!("reading stored document {}", d.sha256))?;
                Ok(InputFile::new(d.file_name.clone(), bytes))
            })
            .collect()
    })
    .await
    .context("loading documents panicked")??;
    Ok(SubmissionInputs { form, files, submitted_on })
}

/// The form as the office accepted it: the applicant's form with a reviewer's corrections of form
/// fields on the current submission (a misspelt name is what the permit must not carry).
pub async fn form_as_corrected(state: &AppState, application: &ApplicationRecord) -> anyhow::Result<Value> {
    let mut form: Value = serde_json::from_str(&application.form).context("stored form is not JSON")?;
    for correction in state.store().corrections(&application.id).await?.into_iter().filter(|c| c.submission_seq == application.submissions)
    {
        if form.get(&correction.field).is_some() || correction.field == "discharge_category" {
            form[&correction.field] = serde_json::from_str(&correction.corrected).unwrap_or(Value::Null);
        }
    }
    Ok(form)
}
