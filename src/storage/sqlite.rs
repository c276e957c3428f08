//! The SQLite implementation of `Store`: one file in the data directory, WAL mode, and write
//! transactions opened with `BEGIN IMMEDIATE` so concurrent writers queue instead of failing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{
    ApplicationRecord, ClaimOutcome, CorrectionRecord, DecisionRecord, DocumentLimits, DocumentRecord, ItemRecord, ItemRecordSpec, Job,
    NewCorrection, NewDocument, PermitRecord, PermitSpec, ReviewInput, ReviewRecord, Store, StoreError, SubmissionRecord, Submitted,
    UserRecord,
};
use crate::audit::{entry_hash, AuditEntry, GENESIS_HASH};
use crate::domain::application::ApplicationState;
use crate::domain::decision::{Decision, Outcome};
use crate::pipeline::sha256_hex;

mod numbering;

use numbering::{issue_permit, record_item};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url` (`sqlite://…` or a path).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            if url.starts_with("sqlite:") { SqliteConnectOptions::from_str(url)? } else { SqliteConnectOptions::new().filename(url) };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(e.into()))?;
        Ok(Self { pool })
    }

    pub async fn open_in(data_dir: &Path) -> Result<Self, StoreError> {
        Self::connect(&data_dir.join("onewindow.db").to_string_lossy()).await
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Appends one audit event inside the caller's transaction, chained to the last one.
async fn audit(
    tx: &mut Transaction<'static, Sqlite>,
    actor: &str,
    kind: &str,
    application_id: Option<&str>,
    payload: serde_json::Value,
) -> Result<(), StoreError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut **tx).await?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_string()),
    };
    let at = now_text();
    let payload = payload.to_string();
    let hash = entry_hash(seq, &at, actor, kind, application_id, &payload, &prev_hash);
    sqlx::query("INSERT INTO audit_log (seq, at, actor, kind, application_id, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(seq)
        .bind(&at)
        .bind(actor)
        .bind(kind)
        .bind(application_id)
        .bind(&payload)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn load_application(tx: &mut Transaction<'static, Sqlite>, id: &str) -> Result<ApplicationRecord, StoreError> {
    sqlx::query_as("SELECT * FROM applications WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))
}

async fn set_state(tx: &mut Transaction<'static, Sqlite>, id: &str, state: ApplicationState) -> Result<(), StoreError> {
    sqlx::query("UPDATE applications SET state = ?, updated_at = ? WHERE id = ?")
        .bind(state.as_str())
        .bind(now_text())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, name: &str, role: &str, token_sha256: &str, actor: &str) -> Result<UserRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let inserted =
            sqlx::query_as::<_, UserRecord>("INSERT INTO users (name, role, token_sha256, created_at) VALUES (?, ?, ?, ?) RETURNING *")
                .bind(name)
                .bind(role)
                .bind(token_sha256)
                .bind(now_text())
                .fetch_one(&mut *tx)
                .await;
        let user = match inserted {
            Ok(user) => user,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!("a user named {name} already exists")));
            }
            Err(e) => return Err(e.into()),
        };
        audit(&mut tx, actor, "user.created", None, serde_json::json!({"user_id": user.id, "name": name, "role": role})).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn user_by_token(&self, token_sha256: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE token_sha256 = ?").bind(token_sha256).fetch_optional(&self.pool).await?)
    }

    async fn create_application(
        &self,
        id: &str,
        service: &str,
        form: &str,
        owner_id: Option<i64>,
        actor: &str,
    ) -> Result<ApplicationRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let now = now_text();
        sqlx::query(
            "INSERT INTO applications (id, service, form, state, submissions, created_at, updated_at, owner_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
        )
        .bind(id)
        .bind(service)
        .bind(form)
        .bind(ApplicationState::Draft.as_str())
        .bind(&now)
        .bind(&now)
        .bind(owner_id)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            "application.created",
            Some(id),
            serde_json::json!({"service": service, "form_sha256": sha256_hex(form.as_bytes())}),
        )
        .await?;
        let record = load_application(&mut tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM applications WHERE id = ?").bind(id).fetch_optional(&self.pool).await?)
    }

    async fn add_documents(
        &self,
        application_id: &str,
        documents: &[NewDocument],
        limits: DocumentLimits,
        actor: &str,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        application.state()?.add_document()?;
        let (count, total): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM documents WHERE application_id = ? AND withdrawn_at IS NULL",
        )
        .bind(application_id)
        .fetch_one(&mut *tx)
        .await?;
        if count as usize + documents.len() > limits.max_files {
            return Err(StoreError::TooManyFiles(limits.max_files));
        }
        let new_total = total as u64 + documents.iter().map(|d| d.size_bytes).sum::<u64>();
        if new_total > limits.max_application_bytes {
            return Err(StoreError::TooLarge { total: new_total, limit: limits.max_application_bytes });
        }
        let mut records = Vec::new();
        for document in documents {
            let record: DocumentRecord = sqlx::query_as(
                "INSERT INTO documents (application_id, file_name, sha256, size_bytes, format, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
            )
            .bind(application_id)
            .bind(&document.file_name)
            .bind(&document.sha256)
            .bind(document.size_bytes as i64)
            .bind(&document.format)
            .bind(now_text())
            .fetch_one(&mut *tx)
            .await?;
            audit(
                &mut tx,
                actor,
                "document.stored",
                Some(application_id),
                serde_json::json!({"document_id": record.id, "file": document.file_name, "sha256": document.sha256, "size_bytes": document.size_bytes, "format": document.format}),
            )
            .await?;
            records.push(record);
        }
        tx.commit().await?;
        Ok(records)
    }

    async fn documents(&self, application_id: &str) -> Result<Vec<DocumentRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM documents WHERE application_id = ? ORDER BY id")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn withdraw_document(&self, application_id: &str, document_id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        application.state()?.add_document()?;
        let updated = sqlx::query("UPDATE documents SET withdrawn_at = ? WHERE id = ? AND application_id = ? AND withdrawn_at IS NULL")
            .bind(now_text())
            .bind(document_id)
            .bind(application_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        audit(&mut tx, actor, "document.withdrawn", Some(application_id), serde_json::json!({"document_id": document_id})).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn submit(
        &self,
        application_id: &str,
        idempotency_key: &str,
        submitted_on: &str,
        resumed_after_days: i64,
        actor: &str,
    ) -> Result<Submitted, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        let earlier: Option<SubmissionRecord> =
            sqlx::query_as("SELECT * FROM submissions WHERE application_id = ? AND idempotency_key = ?")
                .bind(application_id)
                .bind(idempotency_key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(submission) = earlier {
            return Ok(Submitted { submission, repeated: true });
        }
        let next = application.state()?.submit()?;
        let seq = application.submissions + 1;
        let document_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM documents WHERE application_id = ? AND withdrawn_at IS NULL ORDER BY id")
                .bind(application_id)
                .fetch_all(&mut *tx)
                .await?;
        let now = now_text();
        let submission: SubmissionRecord = sqlx::query_as(
            "INSERT INTO submissions (application_id, seq, idempotency_key, submitted_on, document_ids, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(application_id)
        .bind(seq)
        .bind(idempotency_key)
        .bind(submitted_on)
        .bind(serde_json::to_string(&document_ids).unwrap_or_default())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE applications SET state = ?, submissions = ?, updated_at = ?, accepted_on = COALESCE(accepted_on, ?),
             paused_days = paused_days + (CASE WHEN waiting_since IS NULL THEN 0 ELSE ? END), waiting_since = NULL WHERE id = ?",
        )
        .bind(next.as_str())
        .bind(seq)
        .bind(&now)
        .bind(submitted_on)
        .bind(resumed_after_days)
        .bind(application_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO jobs (application_id, submission_seq, state, created_at) VALUES (?, ?, 'queued', ?)")
            .bind(application_id)
            .bind(seq)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            actor,
            "application.submitted",
            Some(application_id),
            serde_json::json!({"submission": seq, "submitted_on": submitted_on, "document_ids": document_ids}),
        )
        .await?;
        tx.commit().await?;
        Ok(Submitted { submission, repeated: false })
    }

    async fn submission(&self, application_id: &str, seq: i64) -> Result<Option<SubmissionRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM submissions WHERE application_id = ? AND seq = ?")
            .bind(application_id)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn claim_job(&self, now_ms: i64, lease_ms: i64) -> Result<Option<Job>, StoreError> {
        let mut tx = self.write_tx().await?;
        let job: Option<Job> = sqlx::query_as(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until_ms = ?
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_until_ms < ?) ORDER BY id LIMIT 1)
             RETURNING id, application_id, submission_seq, attempts",
        )
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    async fn item_records(&self, application_id: &str) -> Result<Vec<ItemRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM item_records WHERE application_id = ? ORDER BY id")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn complete_job(
        &self,
        job: &Job,
        decision: &Decision,
        permit: Option<&PermitSpec>,
        item_records: &[ItemRecordSpec],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = ? AND attempts = ?")
            .bind(job.id)
            .bind(job.attempts)
            .fetch_optional(&mut *tx)
            .await?;
        if state.as_deref() != Some("running") {
            // Another worker finished it after our lease expired: the first decision stands.
            return Ok(());
        }
        let application = load_application(&mut tx, &job.application_id).await?;
        let next = application.state()?.decide(decision.outcome)?;
        let canonical = decision.to_canonical_json();
        sqlx::query(
            "INSERT INTO decisions (application_id, submission_seq, outcome, ruleset, decision, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&job.application_id)
        .bind(job.submission_seq)
        .bind(decision.outcome.as_str())
        .bind(&decision.ruleset)
        .bind(&canonical)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        set_state(&mut tx, &job.application_id, next).await?;
        if next == ApplicationState::NeedsMaterials {
            // The clock stops while the applicant gathers what is missing.
            sqlx::query("UPDATE applications SET waiting_since = ? WHERE id = ?")
                .bind(&decision.submitted_on)
                .bind(&job.application_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE jobs SET state = 'done', lease_until_ms = NULL WHERE id = ?").bind(job.id).execute(&mut *tx).await?;
        if let (Outcome::Issued, Some(spec)) = (decision.outcome, permit) {
            issue_permit(&mut tx, &job.application_id, spec).await?;
        }
        for spec in item_records {
            let issued = decision.items.iter().any(|i| i.item == spec.item && i.outcome == Outcome::Issued);
            if issued {
                record_item(&mut tx, &job.application_id, job.submission_seq, spec, "system:decider").await?;
            }
        }
        let failed_rules: Vec<&str> = decision.findings.iter().map(|f| f.rule.as_str()).collect();
        audit(
            &mut tx,
            "system:decider",
            "application.decided",
            Some(&job.application_id),
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
        Ok(())
    }

    async fn fail_job(&self, job: &Job, error: &str, max_attempts: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let next_state = if job.attempts >= max_attempts { "failed" } else { "queued" };
        // Only the claim that ran this attempt may give the job up; a later claim owns it now.
        let updated = sqlx::query(
            "UPDATE jobs SET state = ?, last_error = ?, lease_until_ms = NULL WHERE id = ? AND state = 'running' AND attempts = ?",
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
            if application.state == ApplicationState::Submitted.as_str() && application.submissions == job.submission_seq {
                set_state(&mut tx, &job.application_id, ApplicationState::NeedsReview).await?;
            }
        }
        audit(
            &mut tx,
            "system:decider",
            "decision.failed",
            Some(&job.application_id),
            serde_json::json!({"submission": job.submission_seq, "attempt": job.attempts, "error": error, "job_state": next_state}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn requeue_running_jobs(&self, max_attempts: i64) -> Result<u64, StoreError> {
        let exhausted: Vec<Job> =
            sqlx::query_as("SELECT id, application_id, submission_seq, attempts FROM jobs WHERE state = 'running' AND attempts >= ?")
                .bind(max_attempts)
                .fetch_all(&self.pool)
                .await?;
        for job in exhausted {
            self.fail_job(&job, "interrupted on its last attempt (the process stopped while deciding)", max_attempts).await?;
        }
        let result =
            sqlx::query("UPDATE jobs SET state = 'queued', lease_until_ms = NULL WHERE state = 'running'").execute(&self.pool).await?;
        Ok(result.rows_affected())
    }

    async fn decisions(&self, application_id: &str) -> Result<Vec<DecisionRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM decisions WHERE application_id = ? ORDER BY submission_seq")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn save_ruleset(&self, hash: &str, files: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO rulesets (hash, files) VALUES (?, ?)").bind(hash).bind(files).execute(&self.pool).await?;
        Ok(())
    }

    async fn ruleset(&self, hash: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT files FROM rulesets WHERE hash = ?").bind(hash).fetch_optional(&self.pool).await?)
    }

    async fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM audit_log ORDER BY seq").fetch_all(&self.pool).await?)
    }

    async fn review_queue(&self, service: Option<&str>) -> Result<Vec<ApplicationRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM applications WHERE state = 'needs_review' AND (? IS NULL OR service = ?) ORDER BY updated_at, id")
            .bind(service)
            .bind(service)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn claim(
        &self,
        application_id: &str,
        reviewer_id: i64,
        now_ms: i64,
        lease_ms: i64,
        actor: &str,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        if application.state != ApplicationState::NeedsReview.as_str() {
            return Ok(ClaimOutcome::NotInReview(application.state));
        }
        if application.owner_id == Some(reviewer_id) {
            return Ok(ClaimOutcome::OwnApplication);
        }
        if application.is_claimed(now_ms) && !application.is_claimed_by(reviewer_id, now_ms) {
            return Ok(ClaimOutcome::HeldByOther);
        }
        let until_ms = now_ms + lease_ms;
        sqlx::query("UPDATE applications SET claimed_by = ?, claim_until_ms = ? WHERE id = ?")
            .bind(reviewer_id)
            .bind(until_ms)
            .bind(application_id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            actor,
            "review.claimed",
            Some(application_id),
            serde_json::json!({"reviewer_id": reviewer_id, "until_ms": until_ms}),
        )
        .await?;
        tx.commit().await?;
        Ok(ClaimOutcome::Claimed { until_ms })
    }

    async fn release(&self, application_id: &str, reviewer_id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        if application.claimed_by != Some(reviewer_id) {
            return Ok(false);
        }
        sqlx::query("UPDATE applications SET claimed_by = NULL, claim_until_ms = NULL WHERE id = ?")
            .bind(application_id)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "review.released", Some(application_id), serde_json::json!({"reviewer_id": reviewer_id})).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn review(
        &self,
        application_id: &str,
        reviewer_id: i64,
        now_ms: i64,
        input: &ReviewInput,
        permit: Option<&PermitSpec>,
        actor: &str,
    ) -> Result<(ApplicationState, Option<PermitRecord>), StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        if !application.is_claimed_by(reviewer_id, now_ms) {
            return Err(StoreError::Conflict("claim the case (or renew an expired claim) before deciding it".into()));
        }
        let next = application.state()?.review(input.action)?;
        sqlx::query(
            "INSERT INTO reviews (application_id, submission_seq, reviewer_id, action, reason_code, text, missing_materials, document, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(application_id)
        .bind(application.submissions)
        .bind(reviewer_id)
        .bind(input.action.as_str())
        .bind(&input.reason_code)
        .bind(&input.text)
        .bind(serde_json::to_string(&input.missing_materials).unwrap_or_default())
        .bind(&input.document)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        let waiting_since = (next == ApplicationState::NeedsMaterials).then_some(input.decided_on.as_str());
        sqlx::query(
            "UPDATE applications SET state = ?, claimed_by = NULL, claim_until_ms = NULL, updated_at = ?, waiting_since = ? WHERE id = ?",
        )
        .bind(next.as_str())
        .bind(now_text())
        .bind(waiting_since)
        .bind(application_id)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            "review.decided",
            Some(application_id),
            serde_json::json!({
                "action": input.action.as_str(),
                "reason_code": input.reason_code,
                "text": input.text,
                "missing_materials": input.missing_materials,
                "document_sha256": sha256_hex(input.document.as_bytes()),
            }),
        )
        .await?;
        let permit = match (input.action, permit) {
            (crate::domain::application::ReviewAction::Issue, Some(spec)) => Some(issue_permit(&mut tx, application_id, spec).await?),
            _ => None,
        };
        if input.action == crate::domain::application::ReviewAction::Issue {
            // Items the decider already issued keep their records; the rest are numbered now.
            for spec in &input.item_records {
                record_item(&mut tx, application_id, application.submissions, spec, actor).await?;
            }
        }
        tx.commit().await?;
        Ok((next, permit))
    }

    async fn add_correction(
        &self,
        application_id: &str,
        reviewer_id: i64,
        now_ms: i64,
        correction: &NewCorrection,
        actor: &str,
    ) -> Result<CorrectionRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        if !application.is_claimed_by(reviewer_id, now_ms) || application.state != ApplicationState::NeedsReview.as_str() {
            return Err(StoreError::Conflict("claim the case in review before correcting it".into()));
        }
        let record: CorrectionRecord = sqlx::query_as(
            "INSERT INTO corrections (application_id, submission_seq, reviewer_id, field, original, corrected, reason, decision_after, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(application_id)
        .bind(application.submissions)
        .bind(reviewer_id)
        .bind(&correction.field)
        .bind(correction.original.to_string())
        .bind(correction.corrected.to_string())
        .bind(&correction.reason)
        .bind(&correction.decision_after)
        .bind(now_text())
        .fetch_one(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            "field.corrected",
            Some(application_id),
            serde_json::json!({
                "field": correction.field,
                "original": correction.original,
                "corrected": correction.corrected,
                "reason": correction.reason,
                "decision_after_sha256": sha256_hex(correction.decision_after.as_bytes()),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn corrections(&self, application_id: &str) -> Result<Vec<CorrectionRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM corrections WHERE application_id = ? ORDER BY id")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn reviews(&self, application_id: &str) -> Result<Vec<ReviewRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM reviews WHERE application_id = ? ORDER BY id").bind(application_id).fetch_all(&self.pool).await?)
    }

    async fn permit_for(&self, application_id: &str) -> Result<Option<PermitRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM permits WHERE application_id = ?").bind(application_id).fetch_optional(&self.pool).await?)
    }

    async fn revoke_permit(&self, number: &str, reason: &str, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let application_id: Option<String> =
            sqlx::query_scalar("UPDATE permits SET status = 'revoked' WHERE number = ? AND status = 'valid' RETURNING application_id")
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(application_id) = application_id else { return Ok(false) };
        audit(&mut tx, actor, "permit.revoked", Some(&application_id), serde_json::json!({"number": number, "reason": reason})).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn permit(&self, number: &str) -> Result<Option<PermitRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM permits WHERE number = ?").bind(number).fetch_optional(&self.pool).await?)
    }

    async fn open_cases(&self) -> Result<Vec<ApplicationRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM applications WHERE state IN ('submitted', 'needs_review') ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn escalate(&self, application_id: &str, today: &str, details: serde_json::Value) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query("UPDATE applications SET escalated_on = ? WHERE id = ? AND escalated_on IS NULL")
            .bind(today)
            .bind(application_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        audit(&mut tx, "system:deadlines", "case.escalated", Some(application_id), details).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn audit_for(&self, application_id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM audit_log WHERE application_id = ? ORDER BY seq")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn pending_jobs(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").fetch_one(&self.pool).await?)
    }
}
