//! Applications, documents, submissions and decisions.

use super::*;

#[async_trait::async_trait]
impl Applications for SqlStore {
    async fn create_application(
        &self,
        id: &ApplicationId,
        service: &str,
        form: &str,
        owner_id: Option<i64>,
        max_per_day: usize,
        actor: &str,
    ) -> Result<ApplicationRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let now = now_text();
        if let Some(owner) = owner_id {
            // Counted in the transaction that inserts, as the queue bound is.
            let today: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE owner_id = $1 AND substr(created_at, 1, 10) = $2")
                .bind(owner)
                .bind(&now[..10])
                .fetch_one(&mut *tx)
                .await?;
            if today as usize >= max_per_day {
                return Err(StoreError::Quota(format!("at most {max_per_day} applications a day")));
            }
        }
        sqlx::query(
            "INSERT INTO applications (id, service, form, state, submissions, created_at, updated_at, owner_id) VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
        )
        .bind(id.as_str())
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
            Some(id.as_str()),
            serde_json::json!({"service": service, "form_sha256": sha256_hex(form.as_bytes())}),
        )
        .await?;
        let record = load_application(&mut tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn application(&self, id: &ApplicationId) -> Result<Option<ApplicationRecord>, StoreError> {
        rows::optional(
            sqlx::query_as::<_, ApplicationRow>("SELECT * FROM applications WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn add_documents(
        &self,
        application_id: &ApplicationId,
        documents: &[NewDocument],
        limits: DocumentLimits,
        actor: &str,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        application.state.add_document()?;
        let (count, total): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM documents WHERE application_id = $1 AND withdrawn_at IS NULL",
        )
        .bind(application_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if count as usize + documents.len() > limits.max_files {
            return Err(StoreError::TooManyFiles(limits.max_files));
        }
        let new_bytes: u64 = documents.iter().map(|d| d.size_bytes).sum();
        let (ever_count, ever_total): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM documents WHERE application_id = $1")
                .bind(application_id.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if ever_count as usize + documents.len() > 2 * limits.max_files || ever_total as u64 + new_bytes > 2 * limits.max_application_bytes
        {
            return Err(StoreError::Quota(format!(
                "withdrawn files count too: an application may have stored at most {} files and {} bytes",
                2 * limits.max_files,
                2 * limits.max_application_bytes
            )));
        }
        if let Some(owner) = application.owner_id {
            let stored: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(d.size_bytes), 0) AS BIGINT) FROM documents d JOIN applications a ON a.id = d.application_id WHERE a.owner_id = $1",
            )
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
            if stored as u64 + new_bytes > limits.max_account_bytes {
                return Err(StoreError::Quota(format!("at most {} bytes stored over all applications", limits.max_account_bytes)));
            }
        }
        let new_total = total as u64 + documents.iter().map(|d| d.size_bytes).sum::<u64>();
        if new_total > limits.max_application_bytes {
            return Err(StoreError::TooLarge { total: new_total, limit: limits.max_application_bytes });
        }
        let mut records = Vec::new();
        for document in documents {
            let row: rows::DocumentRow = sqlx::query_as(
                "INSERT INTO documents (application_id, file_name, sha256, size_bytes, format, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            )
            .bind(application_id.as_str())
            .bind(&document.file_name)
            .bind(&document.sha256)
            .bind(document.size_bytes as i64)
            .bind(&document.format)
            .bind(now_text())
            .fetch_one(&mut *tx)
            .await?;
            let record = DocumentRecord::try_from(row)?;
            audit(
                &mut tx,
                actor,
                "document.stored",
                Some(application_id.as_str()),
                serde_json::json!({"document_id": record.id, "file": document.file_name, "sha256": document.sha256, "size_bytes": document.size_bytes, "format": document.format}),
            )
            .await?;
            records.push(record);
        }
        tx.commit().await?;
        Ok(records)
    }

    async fn documents(&self, application_id: &ApplicationId) -> Result<Vec<DocumentRecord>, StoreError> {
        self.rows_of::<rows::DocumentRow, _>("SELECT * FROM documents WHERE application_id = $1 ORDER BY id", application_id).await
    }

    async fn update_form(&self, id: &ApplicationId, form: &str, actor: &str) -> Result<ApplicationRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, id).await?;
        if application.state != ApplicationState::Draft {
            return Err(StoreError::Conflict(format!("the form of application {id} can be changed only before it is first submitted")));
        }
        sqlx::query("UPDATE applications SET form = $1, updated_at = $2 WHERE id = $3")
            .bind(form)
            .bind(now_text())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let form_sha256 = crate::domain::sha256_hex(form.as_bytes());
        audit(&mut tx, actor, "application.form_changed", Some(id.as_str()), serde_json::json!({"form_sha256": form_sha256})).await?;
        let updated = load_application(&mut tx, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn applications_of(&self, owner_id: i64) -> Result<Vec<ApplicationRecord>, StoreError> {
        let rows: Vec<ApplicationRow> = sqlx::query_as("SELECT * FROM applications WHERE owner_id = $1 ORDER BY created_at DESC, id")
            .bind(owner_id)
            .fetch_all(&self.pool)
            .await?;
        rows::all(rows)
    }

    async fn withdraw_document(&self, application_id: &ApplicationId, document_id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        application.state.add_document()?;
        let updated = sqlx::query("UPDATE documents SET withdrawn_at = $1 WHERE id = $2 AND application_id = $3 AND withdrawn_at IS NULL")
            .bind(now_text())
            .bind(document_id)
            .bind(application_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        audit(&mut tx, actor, "document.withdrawn", Some(application_id.as_str()), serde_json::json!({"document_id": document_id})).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn submit(
        &self,
        application_id: &ApplicationId,
        idempotency_key: &str,
        submitted_on: NaiveDate,
        resumed_after_days: i64,
        max_pending: i64,
        actor: &str,
    ) -> Result<Submitted, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        let earlier: Option<rows::SubmissionRow> =
            sqlx::query_as("SELECT * FROM submissions WHERE application_id = $1 AND idempotency_key = $2")
                .bind(application_id.as_str())
                .bind(idempotency_key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(submission) = rows::optional(earlier)? {
            return Ok(Submitted { submission, repeated: true });
        }
        let next = application.state.submit()?;
        // Counted inside the write transaction (SQLite's BEGIN IMMEDIATE, Postgres's write lock):
        // no other submission, of any instance, can insert between this count and the insert below.
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").fetch_one(&mut *tx).await?;
        if pending >= max_pending {
            return Err(StoreError::Overloaded { pending, bound: max_pending });
        }
        let seq = application.submissions + 1;
        let document_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM documents WHERE application_id = $1 AND withdrawn_at IS NULL ORDER BY id")
                .bind(application_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let now = now_text();
        let submitted_on = submitted_on.format("%Y-%m-%d").to_string();
        let row: rows::SubmissionRow = sqlx::query_as(
            "INSERT INTO submissions (application_id, seq, idempotency_key, submitted_on, document_ids, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        )
        .bind(application_id.as_str())
        .bind(seq)
        .bind(idempotency_key)
        .bind(&submitted_on)
        .bind(serde_json::to_string(&document_ids).unwrap_or_default())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let submission = SubmissionRecord::try_from(row)?;
        sqlx::query(
            "UPDATE applications SET state = $1, submissions = $2, updated_at = $3, accepted_on = COALESCE(accepted_on, $4),
             paused_days = paused_days + (CASE WHEN waiting_since IS NULL THEN 0 ELSE $5 END), waiting_since = NULL WHERE id = $6",
        )
        .bind(next.as_str())
        .bind(seq)
        .bind(&now)
        .bind(&submitted_on)
        .bind(resumed_after_days)
        .bind(application_id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO jobs (application_id, submission_seq, state, created_at) VALUES ($1, $2, 'queued', $3)")
            .bind(application_id.as_str())
            .bind(seq)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            actor,
            "application.submitted",
            Some(application_id.as_str()),
            serde_json::json!({"submission": seq, "submitted_on": submitted_on, "document_ids": document_ids}),
        )
        .await?;
        tx.commit().await?;
        Ok(Submitted { submission, repeated: false })
    }

    async fn submission(&self, application_id: &ApplicationId, seq: i64) -> Result<Option<SubmissionRecord>, StoreError> {
        rows::optional(
            sqlx::query_as::<_, rows::SubmissionRow>("SELECT * FROM submissions WHERE application_id = $1 AND seq = $2")
                .bind(application_id.as_str())
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn decisions(&self, application_id: &ApplicationId) -> Result<Vec<DecisionRecord>, StoreError> {
        self.rows_of::<rows::DecisionRow, _>("SELECT * FROM decisions WHERE application_id = $1 ORDER BY submission_seq", application_id)
            .await
    }

    async fn item_records(&self, application_id: &ApplicationId) -> Result<Vec<ItemRecord>, StoreError> {
        self.rows_of::<rows::ItemRow, _>("SELECT * FROM item_records WHERE application_id = $1 ORDER BY id", application_id).await
    }

    async fn open_cases(&self) -> Result<Vec<ApplicationRecord>, StoreError> {
        rows::all(
            sqlx::query_as::<_, ApplicationRow>("SELECT * FROM applications WHERE state IN ('submitted', 'needs_review') ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn escalate(&self, application_id: &ApplicationId, today: NaiveDate, details: serde_json::Value) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query("UPDATE applications SET escalated_on = $1 WHERE id = $2 AND escalated_on IS NULL")
            .bind(today.format("%Y-%m-%d").to_string())
            .bind(application_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        audit(&mut tx, "system:deadlines", "case.escalated", Some(application_id.as_str()), details).await?;
        tx.commit().await?;
        Ok(true)
    }
}
