//! The SQL implementation of the storage traits, one for both backends through sqlx's `Any`
//! driver: the same statements (numbered `$N` parameters, `RETURNING`, `ON CONFLICT DO NOTHING`,
//! which both understand) against SQLite or Postgres, each with its own migrations
//! (`migrations/sqlite`, `migrations/postgres`). Where the two differ, [`Backend`] says how.
//!
//! - **SQLite**: one file in the data directory, WAL mode, write transactions opened with
//!   `BEGIN IMMEDIATE` so that concurrent writers queue instead of failing.
//! - **Postgres**: several instances on one database. Every write transaction first takes one
//!   transaction-level advisory lock, so writes are serialised as SQLite's are (permit numbers,
//!   quotas and the queue bound are counted inside it, with no gap and no race); job claims skip
//!   rows another claim holds (`FOR UPDATE SKIP LOCKED`); snapshots are `REPEATABLE READ`.
//!
//! One file per trait; this one holds the connection and what they share.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Once;

use chrono::NaiveDate;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

use super::rows::{self, ApplicationRow};
use super::{
    Applications, AuditLog, ClaimOutcome, CorrectionRecord, DecisionRecord, DocumentLimits, DocumentRecord, ItemRecord, ItemRecordSpec,
    Job, Jobs, NewCorrection, NewDocument, PermitRecord, PermitSpec, QueueStats, ReviewInput, ReviewRecord, Reviews, StoreError,
    SubmissionRecord, Submitted, UserRecord, Users,
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

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock every Postgres write transaction takes first (any fixed number: "onewindow").
const WRITE_LOCK: i64 = 0x6f6e_6577_696e_646f;

/// A write transaction of either backend.
type Tx = Transaction<'static, Any>;

/// Which database the store speaks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names: `postgres://` or `postgresql://`, else SQLite (a
    /// `sqlite:` URL or a file path).
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl SqlStore {
    /// Opens and migrates the database at `url`: `postgres://…`, `sqlite://…` or a path (a
    /// SQLite file, created if missing).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::of_url(url);
        let (options, migrator) = match backend {
            Backend::Postgres => (AnyConnectOptions::from_str(url)?, &POSTGRES_MIGRATOR),
            Backend::Sqlite => {
                let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
                let (path, query) = path.split_once('?').unwrap_or((path, ""));
                let mode = if query.is_empty() { "mode=rwc".to_string() } else { query.to_string() };
                (AnyConnectOptions::from_str(&format!("sqlite://{path}?{mode}"))?, &SQLITE_MIGRATOR)
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    } else {
                        // A writer waits at most 30 s for the write lock (an error, not a hang,
                        // when an instance stalls holding it), and a session idle inside a
                        // transaction for a minute (a frozen instance) is ended, its locks freed.
                        conn.execute("SET lock_timeout = '30s'; SET idle_in_transaction_session_timeout = '60s';").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        migrator.run(&pool).await.map_err(|e| StoreError::Database(e.into()))?;
        let store = Self { pool, backend };
        store.catch_up_tree().await?;
        store.check_head().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The log's head row names its last entry, and the log holds every entry up to it: a log cut
    /// short or added to past its head (a restored copy, an edit) is named here, before anything
    /// is appended to it.
    async fn check_head(&self) -> Result<(), StoreError> {
        // One snapshot: another instance may append between two separate reads.
        let mut tx = self.read_tx().await?;
        let head: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?;
        let (last, count): (i64, i64) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM audit_log").fetch_one(&mut *tx).await?;
        tx.rollback().await?;
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
            sqlx::query_as("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq").bind(size).fetch_all(&mut *tx).await?;
        for entry in &missing {
            append_leaf(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A transaction that writes: one at a time across every process on the database.
    async fn write_tx(&self) -> Result<Tx, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
                Ok(tx)
            }
        }
    }

    /// A transaction whose reads all see one moment of the database.
    async fn read_tx(&self) -> Result<Tx, StoreError> {
        match self.backend {
            // Deferred: in WAL mode its first read fixes the snapshot every later read sees.
            Backend::Sqlite => Ok(self.pool.begin().await?),
            Backend::Postgres => Ok(self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?),
        }
    }

    /// Every row `sql` selects for one application (its one `$1`), as records: the shape of each
    /// per-application list (documents, decisions, reviews, …).
    async fn rows_of<R, T>(&self, sql: &'static str, id: &ApplicationId) -> Result<Vec<T>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        rows::all(sqlx::query_as::<_, R>(sql).bind(id.as_str()).fetch_all(&self.pool).await?)
    }
}

/// Appends one audit event inside the caller's transaction, chained to the last one, after the
/// log's head row (`audit_head`, migration 0014).
async fn audit(tx: &mut Tx, actor: &str, kind: &str, application_id: Option<&str>, payload: serde_json::Value) -> Result<(), StoreError> {
    // The head row, locked by this update until the transaction ends: appends take their turn
    // here, so that the log has one order however many writers share the database.
    let seq: i64 = sqlx::query_scalar("UPDATE audit_head SET size = size + 1 WHERE id = 1 RETURNING size").fetch_one(&mut **tx).await?;
    let prev_hash = if seq == 1 {
        GENESIS_HASH.to_string()
    } else {
        let prev: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1").bind(seq - 1).fetch_optional(&mut **tx).await?;
        prev.ok_or_else(|| {
            StoreError::Corrupt(format!("the audit log's head counts {} entries but entry {} is missing", seq - 1, seq - 1))
        })?
    };
    let at = now_text();
    let payload = payload.to_string();
    let hash = entry_hash(seq, &at, actor, kind, application_id, &payload, &prev_hash);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, kind, application_id, payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
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
async fn tree_hashes(conn: &mut sqlx::AnyConnection, nodes: &[(u32, u64)]) -> Result<merkle::FetchedHashes, StoreError> {
    let mut fetched = merkle::FetchedHashes::default();
    for &(level, index) in nodes {
        let hash: Option<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM audit_tree WHERE level = $1 AND idx = $2")
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
async fn append_leaf(conn: &mut sqlx::AnyConnection, entry: &AuditEntry) -> Result<(), StoreError> {
    let index = entry.leaf_index();
    let leaf = merkle::leaf_hash(&entry.leaf_bytes());
    let needed = merkle::NeededHashes::of(|s| merkle::hashes_completed_by(s, index, leaf).map(|_| ()));
    let fetched = tree_hashes(&mut *conn, &needed).await?;
    let completed = merkle::hashes_completed_by(&fetched, index, leaf).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for (level, idx, hash) in completed {
        sqlx::query("INSERT INTO audit_tree (level, idx, hash) VALUES ($1, $2, $3)")
            .bind(i64::from(level))
            .bind(idx as i64)
            .bind(hash.to_vec())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn load_application(tx: &mut Tx, id: &ApplicationId) -> Result<ApplicationRecord, StoreError> {
    let row: Option<ApplicationRow> =
        sqlx::query_as("SELECT * FROM applications WHERE id = $1").bind(id.as_str()).fetch_optional(&mut **tx).await?;
    rows::optional(row)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

async fn set_state(tx: &mut Tx, id: &ApplicationId, state: ApplicationState) -> Result<(), StoreError> {
    sqlx::query("UPDATE applications SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(now_text())
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A new, empty database on the Postgres server at `server` (a URL naming any database there, with no
/// query, as `postgres://user@127.0.0.1:5432/postgres`), and its URL: each test gets its own.
#[cfg(test)]
pub(crate) async fn test_database(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("onewindow_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(server).await.expect("connecting to the test Postgres server");
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("creating a test database");
    let (host, _database) = server.rsplit_once('/').expect("a postgres URL ending in /DATABASE");
    format!("{host}/{name}")
}
