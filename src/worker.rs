//! The background decision worker: claims queued jobs from the database and decides them off the
//! async runtime. A crash loses nothing: an unfinished job is claimed again.

use std::time::Duration;

use anyhow::Context as _;
use tracing::Instrument;

use crate::app::AppState;
use crate::storage::Job;

/// How long a claimed job is ours before another worker may take it over.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// A job that fails this often is given up and left for an operator, with its errors in the log.
pub const MAX_ATTEMPTS: i64 = 3;
const IDLE_POLL: Duration = Duration::from_millis(500);

pub async fn run(state: AppState, worker_idx: usize, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tracing::info!(worker = worker_idx, "decision worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match state.store().claim_job(state.clock().now_ms(), LEASE_MS).await {
            Ok(Some(job)) => {
                let span = tracing::info_span!("decide_job", job.id = job.id, application.id = %job.application_id, submission = job.submission_seq);
                process(&state, job).instrument(span).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = state.jobs_notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(error) => {
                tracing::error!(error = %error, "claiming a job failed");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
    tracing::info!(worker = worker_idx, "decision worker stopped");
}

async fn process(state: &AppState, job: Job) {
    let started = std::time::Instant::now();
    match decide_job(state, &job).await {
        Ok((decision, permit, item_records)) => match state.store().complete_job(&job, &decision, permit.as_ref(), &item_records).await {
            Ok(()) => tracing::info!(outcome = decision.outcome.as_str(), duration_ms = started.elapsed().as_millis() as u64, "decided"),
            Err(error) => {
                tracing::error!(error = %error, "recording the decision failed");
                let _ = state.store().fail_job(&job, &error.to_string(), MAX_ATTEMPTS).await;
            }
        },
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), attempt = job.attempts, "deciding failed");
            if let Err(e) = state.store().fail_job(&job, &format!("{error:#}"), MAX_ATTEMPTS).await {
                tracing::error!(error = %e, "recording the failure failed; the lease will expire and the job run again");
            }
        }
    }
}

async fn decide_job(
    state: &AppState,
    job: &Job,
) -> anyhow::Result<(crate::domain::decision::Decision, Option<crate::storage::PermitSpec>, Vec<crate::storage::ItemRecordSpec>)> {
    let application = state.store().application(&job.application_id).await?.context("application vanished")?;
    let inputs = crate::cases::load_inputs(state, &application, job.submission_seq).await?;
    let decider = state.decider().clone();
    let service = application.service.clone();
    let form = inputs.form.clone();
    let decision = tokio::task::spawn_blocking(move || decider.decide(&service, &inputs.form, &inputs.files, inputs.submitted_on))
        .await
        .context("the decision task panicked")??;
    let rules = state.decider().rules();
    let category = serde_json::to_value(&decision).ok().and_then(|d| crate::issuance::decided_category(&d, &form));
    let permit = rules
        .service(&application.service)
        .and_then(|s| crate::issuance::permit_spec(rules, s.info(), &form, category.as_deref(), state.clock().today(), "system:decider"));
    // Specs for every item; complete_job records those the decision issued.
    let items: Vec<String> = rules.service(&application.service).map(|s| s.items().keys().cloned().collect()).unwrap_or_default();
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    let item_records = crate::issuance::item_record_specs(rules, &application.service, &items, state.clock().today());
    Ok((decision, permit, item_records))
}
