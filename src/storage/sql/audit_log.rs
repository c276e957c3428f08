//! The audit log, rule-set snapshots and the health query.

use super::*;

#[async_trait::async_trait]
impl AuditLog for SqlStore {
    async fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM audit_log ORDER BY seq").fetch_all(&self.pool).await?)
    }

    async fn audit_snapshot(&self) -> Result<crate::storage::AuditSnapshot, StoreError> {
        let mut tx = self.read_tx().await?;
        let entries: Vec<AuditEntry> = sqlx::query_as("SELECT * FROM audit_log ORDER BY seq").fetch_all(&mut *tx).await?;
        let checkpoints: Vec<(i64, String)> =
            sqlx::query_as("SELECT size, note FROM audit_checkpoints ORDER BY size").fetch_all(&mut *tx).await?;
        let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_tree WHERE level = 0").fetch_one(&mut *tx).await?;
        let size = size as u64;
        let needed = merkle::NeededHashes::of(|s| merkle::root(s, size).map(|_| ()));
        let fetched = super::tree_hashes(&mut tx, &needed).await?;
        let root = merkle::root(&fetched, size).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.rollback().await?;
        Ok(crate::storage::AuditSnapshot {
            entries,
            checkpoints: checkpoints.into_iter().map(|(size, note)| (size as u64, note)).collect(),
            tree_size: size,
            root,
        })
    }

    async fn audit_page(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2")
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn audit_range(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq")
            .bind(start as i64)
            .bind(end as i64)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn audit_for(&self, application_id: &ApplicationId) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM audit_log WHERE application_id = $1 ORDER BY seq")
            .bind(application_id.as_str())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn tree_size(&self) -> Result<u64, StoreError> {
        // Leaves are written in order from 0 with no gap: the highest index tells the size (one index seek).
        let size: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_tree WHERE level = 0").fetch_one(&self.pool).await?;
        Ok(size as u64)
    }

    async fn tree_hashes(&self, nodes: &[(u32, u64)]) -> Result<merkle::FetchedHashes, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::tree_hashes(&mut conn, nodes).await
    }

    async fn keep_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_checkpoints (size, note, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(size as i64)
            .bind(note)
            .bind(now_text())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").fetch_optional(&self.pool).await?;
        Ok(row.map(|(size, note)| (size as u64, note)))
    }

    async fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT size, note FROM audit_checkpoints ORDER BY size").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(size, note)| (size as u64, note)).collect())
    }

    async fn save_ruleset(&self, hash: &str, files: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO rulesets (hash, files) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(hash)
            .bind(files)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn ruleset(&self, hash: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT files FROM rulesets WHERE hash = $1").bind(hash).fetch_optional(&self.pool).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

impl SqlStore {
    /// The database's size on disk, in bytes (for `bench --audit`).
    pub async fn size_bytes(&self) -> Result<u64, StoreError> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT pg_database_size(current_database())",
            Backend::Sqlite => "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        };
        let bytes: i64 = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Appends `n` entries of kind `bench.append` through the log's own append (its chain and its
    /// tree's hashes), `per_transaction` to a write transaction. For `onewindow bench --audit`
    /// only: the service never writes an entry without the change it records.
    pub async fn bench_appends(&self, n: u64, per_transaction: u64) -> Result<(), StoreError> {
        let mut done = 0;
        while done < n {
            let mut tx = self.write_tx().await?;
            for _ in 0..per_transaction.min(n - done) {
                done += 1;
                audit(&mut tx, "system:bench", "bench.append", None, serde_json::json!({"n": done})).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}
