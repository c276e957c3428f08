//! Storage behind focused traits: accounts, applications and their documents, the job queue,
//! review and permits, rule-set snapshots and the audit log, implemented once for SQLite and
//! Postgres (`storage/sql.rs`), both held to the same conformance tests (`storage/conformance.rs`).
//!
//! Every state change and its audit event are written in one transaction by the method that makes
//! the change, so the log can never disagree with the state. Records come back in domain types.

pub mod blobs;
#[cfg(test)]
mod conformance;
pub mod records;
mod rows;
pub mod sql;

use chrono::NaiveDate;

use crate::audit::AuditEntry;
use crate::domain::application::{ApplicationId, ApplicationState, TransitionError};
use crate::domain::decision::Decision;

pub use blobs::BlobStore;
pub use records::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("application {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("application already holds {0} files, the most allowed")]
    TooManyFiles(usize),
    #[error("application would hold {total} bytes, more than the {limit} allowed")]
    TooLarge { total: u64, limit: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("this account has reached its quota: {0}")]
    Quota(String),
    #[error("{pending} decisions are queued (bound {bound}); submit again later, nothing was lost")]
    Overloaded { pending: i64, bound: i64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

/// Accounts and their API tokens (only a token's SHA-256 is stored).
#[async_trait::async_trait]
pub trait Users: Send + Sync {
    /// Creates an account; a name already taken is a `Conflict`.
    async fn create_user(&self, name: &str, role: &str, token_sha256: &str, actor: &str) -> Result<UserRecord, StoreError>;
    async fn user_by_token(&self, token_sha256: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Creates an account with its password and phone, if it has them; a name taken is a `Conflict`.
    async fn create_account(&self, user: &NewUser<'_>, actor: &str) -> Result<UserRecord, StoreError>;
    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;
    /// Sets an account's password and ends every session of it except `keep` (the one that changed
    /// it, if any), in one transaction with its audit event.
    async fn set_password(&self, user_id: i64, password_hash: &str, keep: Option<&str>, actor: &str) -> Result<(), StoreError>;
}

/// Browser sessions, stored as their token's SHA-256. Expiry is the caller's: it reads the times.
#[async_trait::async_trait]
pub trait Sessions: Send + Sync {
    /// Starts a session for a signed-in account, with its audit event (`user.signed_in`).
    async fn create_session(&self, token_sha256: &str, user_id: i64, now_ms: i64, actor: &str) -> Result<(), StoreError>;
    async fn session(&self, token_sha256: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Marks the session used now (the idle limit counts from here).
    async fn touch_session(&self, token_sha256: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Ends one session; false when there was none.
    async fn end_session(&self, token_sha256: &str) -> Result<bool, StoreError>;
    /// Removes sessions last used before `idle_before_ms` or started before `started_before_ms`.
    async fn purge_sessions(&self, idle_before_ms: i64, started_before_ms: i64) -> Result<u64, StoreError>;
}

/// Applications, their documents and submissions, and what was decided on them.
#[async_trait::async_trait]
pub trait Applications: Send + Sync {
    async fn create_application(
        &self,
        id: &ApplicationId,
        service: &str,
        form: &str,
        owner_id: Option<i64>,
        max_per_day: usize,
        actor: &str,
    ) -> Result<ApplicationRecord, StoreError>;
    async fn application(&self, id: &ApplicationId) -> Result<Option<ApplicationRecord>, StoreError>;
    /// Replaces a draft's form (before its first submission: a submitted form is on record as it
    /// was); `Conflict` in any other state.
    async fn update_form(&self, id: &ApplicationId, form: &str, actor: &str) -> Result<ApplicationRecord, StoreError>;
    /// The applications one account owns, newest first.
    async fn applications_of(&self, owner_id: i64) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Adds all documents or none, within `limits` counted over the current documents.
    async fn add_documents(
        &self,
        id: &ApplicationId,
        documents: &[NewDocument],
        limits: DocumentLimits,
        actor: &str,
    ) -> Result<Vec<DocumentRecord>, StoreError>;
    async fn documents(&self, id: &ApplicationId) -> Result<Vec<DocumentRecord>, StoreError>;
    /// Withdraws a document from future submissions (kept on record); false when there is no such
    /// current document.
    async fn withdraw_document(&self, id: &ApplicationId, document_id: i64, actor: &str) -> Result<bool, StoreError>;
    /// Submits the application once per idempotency key and queues its decision job. The first
    /// submission fixes the acceptance date; a resubmission ends a wait for the applicant, adding
    /// `resumed_after_days` working days to the paused time. With `max_pending` decision jobs
    /// queued or running already, a new submission is `Overloaded`, counted in the same
    /// transaction as the insert so that concurrent submissions cannot pass the bound together.
    async fn submit(
        &self,
        id: &ApplicationId,
        idempotency_key: &str,
        submitted_on: NaiveDate,
        resumed_after_days: i64,
        max_pending: i64,
        actor: &str,
    ) -> Result<Submitted, StoreError>;
    async fn submission(&self, id: &ApplicationId, seq: i64) -> Result<Option<SubmissionRecord>, StoreError>;
    /// Every decision, oldest submission first.
    async fn decisions(&self, id: &ApplicationId) -> Result<Vec<DecisionRecord>, StoreError>;
    async fn item_records(&self, id: &ApplicationId) -> Result<Vec<ItemRecord>, StoreError>;
    /// Cases the office holds (submitted or in review), for deadline checks.
    async fn open_cases(&self) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Marks a case escalated (once) and logs it; false when it already was.
    async fn escalate(&self, id: &ApplicationId, today: NaiveDate, details: serde_json::Value) -> Result<bool, StoreError>;
}

/// The decision job queue: a job per submission, claimed with a lease, done once.
#[async_trait::async_trait]
pub trait Jobs: Send + Sync {
    /// Claims the oldest queued job, or a running one whose lease expired.
    async fn claim_job(&self, now_ms: i64, lease_ms: i64) -> Result<Option<Job>, StoreError>;
    /// Records the decision, moves the application on, issues the permit when the outcome is
    /// `issued` and a spec is given, records the bundle items the decision issued (of
    /// `item_records`), and closes the job, in one transaction; a decision that is not a review
    /// case was made on `decided_on` (the figures' day of decision). A job another claim finished
    /// already is left as it is: the first decision stands. True when this claim's decision was
    /// recorded, false when another claim owns the job.
    async fn complete_job(
        &self,
        job: &Job,
        decision: &Decision,
        permit: Option<&PermitSpec>,
        item_records: &[ItemRecordSpec],
        decided_on: NaiveDate,
    ) -> Result<bool, StoreError>;
    /// Gives a job back to the queue after an error, or fails it for good after `max_attempts`
    /// (the case then goes to a person).
    async fn fail_job(&self, job: &Job, error: &str, max_attempts: i64) -> Result<(), StoreError>;
    /// Puts jobs left running by a crashed process back in the queue; a job that was already on its
    /// `max_attempts`-th attempt (it may be what crashed the process) fails and its case goes to a person.
    async fn requeue_running_jobs(&self, max_attempts: i64) -> Result<u64, StoreError>;
    /// The queue as it stands: jobs waiting, jobs being decided, and when the oldest waiting one
    /// was queued.
    async fn queue_stats(&self) -> Result<QueueStats, StoreError>;
    /// Takes this period's turn at periodic `task`: true for one caller across every instance on
    /// the database per `period_ms` (the first to ask once the last turn is that old), false for
    /// the others. A turn taken by an instance that then dies is lost until the next period; a
    /// turn stamped more than a period ahead of the caller's clock (a clock running fast) is stale.
    async fn take_turn(&self, task: &str, now_ms: i64, period_ms: i64) -> Result<bool, StoreError>;
}

/// Review (the queue, claims, corrections, the human decision) and the permits it issues.
#[async_trait::async_trait]
pub trait Reviews: Send + Sync {
    /// Cases in review, oldest first, optionally of one service.
    async fn review_queue(&self, service: Option<&str>) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Takes (or renews) the lease on a case in review; never two holders, never one's own case.
    async fn claim(
        &self,
        id: &ApplicationId,
        reviewer_id: i64,
        now_ms: i64,
        lease_ms: i64,
        actor: &str,
    ) -> Result<ClaimOutcome, StoreError>;
    /// Gives the case back to the queue; false when the caller did not hold it.
    async fn release(&self, id: &ApplicationId, reviewer_id: i64, actor: &str) -> Result<bool, StoreError>;
    /// Records a reviewer's decision by the holder of a live claim, moving the state and issuing
    /// the permit and the bundle items' records when the action is `issue`, in one transaction.
    async fn review(
        &self,
        id: &ApplicationId,
        reviewer_id: i64,
        now_ms: i64,
        input: &ReviewInput,
        permit: Option<&PermitSpec>,
        actor: &str,
    ) -> Result<(ApplicationState, Option<PermitRecord>), StoreError>;
    async fn reviews(&self, id: &ApplicationId) -> Result<Vec<ReviewRecord>, StoreError>;
    /// Records a correction by the holder of a live claim on a case in review.
    async fn add_correction(
        &self,
        id: &ApplicationId,
        reviewer_id: i64,
        now_ms: i64,
        correction: &NewCorrection,
        actor: &str,
    ) -> Result<CorrectionRecord, StoreError>;
    async fn corrections(&self, id: &ApplicationId) -> Result<Vec<CorrectionRecord>, StoreError>;
    async fn permit_for(&self, id: &ApplicationId) -> Result<Option<PermitRecord>, StoreError>;
    async fn permit(&self, number: &str) -> Result<Option<PermitRecord>, StoreError>;
    /// Revokes a valid permit (行政许可法 第六十九条), with the reason on record; false when it is not valid.
    async fn revoke_permit(&self, number: &str, reason: &str, actor: &str) -> Result<bool, StoreError>;
}

/// 好差评: ratings of decided cases, the work orders bad ones open, and the facts the figures are
/// counted from.
#[async_trait::async_trait]
pub trait Ratings: Send + Sync {
    /// Stores the case's one rating, and the work order of a bad one, with their audit events, in
    /// one transaction. `Conflict` when the case is rated already or is not decided.
    async fn rate(&self, rating: &NewRating<'_>, actor: &str) -> Result<(RatingRecord, Option<WorkOrderRecord>), StoreError>;
    async fn rating(&self, id: &ApplicationId) -> Result<Option<RatingRecord>, StoreError>;
    /// Every work order, the oldest due first.
    async fn work_orders(&self) -> Result<Vec<WorkOrderRecord>, StoreError>;
    /// The work order a case's bad rating opened, if any (one a case at most).
    async fn work_order_of(&self, application: &ApplicationId) -> Result<Option<WorkOrderRecord>, StoreError>;
    async fn work_order(&self, id: i64) -> Result<Option<(WorkOrderRecord, Vec<WorkOrderStepRecord>)>, StoreError>;
    /// Records a step on a work order still in `step.from`, moving it to `step.to`, with its audit
    /// event; an upheld appeal also takes the rating out of the figures with `removal` as the
    /// reason. False (and nothing written) when the order has moved on meanwhile.
    async fn work_order_step(&self, id: i64, step: &StepInput<'_>, removal: Option<&str>, actor: &str) -> Result<bool, StoreError>;
    /// Marks an open work order escalated (once) and logs it; false when it already was.
    async fn escalate_work_order(&self, id: i64, today: NaiveDate) -> Result<bool, StoreError>;
    /// Every received application (submitted at least once) with what the figures need.
    async fn case_facts(&self) -> Result<Vec<CaseFacts>, StoreError>;
}

/// The audit log as one read transaction saw it.
#[derive(Debug, Clone)]
pub struct AuditSnapshot {
    pub entries: Vec<AuditEntry>,
    /// Every kept checkpoint, with its size, the smallest first.
    pub checkpoints: Vec<(u64, String)>,
    pub tree_size: u64,
    pub root: crate::audit::merkle::Hash,
}

/// The audit log's Merkle tree head as stored: its size and root, read in O(log n) hashes.
pub async fn tree_head(log: &dyn AuditLog) -> Result<(u64, crate::audit::merkle::Hash), StoreError> {
    use crate::audit::merkle;
    let size = log.tree_size().await?;
    let needed = merkle::NeededHashes::of(|s| merkle::root(s, size).map(|_| ()));
    let fetched = log.tree_hashes(&needed).await?;
    let root = merkle::root(&fetched, size).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((size, root))
}

/// The audit log and the rule sets decisions were made under.
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync {
    async fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError>;
    /// The whole log at one moment, read in one read transaction: a verifier or an export beside a
    /// running service sees no append half-way (entries without their tree, a checkpoint past them).
    async fn audit_snapshot(&self) -> Result<AuditSnapshot, StoreError>;
    /// At most `limit` entries before sequence number `before` (or the newest), newest first.
    async fn audit_page(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
    /// The entries of leaves `start .. end` (entry `seq` is leaf `seq − 1`), oldest first.
    async fn audit_range(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>, StoreError>;
    /// The audit events of one application, oldest first.
    async fn audit_for(&self, id: &ApplicationId) -> Result<Vec<AuditEntry>, StoreError>;
    /// Leaves in the audit log's Merkle tree (every entry, once the tree has caught up).
    async fn tree_size(&self) -> Result<u64, StoreError>;
    /// The stored hashes of these complete subtrees (level, index), those that are stored.
    async fn tree_hashes(&self, nodes: &[(u32, u64)]) -> Result<crate::audit::merkle::FetchedHashes, StoreError>;
    /// Keeps a signed checkpoint of the tree at `size` (the first one made for a size stays).
    async fn keep_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;
    /// The checkpoint of the largest size kept, with its size.
    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError>;
    /// Every checkpoint kept, with its size, the smallest first.
    async fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;
    async fn save_ruleset(&self, hash: &str, files: &str) -> Result<(), StoreError>;
    async fn ruleset(&self, hash: &str) -> Result<Option<String>, StoreError>;
    /// A cheap query, for `/health`.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A backend: every focused trait. Use cases take this; narrower users may take one trait.
pub trait Store: Users + Sessions + Applications + Jobs + Reviews + Ratings + AuditLog + 'static {}

impl<T: Users + Sessions + Applications + Jobs + Reviews + Ratings + AuditLog + 'static> Store for T {}
