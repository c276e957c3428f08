//! 好差评 in the database (SQLite or Postgres): ratings, work orders and their steps, and the facts the figures count.

use super::rows::{RatingRow, StepRow, WorkOrderRow};
use super::*;
use crate::domain::rating::Step;
use crate::storage::{CaseFacts, NewRating, RatingRecord, Ratings, StepInput, WorkOrderRecord, WorkOrderStepRecord};

fn day_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

async fn load_work_order(tx: &mut Tx, id: i64) -> Result<Option<WorkOrderRecord>, StoreError> {
    let row: Option<WorkOrderRow> = sqlx::query_as("SELECT * FROM work_orders WHERE id = $1").bind(id).fetch_optional(&mut **tx).await?;
    rows::optional(row)
}

#[async_trait::async_trait]
impl Ratings for SqlStore {
    async fn rate(&self, new: &NewRating<'_>, actor: &str) -> Result<(RatingRecord, Option<WorkOrderRecord>), StoreError> {
        let mut tx = self.write_tx().await?;
        let application = load_application(&mut tx, new.application_id).await?;
        if !matches!(application.state, ApplicationState::Issued | ApplicationState::Refused | ApplicationState::NeedsMaterials) {
            return Err(StoreError::Conflict(format!("application {} is not decided yet: rate it once it is", new.application_id)));
        }
        let rated: Option<i64> = sqlx::query_scalar("SELECT 1 FROM ratings WHERE application_id = $1")
            .bind(new.application_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if rated.is_some() {
            return Err(StoreError::Conflict(format!("application {} is rated already: a case is rated once", new.application_id)));
        }
        let rating = new.rating;
        let aspects: BTreeMap<&str, u8> = rating.aspects.iter().map(|(k, v)| (k.as_str(), v.value())).collect();
        let aspects_json = serde_json::to_string(&aspects).unwrap_or_else(|_| "{}".into());
        let now = now_text();
        sqlx::query(
            "INSERT INTO ratings (application_id, rater_id, level, aspects, comment, rated_state, handled_by, rated_on, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new.application_id.as_str())
        .bind(new.rater_id)
        .bind(i64::from(rating.level.value()))
        .bind(&aspects_json)
        .bind(&rating.comment)
        .bind(application.state.as_str())
        .bind(new.handled_by)
        .bind(day_text(new.rated_on))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        // The comment is the applicant's own words: the log keeps its hash, not its text.
        audit(
            &mut tx,
            actor,
            "rating.given",
            Some(new.application_id.as_str()),
            serde_json::json!({"level": rating.level.value(), "aspects": aspects, "comment_sha256": crate::domain::sha256_hex(rating.comment.as_bytes()), "rated_state": application.state.as_str()}),
        )
        .await?;
        let mut order_id = None;
        if let Some((due_on, assignee)) = new.work_order {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO work_orders (application_id, level, state, assignee_id, opened_on, due_on, updated_at) VALUES ($1, $2, 'open', $3, $4, $5, $6) RETURNING id",
            )
            .bind(new.application_id.as_str())
            .bind(i64::from(rating.level.value()))
            .bind(assignee)
            .bind(day_text(new.rated_on))
            .bind(day_text(due_on))
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
            audit(
                &mut tx,
                actor,
                "work_order.opened",
                Some(new.application_id.as_str()),
                serde_json::json!({"work_order": id, "level": rating.level.value(), "assignee_id": assignee, "due_on": day_text(due_on)}),
            )
            .await?;
            order_id = Some(id);
        }
        let row: RatingRow =
            sqlx::query_as("SELECT * FROM ratings WHERE application_id = $1").bind(new.application_id.as_str()).fetch_one(&mut *tx).await?;
        let order = match order_id {
            Some(id) => load_work_order(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok((row.try_into()?, order))
    }

    async fn rating(&self, id: &ApplicationId) -> Result<Option<RatingRecord>, StoreError> {
        Ok(self.rows_of::<RatingRow, RatingRecord>("SELECT * FROM ratings WHERE application_id = $1", id).await?.pop())
    }

    async fn work_orders(&self) -> Result<Vec<WorkOrderRecord>, StoreError> {
        rows::all(sqlx::query_as::<_, WorkOrderRow>("SELECT * FROM work_orders ORDER BY due_on, id").fetch_all(&self.pool).await?)
    }

    async fn work_order_of(&self, application: &ApplicationId) -> Result<Option<WorkOrderRecord>, StoreError> {
        let row: Option<WorkOrderRow> = sqlx::query_as("SELECT * FROM work_orders WHERE application_id = $1")
            .bind(application.as_str())
            .fetch_optional(&self.pool)
            .await?;
        rows::optional(row)
    }

    async fn work_order(&self, id: i64) -> Result<Option<(WorkOrderRecord, Vec<WorkOrderStepRecord>)>, StoreError> {
        let row: Option<WorkOrderRow> =
            sqlx::query_as("SELECT * FROM work_orders WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        let Some(order) = rows::optional::<_, WorkOrderRecord>(row)? else { return Ok(None) };
        let steps = rows::all(
            sqlx::query_as::<_, StepRow>("SELECT * FROM work_order_steps WHERE work_order_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?,
        )?;
        Ok(Some((order, steps)))
    }

    async fn work_order_step(&self, id: i64, input: &StepInput<'_>, removal: Option<&str>, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(order) = load_work_order(&mut tx, id).await? else { return Err(StoreError::NotFound(format!("work order {id}"))) };
        if order.state != input.from {
            return Ok(false);
        }
        let details = input.step.details();
        let now = now_text();
        sqlx::query(
            "INSERT INTO work_order_steps (work_order_id, step, actor_id, actor, on_date, text, details, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(input.step.name())
        .bind(input.actor_id)
        .bind(actor)
        .bind(day_text(input.on))
        .bind(input.text)
        .bind(details.to_string())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let grade = match input.step {
            Step::Close { grade } => Some(grade.as_str()),
            _ => None,
        };
        let finding = match input.step {
            Step::Verify { founded: true } | Step::DecideAppeal { upheld: false } => Some("founded"),
            Step::Verify { founded: false } => Some("unfounded"),
            _ => None,
        };
        sqlx::query(
            "UPDATE work_orders SET state = $1, updated_at = $2, rectified = CASE WHEN $3 = 1 THEN 1 ELSE rectified END, called_back = CASE WHEN $4 = 1 THEN 1 ELSE called_back END,
             grade = COALESCE($5, grade), finding = COALESCE($6, finding) WHERE id = $7",
        )
        .bind(input.to.as_str())
        .bind(&now)
        .bind(i64::from(matches!(input.step, Step::Rectify)))
        .bind(i64::from(matches!(input.step, Step::Callback)))
        .bind(grade)
        .bind(finding)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(reason) = removal {
            sqlx::query("UPDATE ratings SET removed_reason = $1 WHERE application_id = $2")
                .bind(reason)
                .bind(order.application_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        audit(
            &mut tx,
            actor,
            &format!("work_order.{}", input.step.name()),
            Some(order.application_id.as_str()),
            serde_json::json!({"work_order": id, "from": input.from.as_str(), "to": input.to.as_str(), "details": details,
                "text_sha256": crate::domain::sha256_hex(input.text.as_bytes()), "removed": removal.is_some()}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn escalate_work_order(&self, id: i64, today: NaiveDate) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(order) = load_work_order(&mut tx, id).await? else { return Ok(false) };
        let updated = sqlx::query("UPDATE work_orders SET escalated_on = $1 WHERE id = $2 AND escalated_on IS NULL AND state != 'closed'")
            .bind(day_text(today))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        audit(
            &mut tx,
            "system:deadlines",
            "work_order.escalated",
            Some(order.application_id.as_str()),
            serde_json::json!({"work_order": id, "due_on": day_text(order.due_on), "escalated_on": day_text(today)}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn case_facts(&self) -> Result<Vec<CaseFacts>, StoreError> {
        // One read transaction: the figures of one moment.
        let mut tx = self.read_tx().await?;
        let received: Vec<ApplicationRecord> = rows::all(
            sqlx::query_as::<_, ApplicationRow>("SELECT * FROM applications WHERE accepted_on IS NOT NULL ORDER BY accepted_on, id")
                .fetch_all(&mut *tx)
                .await?,
        )?;
        let decided: Vec<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT a.id, a.decided_on,
                    CASE WHEN EXISTS (SELECT 1 FROM reviews r WHERE r.application_id = a.id AND r.submission_seq = a.submissions) THEN 1 ELSE 0 END
             FROM applications a WHERE a.accepted_on IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        let decided: BTreeMap<String, (Option<String>, bool)> =
            decided.into_iter().map(|(id, on, person)| (id, (on, person != 0))).collect();
        let mut ratings: BTreeMap<String, RatingRecord> =
            rows::all::<_, RatingRecord>(sqlx::query_as::<_, RatingRow>("SELECT * FROM ratings").fetch_all(&mut *tx).await?)?
                .into_iter()
                .map(|r| (r.application_id.to_string(), r))
                .collect();
        let orders: Vec<WorkOrderRecord> =
            rows::all(sqlx::query_as::<_, WorkOrderRow>("SELECT * FROM work_orders").fetch_all(&mut *tx).await?)?;
        tx.rollback().await?;
        let mut orders: BTreeMap<String, WorkOrderRecord> = orders.into_iter().map(|o| (o.application_id.to_string(), o)).collect();
        received
            .into_iter()
            .map(|application| {
                let key = application.id.to_string();
                let (on, by_person) = decided.get(&key).cloned().unwrap_or((None, false));
                let decided_on = on
                    .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("decided_on: {e}")))?;
                Ok(CaseFacts { decided_on, by_person, rating: ratings.remove(&key), work_order: orders.remove(&key), application })
            })
            .collect()
    }
}
