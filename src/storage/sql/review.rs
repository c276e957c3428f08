//! Review: the queue, claims, the human decision, corrections, and permits.

use super::*;

#[async_trait::async_trait]
impl Reviews for SqlStore {
    async fn review_queue(&self, service: Option<&str>) -> Result<Vec<ApplicationRecord>, StoreError> {
        rows::all(
            sqlx::query_as::<_, ApplicationRow>(
                "SELECT * FROM applications WHERE state = 'needs_review' AND ($1 IS NULL OR service = $2) ORDER BY updated_at, id",
            )
            .bind(service)
            .bind(service)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn claim(
        &self,
        application_id: &ApplicationId,
        reviewer_id: i64,
        now_ms: i64,
        lease_ms: i64,
        actor: &str,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        if application.state != ApplicationState::NeedsReview {
            return Ok(ClaimOutcome::NotInReview(application.state));
        }
        if application.owner_id == Some(reviewer_id) {
            return Ok(ClaimOutcome::OwnApplication);
        }
        if application.is_claimed(now_ms) && !application.is_claimed_by(reviewer_id, now_ms) {
            return Ok(ClaimOutcome::HeldByOther);
        }
        let until_ms = now_ms + lease_ms;
        sqlx::query("UPDATE applications SET claimed_by = $1, claim_until_ms = $2 WHERE id = $3")
            .bind(reviewer_id)
            .bind(until_ms)
            .bind(application_id.as_str())
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            actor,
            "review.claimed",
            Some(application_id.as_str()),
            serde_json::json!({"reviewer_id": reviewer_id, "until_ms": until_ms}),
        )
        .await?;
        tx.commit().await?;
        Ok(ClaimOutcome::Claimed { until_ms })
    }

    async fn release(&self, application_id: &ApplicationId, reviewer_id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        if application.claimed_by != Some(reviewer_id) {
            return Ok(false);
        }
        sqlx::query("UPDATE applications SET claimed_by = NULL, claim_until_ms = NULL WHERE id = $1")
            .bind(application_id.as_str())
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "review.released", Some(application_id.as_str()), serde_json::json!({"reviewer_id": reviewer_id})).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn review(
        &self,
        application_id: &ApplicationId,
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
        let next = application.state.review(input.action)?;
        sqlx::query(
            "INSERT INTO reviews (application_id, submission_seq, reviewer_id, action, reason_code, text, missing_materials, document, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(application_id.as_str())
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
        let waiting_since = (next == ApplicationState::NeedsMaterials).then(|| input.decided_on.format("%Y-%m-%d").to_string());
        sqlx::query(
            "UPDATE applications SET state = $1, claimed_by = NULL, claim_until_ms = NULL, updated_at = $2, waiting_since = $3, decided_on = $4
             WHERE id = $5",
        )
        .bind(next.as_str())
        .bind(now_text())
        .bind(waiting_since)
        .bind(input.decided_on.format("%Y-%m-%d").to_string())
        .bind(application_id.as_str())
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            "review.decided",
            Some(application_id.as_str()),
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
            (crate::domain::application::ReviewAction::Issue, Some(spec)) => {
                Some(issue_permit(&mut tx, application_id.as_str(), spec).await?)
            }
            _ => None,
        };
        if input.action == crate::domain::application::ReviewAction::Issue {
            // Items the decider already issued keep their records; the rest are numbered now.
            for spec in &input.item_records {
                record_item(&mut tx, application_id.as_str(), application.submissions, spec, actor).await?;
            }
        }
        tx.commit().await?;
        Ok((next, permit))
    }

    async fn reviews(&self, application_id: &ApplicationId) -> Result<Vec<ReviewRecord>, StoreError> {
        self.rows_of::<rows::ReviewRow, _>("SELECT * FROM reviews WHERE application_id = $1 ORDER BY id", application_id).await
    }

    async fn add_correction(
        &self,
        application_id: &ApplicationId,
        reviewer_id: i64,
        now_ms: i64,
        correction: &NewCorrection,
        actor: &str,
    ) -> Result<CorrectionRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, application_id).await?;
        if !application.is_claimed_by(reviewer_id, now_ms) || application.state != ApplicationState::NeedsReview {
            return Err(StoreError::Conflict("claim the case in review before correcting it".into()));
        }
        let row: rows::CorrectionRow = sqlx::query_as(
            "INSERT INTO corrections (application_id, submission_seq, reviewer_id, field, original, corrected, reason, decision_after, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        )
        .bind(application_id.as_str())
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
        let record = CorrectionRecord::try_from(row)?;
        audit(
            &mut tx,
            actor,
            "field.corrected",
            Some(application_id.as_str()),
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

    async fn corrections(&self, application_id: &ApplicationId) -> Result<Vec<CorrectionRecord>, StoreError> {
        self.rows_of::<rows::CorrectionRow, _>("SELECT * FROM corrections WHERE application_id = $1 ORDER BY id", application_id).await
    }

    async fn permit_for(&self, application_id: &ApplicationId) -> Result<Option<PermitRecord>, StoreError> {
        rows::optional(
            sqlx::query_as::<_, rows::PermitRow>("SELECT * FROM permits WHERE application_id = $1")
                .bind(application_id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn permit(&self, number: &str) -> Result<Option<PermitRecord>, StoreError> {
        rows::optional(
            sqlx::query_as::<_, rows::PermitRow>("SELECT * FROM permits WHERE number = $1").bind(number).fetch_optional(&self.pool).await?,
        )
    }

    async fn revoke_permit(&self, number: &str, reason: &str, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let application_id: Option<String> =
            sqlx::query_scalar("UPDATE permits SET status = 'revoked' WHERE number = $1 AND status = 'valid' RETURNING application_id")
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(application_id) = application_id else { return Ok(false) };
        audit(&mut tx, actor, "permit.revoked", Some(&application_id), serde_json::json!({"number": number, "reason": reason})).await?;
        tx.commit().await?;
        Ok(true)
    }
}
