//! Accounts, their passwords, and browser sessions.

use super::*;

#[async_trait::async_trait]
impl Users for SqlStore {
    async fn create_user(&self, name: &str, role: &str, token_sha256: &str, actor: &str) -> Result<UserRecord, StoreError> {
        self.create_account(&NewUser { name, role, token_sha256, password_hash: None, phone: None }, actor).await
    }

    async fn user_by_token(&self, token_sha256: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE token_sha256 = $1").bind(token_sha256).fetch_optional(&self.pool).await?)
    }

    async fn create_account(&self, user: &NewUser<'_>, actor: &str) -> Result<UserRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query_as::<_, UserRecord>(
            "INSERT INTO users (name, role, token_sha256, created_at, password_hash, phone) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        )
        .bind(user.name)
        .bind(user.role)
        .bind(user.token_sha256)
        .bind(now_text())
        .bind(user.password_hash)
        .bind(user.phone)
        .fetch_one(&mut *tx)
        .await;
        let record = match inserted {
            Ok(record) => record,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!("a user named {} already exists", user.name)));
            }
            Err(e) => return Err(e.into()),
        };
        let payload = serde_json::json!({
            "user_id": record.id, "name": user.name, "role": user.role, "password": user.password_hash.is_some(),
        });
        audit(&mut tx, actor, "user.created", None, payload).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE name = $1").bind(name).fetch_optional(&self.pool).await?)
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    async fn set_password(&self, user_id: i64, password_hash: &str, keep: Option<&str>, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let changed =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2").bind(password_hash).bind(user_id).execute(&mut *tx).await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("no account with id {user_id}")));
        }
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_sha256 IS DISTINCT FROM $2")
            .bind(user_id)
            .bind(keep)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        audit(&mut tx, actor, "user.password_changed", None, serde_json::json!({"user_id": user_id, "sessions_ended": ended})).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    created_ms: i64,
    last_seen_ms: i64,
    #[sqlx(flatten)]
    user: UserRecord,
}

#[async_trait::async_trait]
impl Sessions for SqlStore {
    async fn create_session(&self, token_sha256: &str, user_id: i64, now_ms: i64, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO sessions (token_sha256, user_id, created_ms, last_seen_ms) VALUES ($1, $2, $3, $4)")
            .bind(token_sha256)
            .bind(user_id)
            .bind(now_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "user.signed_in", None, serde_json::json!({"user_id": user_id})).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, token_sha256: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.created_ms, s.last_seen_ms, u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SessionRecord { user: r.user, created_ms: r.created_ms, last_seen_ms: r.last_seen_ms }))
    }

    async fn touch_session(&self, token_sha256: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_ms = CASE WHEN last_seen_ms < $1 THEN $1 ELSE last_seen_ms END WHERE token_sha256 = $2")
            .bind(now_ms)
            .bind(token_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn end_session(&self, token_sha256: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(token_sha256).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_sessions(&self, idle_before_ms: i64, started_before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_ms < $1 OR created_ms < $2")
            .bind(idle_before_ms)
            .bind(started_before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
