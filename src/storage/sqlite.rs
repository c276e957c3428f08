//! The SQLite implementation of the storage traits: one file in the data directory, WAL mode, and
//! write transactions opened with `BEGIN IMMEDIATE` so concurrent writers queue instead of failing.
//! One file per trait; this one holds the connection and what they share.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::rows::{self, ApplicationRow};
use super::{
    Applications, AuditLog, ClaimOutcome, CorrectionRecord, DecisionRecord, DocumentLimits, DocumentRecord, ItemRecord, ItemRecordSpec,
    Job, Jobs, NewCorrection, NewDocument, PermitRecord, PermitSpec, ReviewInput, ReviewRecord, Reviews, StoreError, SubmissionRecord,
    Submitted, UserRecord, Users,
};
use super::{NewUser, SessionRecord, Sessions};
use crate::audit::{entry_hash, merkle, AuditEntry, GENESIS_HASH};
use crate::domain::application::{ApplicationId, ApplicationState};
use crate::domain::decision::{Decision, Outcome};
use crate::domain::sha256_hex;
use crate::storage::records::ApplicationRecord;

mod applications;
mod audit_log;
mod jobs;
mod numbering;
mod ratings;
mod review;
mod users;

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
        let store = Self { pool };
        store.catch_up_tree().await?;
        store.check_head().await?;
        Ok(store)
    }

    /// The log's head row names its last entry, and the log holds every entry up to it: a log cut
    /// short or added to past its head (a restored copy, an edit) is named here, before anything
    /// is appended to it.
    async fn check_head(&self) -> Result<(), StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        let (last, count): (i64, i64) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM audit_log").fetch_one(&self.pool).await?;
        if head != last || count != last {
            return Err(StoreError::Corrupt(format!(
                "the audit log's head names entry {head}, but the log holds {count} entries up to entry {last}: \
                 it was cut short, added to or renumbered outside the service"
            )));
        }
        Ok(())
    }

    pub async fn open_in(data_dir: &Path) -> Result<Self, StoreError> {
        Self::connect(&data_dir.join("onewindow.db").to_string_lossy()).await
    }

    /// Puts into the Merkle tree the entries logged before it existed (a log made before
    /// migration 0011), oldest first, in one transaction.
    async fn catch_up_tree(&self) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let size: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_tree WHERE level = 0").fetch_one(&mut *tx).await?;
        let missing: Vec<AuditEntry> =
            sqlx::query_as("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq").bind(size).fetch_all(&mut *tx).await?;
        for entry in &missing {
            append_leaf(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Every row `sql` selects for one application (its one `?`), as records: the shape of each
    /// per-application list (documents, decisions, reviews, …).
    async fn rows_of<R, T>(&self, sql: &'static str, id: &ApplicationId) -> Result<Vec<T>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        rows::all(sqlx::query_as::<_, R>(sql).bind(id.as_str()).fetch_all(&self.pool).await?)
    }
}

/// Appends one audit event inside the caller's transaction, chained to the last one, after the
/// log's head row (`audit_head`, migration 0014).
async fn audit(
    tx: &mut Transaction<'static, Sqlite>,
    actor: &str,
    kind: &str,
    application_id: Option<&str>,
    payload: serde_json::Value,
) -> Result<(), StoreError> {
    // The head row, locked by this update until the transaction ends: appends take their turn
    // here, so that the log has one order however many writers share the database.
    let seq: i64 = sqlx::query_scalar("UPDATE audit_head SET size = size + 1 WHERE id = 1 RETURNING size").fetch_one(&mut **tx).await?;
    let prev_hash = if seq == 1 {
        GENESIS_HASH.to_string()
    } else {
        let prev: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = ?").bind(seq - 1).fetch_optional(&mut **tx).await?;
        prev.ok_or_else(|| {
            StoreError::Corrupt(format!("the audit log's head counts {} entries but entry {} is missing", seq - 1, seq - 1))
        })?
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
    let entry = AuditEntry {
        seq,
        at,
        actor: actor.into(),
        kind: kind.into(),
        application_id: application_id.map(Into::into),
        payload,
        prev_hash,
        hash,
    };
    append_leaf(tx, &entry).await
}

/// The stored tree hashes `nodes`, read one by one (a proof needs O(log n) of them).
async fn tree_hashes(conn: &mut sqlx::SqliteConnection, nodes: &[(u32, u64)]) -> Result<merkle::FetchedHashes, StoreError> {
    let mut fetched = merkle::FetchedHashes::default();
    for &(level, index) in nodes {
        let hash: Option<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM audit_tree WHERE level = ? AND idx = ?")
            .bind(i64::from(level))
            .bind(index as i64)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(hash) = hash {
            let hash: merkle::Hash =
                hash.try_into().map_err(|_| StoreError::Corrupt(format!("audit tree hash ({level}, {index}) is not 32 bytes")))?;
            fetched.0.insert((level, index), hash);
        }
    }
    Ok(fetched)
}

/// Adds an entry to the Merkle tree: its leaf and every subtree it completes, in the caller's
/// transaction.
async fn append_leaf(conn: &mut sqlx::SqliteConnection, entry: &AuditEntry) -> Result<(), StoreError> {
    let index = entry.leaf_index();
    let leaf = merkle::leaf_hash(&entry.leaf_bytes());
    let needed = merkle::NeededHashes::of(|s| merkle::hashes_completed_by(s, index, leaf).map(|_| ()));
    let fetched = tree_hashes(&mut *conn, &needed).await?;
    let completed = merkle::hashes_completed_by(&fetched, index, leaf).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for (level, idx, hash) in completed {
        sqlx::query("INSERT INTO audit_tree (level, idx, hash) VALUES (?, ?, ?)")
            .bind(i64::from(level))
            .bind(idx as i64)
            .bind(hash.to_vec())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn load_application(tx: &mut Transaction<'static, Sqlite>, id: &ApplicationId) -> Result<ApplicationRecord, StoreError> {
    let row: Option<ApplicationRow> =
        sqlx::query_as("SELECT * FROM applications WHERE id = ?").bind(id.as_str()).fetch_optional(&mut **tx).await?;
    rows::optional(row)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

async fn set_state(tx: &mut Transaction<'static, Sqlite>, id: &ApplicationId, state: ApplicationState) -> Result<(), StoreError> {
    sqlx::query("UPDATE applications SET state = ?, updated_at = ? WHERE id = ?")
        .bind(state.as_str())
        .bind(now_text())
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
