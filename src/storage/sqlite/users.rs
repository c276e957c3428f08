//! Accounts.

use super::*;

#[async_trait::async_trait]
impl Users for SqliteStore {
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
}
