//! Storage behind a trait: applications, documents, submissions, the job queue, decisions, rule-set
//! snapshots and the audit log. SQLite now; Postgres implements the same trait later.
//!
//! Every state change and its audit event are written in one transaction by the method that makes
//! the change, so the log can never disagree with the state.

pub mod blobs;
pub mod sqlite;

use serde::Serialize;

use crate::audit::AuditEntry;
use crate::domain::application::{ApplicationState, ReviewAction, TransitionError};
use crate::domain::decision::Decision;

pub use blobs::BlobStore;

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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApplicationRecord {
    pub id: String,
    pub service: String,
    #[serde(skip)]
    pub form: String,
    pub state: String,
    pub submissions: i64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub owner_id: Option<i64>,
    pub claimed_by: Option<i64>,
    pub claim_until_ms: Option<i64>,
    pub accepted_on: Option<String>,
    pub waiting_since: Option<String>,
    pub paused_days: i64,
    pub escalated_on: Option<String>,
}

impl ApplicationRecord {
    /// Someone holds a live claim on the case at `now_ms`.
    pub fn is_claimed(&self, now_ms: i64) -> bool {
        self.claimed_by.is_some() && self.claim_until_ms.is_some_and(|until| until >= now_ms)
    }

    /// `reviewer_id` holds a live claim on the case at `now_ms`.
    pub fn is_claimed_by(&self, reviewer_id: i64, now_ms: i64) -> bool {
        self.claimed_by == Some(reviewer_id) && self.is_claimed(now_ms)
    }

    pub fn state(&self) -> Result<ApplicationState, StoreError> {
        ApplicationState::parse(&self.state).ok_or_else(|| StoreError::Corrupt(format!("unknown state {}", self.state)))
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DocumentRecord {
    pub id: i64,
    #[serde(skip)]
    pub application_id: String,
    pub file_name: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub format: String,
    pub created_at: String,
    pub withdrawn_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewDocument {
    pub file_name: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub format: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SubmissionRecord {
    #[serde(skip)]
    pub application_id: String,
    pub seq: i64,
    #[serde(skip)]
    pub idempotency_key: String,
    pub submitted_on: String,
    #[serde(skip)]
    pub document_ids: String,
    pub created_at: String,
}

impl SubmissionRecord {
    pub fn document_ids(&self) -> Vec<i64> {
        serde_json::from_str(&self.document_ids).unwrap_or_default()
    }
}

/// The answer to a submit: the submission, and whether this was a repeat of an earlier request.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub submission: SubmissionRecord,
    pub repeated: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub application_id: String,
    pub submission_seq: i64,
    pub attempts: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DecisionRecord {
    #[serde(skip)]
    pub application_id: String,
    pub submission_seq: i64,
    pub outcome: String,
    pub ruleset: String,
    #[serde(skip)]
    pub decision: String,
    pub created_at: String,
}

/// Limits the store enforces inside the transaction that adds documents.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_files: usize,
    pub max_application_bytes: u64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub token_sha256: String,
    pub created_at: String,
}

/// What issuing needs besides the application: the service's number format and validity.
#[derive(Debug, Clone)]
pub struct PermitSpec {
    pub service: String,
    pub number_template: String,
    pub validity_years: u32,
    pub holder: String,
    /// `YYYY-MM-DD`; its year is the numbering year.
    pub issued_on: String,
    pub issued_by: String,
    /// JSON of `issuance::CertificateBody`, fixed at issue.
    pub certificate: String,
}

/// The record an issued bundle item gets.
#[derive(Debug, Clone)]
pub struct ItemRecordSpec {
    pub service: String,
    pub item: String,
    pub number_template: String,
    pub issued_on: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ItemRecord {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub application_id: String,
    pub submission_seq: i64,
    pub item: String,
    pub number: String,
    pub issued_on: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PermitRecord {
    pub number: String,
    pub service: String,
    pub year: i64,
    pub seq: i64,
    pub application_id: String,
    pub holder: String,
    pub valid_from: String,
    pub valid_to: String,
    pub issued_by: String,
    pub status: String,
    pub created_at: String,
    #[serde(skip)]
    pub certificate: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed { until_ms: i64 },
    HeldByOther,
    OwnApplication,
    NotInReview(String),
}

/// A reviewer's decision as recorded.
#[derive(Debug, Clone)]
pub struct ReviewInput {
    pub action: ReviewAction,
    pub reason_code: String,
    pub text: String,
    pub missing_materials: Vec<String>,
    /// The written decision (JSON): for a refusal, the 不予许可决定 with reasons and remedies.
    pub document: String,
    /// `YYYY-MM-DD`: when a request for materials starts the wait for the applicant.
    pub decided_on: String,
    /// On `issue`, the records of the bundle items the case grants (already recorded ones are kept).
    pub item_records: Vec<ItemRecordSpec>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReviewRecord {
    pub id: i64,
    #[serde(skip)]
    pub application_id: String,
    pub submission_seq: i64,
    pub reviewer_id: i64,
    pub action: String,
    pub reason_code: String,
    pub text: String,
    pub missing_materials: String,
    pub document: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct NewCorrection {
    pub field: String,
    pub original: serde_json::Value,
    pub corrected: serde_json::Value,
    pub reason: String,
    /// The decision the rules gave with every correction so far applied.
    pub decision_after: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CorrectionRecord {
    pub id: i64,
    #[serde(skip)]
    pub application_id: String,
    pub submission_seq: i64,
    pub reviewer_id: i64,
    pub field: String,
    pub original: String,
    pub corrected: String,
    pub reason: String,
    #[serde(skip)]
    pub decision_after: String,
    pub created_at: String,
}

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an account; a name already taken is a `Conflict`.
    async fn create_user(&self, name: &str, role: &str, token_sha256: &str, actor: &str) -> Result<UserRecord, StoreError>;
    async fn user_by_token(&self, token_sha256: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn create_application(
        &self,
        id: &str,
        service: &str,
        form: &str,
        owner_id: Option<i64>,
        actor: &str,
    ) -> Result<ApplicationRecord, StoreError>;
    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError>;
    /// Adds all documents or none.
    async fn add_documents(
        &self,
        application_id: &str,
        documents: &[NewDocument],
        limits: DocumentLimits,
        actor: &str,
    ) -> Result<Vec<DocumentRecord>, StoreError>;
    async fn documents(&self, application_id: &str) -> Result<Vec<DocumentRecord>, StoreError>;
    /// Withdraws a document from future submissions (kept on record); false when there is no such
    /// current document.
    async fn withdraw_document(&self, application_id: &str, document_id: i64, actor: &str) -> Result<bool, StoreError>;
    /// Submits the application once per idempotency key and queues its decision job. The first
    /// submission fixes the acceptance date; a resubmission ends a wait for the applicant, adding
    /// `resumed_after_days` working days to the paused time.
    async fn submit(
        &self,
        application_id: &str,
        idempotency_key: &str,
        submitted_on: &str,
        resumed_after_days: i64,
        actor: &str,
    ) -> Result<Submitted, StoreError>;
    async fn submission(&self, application_id: &str, seq: i64) -> Result<Option<SubmissionRecord>, StoreError>;
    /// Claims the oldest queued job, or a running one whose lease expired.
    async fn claim_job(&self, now_ms: i64, lease_ms: i64) -> Result<Option<Job>, StoreError>;
    /// Records the decision, moves the application on, issues the permit when the outcome is
    /// `issued` and a spec is given, and closes the job, in one transaction.
    /// Issued bundle items get their records (`item_records`, for the items the decision issued) in
    /// the same transaction.
    async fn complete_job(
        &self,
        job: &Job,
        decision: &Decision,
        permit: Option<&PermitSpec>,
        item_records: &[ItemRecordSpec],
    ) -> Result<(), StoreError>;
    async fn item_records(&self, application_id: &str) -> Result<Vec<ItemRecord>, StoreError>;
    /// Gives a job back to the queue after an error, or fails it for good after `max_attempts`.
    async fn fail_job(&self, job: &Job, error: &str, max_attempts: i64) -> Result<(), StoreError>;
    /// Puts jobs left running by a crashed process back in the queue; a job that was already on its
    /// `max_attempts`-th attempt (it may be what crashed the process) fails and its case goes to a person.
    async fn requeue_running_jobs(&self, max_attempts: i64) -> Result<u64, StoreError>;
    async fn decisions(&self, application_id: &str) -> Result<Vec<DecisionRecord>, StoreError>;
    async fn save_ruleset(&self, hash: &str, files: &str) -> Result<(), StoreError>;
    async fn ruleset(&self, hash: &str) -> Result<Option<String>, StoreError>;
    async fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError>;
    /// Cases in review, oldest first, optionally of one service.
    async fn review_queue(&self, service: Option<&str>) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Takes (or renews) the lease on a case in review; never two holders, never one's own case.
    async fn claim(
        &self,
        application_id: &str,
        reviewer_id: i64,
        now_ms: i64,
        lease_ms: i64,
        actor: &str,
    ) -> Result<ClaimOutcome, StoreError>;
    /// Gives the case back to the queue; false when the caller did not hold it.
    async fn release(&self, application_id: &str, reviewer_id: i64, actor: &str) -> Result<bool, StoreError>;
    /// Records a reviewer's decision by the holder of a live claim, moving the state and issuing
    /// the permit and the bundle items' records when the action is `issue`, in one transaction.
    async fn review(
        &self,
        application_id: &str,
        reviewer_id: i64,
        now_ms: i64,
        input: &ReviewInput,
        permit: Option<&PermitSpec>,
        actor: &str,
    ) -> Result<(ApplicationState, Option<PermitRecord>), StoreError>;
    async fn reviews(&self, application_id: &str) -> Result<Vec<ReviewRecord>, StoreError>;
    /// Records a correction by the holder of a live claim.
    async fn add_correction(
        &self,
        application_id: &str,
        reviewer_id: i64,
        now_ms: i64,
        correction: &NewCorrection,
        actor: &str,
    ) -> Result<CorrectionRecord, StoreError>;
    async fn corrections(&self, application_id: &str) -> Result<Vec<CorrectionRecord>, StoreError>;
    async fn permit_for(&self, application_id: &str) -> Result<Option<PermitRecord>, StoreError>;
    async fn permit(&self, number: &str) -> Result<Option<PermitRecord>, StoreError>;
    /// Revokes a valid permit (行政许可法 第六十九条), with the reason on record; false when it is not valid.
    async fn revoke_permit(&self, number: &str, reason: &str, actor: &str) -> Result<bool, StoreError>;
    /// Cases the office holds (submitted or in review), for deadline checks.
    async fn open_cases(&self) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Marks a case escalated (once) and logs it; false when it already was.
    async fn escalate(&self, application_id: &str, today: &str, details: serde_json::Value) -> Result<bool, StoreError>;
    /// The audit events of one application, oldest first.
    async fn audit_for(&self, application_id: &str) -> Result<Vec<AuditEntry>, StoreError>;
    /// A cheap query, for `/health`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Decisions waiting for a worker or being made: the depth of the queue.
    async fn pending_jobs(&self) -> Result<i64, StoreError>;
}
