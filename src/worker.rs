//! The background decision worker: claims queued jobs and decides them through the use case, off
//! the async runtime. A crash loses nothing: an unfinished job is claimed again.

use std::time::Duration;

use tracing::Instrument;

use crate::pipeline::PipelineError;
use crate::storage::Job;
use crate::usecases::{UseCaseError, UseCases};

/// How long a claimed job is ours before another worker may take it over, at least: longer, when
/// the reading budget needs it ([`lease_ms`]).
const LEASE_MS: i64 = 5 * 60 * 1000;

/// The lease outlasts the longest run the limits allow: the application's reading budget, one PDF's
/// reading and one page's OCR past it (the budget is checked between them), and a margin for
/// understanding and deciding. A shorter lease let an idle worker take over a job still running
/// over its budget, so neither's failure was ever recorded.
fn lease_ms(usecases: &UseCases) -> i64 {
    let limits = usecases.pipeline().read_limits();
    let longest = limits.application_budget.saturating_add(limits.pdf_timeout).saturating_add(std::time::Duration::from_secs(120));
    i64::try_from(longest.as_millis()).unwrap_or(i64::MAX).max(LEASE_MS)
}
/// A job that fails this often is given up and left for an operator, with its errors in the log.
pub const MAX_ATTEMPTS: i64 = 3;
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Claims and decides jobs until `shutdown`, each claim held for `lease` (by default [`lease_ms`]).
pub async fn run(usecases: UseCases, worker_idx: usize, lease: Option<Duration>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let lease_ms = match lease {
        Some(lease) => i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
        None => lease_ms(&usecases),
    };
    tracing::info!(worker = worker_idx, "decision worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match usecases.store().claim_job(usecases.clock().now_ms(), lease_ms).await {
            Ok(Some(job)) if job.attempts > MAX_ATTEMPTS => {
                // Its lease ran out on its last attempt: the process deciding it stopped (perhaps
                // because of it). A person decides it rather than another worker trying again.
                let error = "interrupted on its last attempt (the process deciding it stopped)";
                if let Err(e) = usecases.store().fail_job(&job, error, MAX_ATTEMPTS).await {
                    tracing::error!(error = %e, "giving up an interrupted job failed");
                }
            }
            Ok(Some(job)) => {
                let span = tracing::info_span!("decide_job", job.id = job.id, application.id = %job.application_id, submission = job.submission_seq);
                process(&usecases, job).instrument(span).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = usecases.jobs_notified() => {}
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

async fn process(usecases: &UseCases, job: Job) {
    let started = std::time::Instant::now();
    match usecases.decide_job(&job).await {
        Ok(outcome) => tracing::info!(outcome = outcome.as_str(), duration_ms = started.elapsed().as_millis() as u64, "decided"),
        Err(error) => {
            tracing::error!(error = %error, attempt = job.attempts, "deciding failed");
            // Over its reading budget, another attempt would only hold a worker as long again.
            let over_budget = matches!(error, UseCaseError::Pipeline(PipelineError::OverBudget(_)));
            let max_attempts = if over_budget { job.attempts } else { MAX_ATTEMPTS };
            if let Err(e) = usecases.store().fail_job(&job, &error.to_string(), max_attempts).await {
                tracing::error!(error = %e, "recording the failure failed; the lease will expire and the job run again");
            }
        }
    }
}
