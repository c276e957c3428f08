//! The decision job queue: `UPDATE … RETURNING` claims with a lease, in write transactions.

use super::*;

#[async_trait::async_trait]
impl Jobs for SqlStore {
    async fn claim_job(&self, now_ms: i64, lease_ms: i64) -> Result<Option<Job>, StoreError> {
        // SQLite claims inside its one writer; Postgres claims without the write lock, each worker
        // skipping the rows another claim holds, so idle workers never queue behind each other.
        let (mut tx, sql) = match self.backend {
            Backend::Sqlite => (
                self.write_tx().await?,
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until_ms = $1
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_until_ms < $2) ORDER BY id LIMIT 1)
                 RETURNING id, application_id, submission_seq, attempts",
            ),
            Backend::Postgres => (
                self.pool.begin().await?,
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until_ms = $1
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_until_ms < $2)
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, application_id, submission_seq, attempts",
            ),
        };
        let job: Option<rows::JobRow> = sqlx::query_as(sql).bind(now_ms + lease_ms).bind(now_ms).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        rows::optional(job)
    }

    async fn complete_job(
        &self,
        job: &Job,
        decision: &Decision,
        permit: Option<&PermitSpec>,
        item_records: &[ItemRecordSpec],
        decided_on: NaiveDate,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1 AND attempts = $2")
            .bind(job.id)
            .bind(job.attempts)
            .fetch_optional(&mut *tx)
            .await?;
        if state.as_deref() != Some("running") {
            // Our lease expired and another claim holds the job now (or has decided it): that
            // claim's decision is the one recorded.
            return Ok(false);
        }
        let application = load_application(&mut tx, &job.application_id).await?;
        let next = application.state.decided(decision.outcome)?;
        let canonical = decision.to_canonical_json();
        sqlx::query(
            "INSERT INTO decisions (application_id, submission_seq, outcome, ruleset, decision, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(job.application_id.as_str())
        .bind(job.submission_seq)
        .bind(decision.outcome.as_str())
        .bind(&decision.ruleset)
        .bind(&canonical)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        set_state(&mut tx, &job.application_id, next).await?;
        let decided_on = decided_on.format("%Y-%m-%d").to_string();
        if next != ApplicationState::NeedsReview {
            // The machine decided (issued, or asked for materials) today: a job queued over a
            // night or a holiday is decided on the day it ran, not the day it was submitted.
            sqlx::query("UPDATE applications SET decided_on = $1 WHERE id = $2")
                .bind(&decided_on)
                .bind(job.application_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        if next == ApplicationState::NeedsMaterials {
            // The clock stops while the applicant gathers what is missing.
            sqlx::query("UPDATE applications SET waiting_since = $1 WHERE id = $2")
                .bind(&decided_on)
                .bind(job.application_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE jobs SET state = 'done', lease_until_ms = NULL WHERE id = $1").bind(job.id).execute(&mut *tx).await?;
        if let (Outcome::Issued, Some(spec)) = (decision.outcome, permit) {
            issue_permit(&mut tx, job.application_id.as_str(), spec).await?;
        }
        for spec in item_records {
            let issued = decision.items.iter().any(|i| i.item == spec.item && i.outcome == Outcome::Issued);
            if issued {
                record_item(&mut tx, job.application_id.as_str(), job.submission_seq, spec, "system:decider").await?;
            }
        }
        let failed_rules: Vec<&str> = decision.findings.iter().map(|f| f.rule.as_str()).collect();
        audit(
            &mut tx,
            "system:decider",
            "application.decided",
            Some(job.application_id.as_str()),
            serde_json::json!({
                "submission": job.submission_seq,
                "outcome": decision.outcome.as_str(),
                "spot_check": decision.spot_check,
                "decision_sha256": sha256_hex(canonical.as_bytes()),
                "ruleset": decision.ruleset,
                "models": decision.models,
                "documents": decision.documents.iter().map(|d| &d.sha256).collect::<Vec<_>>(),
                "findings": failed_rules,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn fail_job(&self, job: &Job, error: &str, max_attempts: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let next_state = if job.attempts >= max_attempts { "failed" } else { "queued" };
        // Only the claim that ran this attempt may give the job up; a later claim owns it now.
        let updated = sqlx::query(
            "UPDATE jobs SET state = $1, last_error = $2, lease_until_ms = NULL WHERE id = $3 AND state = 'running' AND attempts = $4",
        )
        .bind(next_state)
        .bind(error)
        .bind(job.id)
        .bind(job.attempts)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(());
        }
        if next_state == "failed" {
            // The machine could not decide: the case goes to a person rather than waiting forever.
            let application = load_application(&mut tx, &job.application_id).await?;
            if application.state == ApplicationState::Submitted && application.submissions == job.submission_seq {
                set_state(&mut tx, &job.application_id, ApplicationState::NeedsReview).await?;
            }
        }
        audit(
            &mut tx,
            "system:decider",
            "decision.failed",
            Some(job.application_id.as_str()),
            serde_json::json!({"submission": job.submission_seq, "attempt": job.attempts, "error": error, "job_state": next_state}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn requeue_running_jobs(&self, max_attempts: i64) -> Result<u64, StoreError> {
        if self.backend == Backend::Postgres {
            // Other instances may be running these jobs right now: a dead instance's jobs are
            // taken by the next claim once their lease has run out, not at another's start.
            return Ok(0);
        }
        let exhausted: Vec<rows::JobRow> =
            sqlx::query_as("SELECT id, application_id, submission_seq, attempts FROM jobs WHERE state = 'running' AND attempts >= $1")
                .bind(max_attempts)
                .fetch_all(&self.pool)
                .await?;
        for job in rows::all::<_, Job>(exhausted)? {
            self.fail_job(&job, "interrupted on its last attempt (the process stopped while deciding)", max_attempts).await?;
        }
        let result =
            sqlx::query("UPDATE jobs SET state = 'queued', lease_until_ms = NULL WHERE state = 'running'").execute(&self.pool).await?;
        Ok(result.rows_affected())
    }

    async fn take_turn(&self, task: &str, now_ms: i64, period_ms: i64) -> Result<bool, StoreError> {
        // One statement: the row is locked while it is compared and moved, so of callers racing for
        // one period exactly one moves it (on Postgres the others wait for the row, then find it
        // moved; SQLite runs one writer at a time).
        let taken = sqlx::query(
            "INSERT INTO periodic_turns (task, last_ms) VALUES ($1, $2)
             ON CONFLICT (task) DO UPDATE SET last_ms = excluded.last_ms WHERE periodic_turns.last_ms <= $3 OR periodic_turns.last_ms > $4",
        )
        .bind(task)
        .bind(now_ms)
        .bind(now_ms.saturating_sub(period_ms))
        // A turn stamped more than a period ahead of this clock came from a clock running fast:
        // it does not hold the others off.
        .bind(now_ms.saturating_add(period_ms))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        // One snapshot, so the counts and the oldest job agree.
        let mut tx = self.read_tx().await?;
        let (queued, running): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0)
             FROM jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&mut *tx)
        .await?;
        let oldest_queued_at: Option<String> =
            sqlx::query_scalar("SELECT created_at FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(QueueStats { queued, running, oldest_queued_at })
    }
}
