//! What storage gives back and takes: records in domain types (ids, states, dates), not rows. Each
//! backend turns its rows into these (`storage/rows.rs`); API bodies are the HTTP edge's own types.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::domain::application::{ApplicationId, ApplicationState, ReviewAction};
use crate::domain::rating::{Grade, Level, Rating, Step, WorkOrderState};

#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationRecord {
    pub id: ApplicationId,
    pub service: String,
    /// The form as submitted, as JSON text (its bytes are what the audit log hashed).
    pub form: String,
    pub state: ApplicationState,
    pub submissions: i64,
    /// RFC 3339, milliseconds, UTC.
    pub created_at: String,
    pub updated_at: String,
    pub owner_id: Option<i64>,
    pub claimed_by: Option<i64>,
    pub claim_until_ms: Option<i64>,
    /// The first submission: the deadlines count from it.
    pub accepted_on: Option<NaiveDate>,
    /// Since when the office waits for the applicant (补正), if it does.
    pub waiting_since: Option<NaiveDate>,
    pub paused_days: i64,
    pub escalated_on: Option<NaiveDate>,
}

impl ApplicationRecord {
    /// Someone holds a live claim on the case at `now_ms`.
    pub fn is_claimed(&self, now_ms: i64) -> bool {
        self.claimed_by.is_some() && self.claim_until_ms.is_some_and(|until| until >= now_ms)
    }

    /// The form as JSON; stored text that is not JSON is corrupt data.
    pub fn form_value(&self) -> Result<serde_json::Value, super::StoreError> {
        serde_json::from_str(&self.form).map_err(|e| super::StoreError::Corrupt(format!("stored form of {}: {e}", self.id)))
    }

    /// `reviewer_id` holds a live claim on the case at `now_ms`.
    pub fn is_claimed_by(&self, reviewer_id: i64, now_ms: i64) -> bool {
        self.claimed_by == Some(reviewer_id) && self.is_claimed(now_ms)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRecord {
    pub id: i64,
    pub application_id: ApplicationId,
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

#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionRecord {
    pub application_id: ApplicationId,
    pub seq: i64,
    pub idempotency_key: String,
    pub submitted_on: NaiveDate,
    /// The documents current at submission, which the decision is made on.
    pub document_ids: Vec<i64>,
    pub created_at: String,
}

/// The answer to a submit: the submission, and whether this was a repeat of an earlier request.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub submission: SubmissionRecord,
    pub repeated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub application_id: ApplicationId,
    pub submission_seq: i64,
    pub attempts: i64,
}

/// The decision queue at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueStats {
    pub queued: i64,
    pub running: i64,
    /// When the oldest queued job was queued (RFC 3339); `None` when none waits.
    pub oldest_queued_at: Option<String>,
}

impl QueueStats {
    /// Decisions waiting for a worker or being made: the depth of the queue.
    pub fn pending(&self) -> i64 {
        self.queued + self.running
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub application_id: ApplicationId,
    pub submission_seq: i64,
    pub outcome: String,
    pub ruleset: String,
    /// The decision's canonical JSON, byte for byte as decided.
    pub decision: String,
    pub created_at: String,
}

/// Limits the store enforces inside the transaction that adds documents: files and bytes of the
/// current documents; twice as many counting withdrawn ones too (room to replace every file once,
/// not to upload and withdraw without end); and bytes over all the owner's applications.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_files: usize,
    pub max_application_bytes: u64,
    pub max_account_bytes: u64,
}

#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub token_sha256: String,
    pub created_at: String,
    /// The argon2 PHC string of the account's password, if it has one (never the password).
    pub password_hash: Option<String>,
    /// The mobile number an applicant gave when signing up.
    pub phone: Option<String>,
}

impl std::fmt::Debug for UserRecord {
    /// Without the password hash and the phone number, so that a logged record shows neither.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("has_password", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

/// A new account: an API token always (scripts use it; a site account's is never shown), a
/// password and phone when the account signs in on the site.
#[derive(Clone)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub token_sha256: &'a str,
    pub password_hash: Option<&'a str>,
    pub phone: Option<&'a str>,
}

/// A browser session: the account and the session's times (milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub user: UserRecord,
    pub created_ms: i64,
    pub last_seen_ms: i64,
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

#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub id: i64,
    pub application_id: ApplicationId,
    pub submission_seq: i64,
    pub item: String,
    pub number: String,
    pub issued_on: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PermitRecord {
    pub number: String,
    pub service: String,
    pub year: i64,
    pub seq: i64,
    pub application_id: ApplicationId,
    pub holder: String,
    pub valid_from: String,
    pub valid_to: String,
    pub issued_by: String,
    pub status: String,
    pub created_at: String,
    /// JSON of `issuance::CertificateBody`, fixed at issue.
    pub certificate: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed { until_ms: i64 },
    HeldByOther,
    OwnApplication,
    NotInReview(ApplicationState),
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
    /// When a request for materials starts the wait for the applicant.
    pub decided_on: NaiveDate,
    /// On `issue`, the records of the bundle items the case grants (already recorded ones are kept).
    pub item_records: Vec<ItemRecordSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRecord {
    pub id: i64,
    pub application_id: ApplicationId,
    pub submission_seq: i64,
    pub reviewer_id: i64,
    pub action: String,
    pub reason_code: String,
    pub text: String,
    /// JSON list of material ids.
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

#[derive(Debug, Clone, PartialEq)]
pub struct CorrectionRecord {
    pub id: i64,
    pub application_id: ApplicationId,
    pub submission_seq: i64,
    pub reviewer_id: i64,
    pub field: String,
    /// JSON of the value read.
    pub original: String,
    /// JSON of the value set.
    pub corrected: String,
    pub reason: String,
    pub decision_after: String,
    pub created_at: String,
}

/// A rating as stored with its case.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRecord {
    pub application_id: ApplicationId,
    pub rater_id: i64,
    pub level: Level,
    pub aspects: BTreeMap<String, Level>,
    pub comment: String,
    /// The state of the case when it was rated (issued, refused, needs_materials).
    pub rated_state: ApplicationState,
    /// The person who decided the case, `None` for the machine.
    pub handled_by: Option<i64>,
    pub rated_on: NaiveDate,
    /// Set when an appeal was upheld: the rating no longer counts in the figures.
    pub removed_reason: Option<String>,
    pub created_at: String,
}

/// A rating to store, with the work order a bad one opens.
#[derive(Debug, Clone)]
pub struct NewRating<'a> {
    pub application_id: &'a ApplicationId,
    pub rater_id: i64,
    pub rating: &'a Rating,
    pub handled_by: Option<i64>,
    pub rated_on: NaiveDate,
    /// For a bad rating: the work order's due date and assignee (`None`: the admins).
    pub work_order: Option<(NaiveDate, Option<i64>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkOrderRecord {
    pub id: i64,
    pub application_id: ApplicationId,
    pub level: Level,
    pub state: WorkOrderState,
    /// Who handles it; `None`: any admin (the machine decided the case).
    pub assignee_id: Option<i64>,
    pub opened_on: NaiveDate,
    pub due_on: NaiveDate,
    pub escalated_on: Option<NaiveDate>,
    /// What verifying found: `Some(true)` founded (to be rectified), `Some(false)` unfounded;
    /// `None` until verified.
    pub founded: Option<bool>,
    pub rectified: bool,
    pub called_back: bool,
    pub grade: Option<Grade>,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkOrderStepRecord {
    pub step: String,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub on: NaiveDate,
    pub text: String,
    pub details: serde_json::Value,
    pub created_at: String,
}

/// A step to record on a work order that is still `from`.
#[derive(Debug, Clone)]
pub struct StepInput<'a> {
    pub from: WorkOrderState,
    pub to: WorkOrderState,
    pub step: &'a Step,
    pub actor_id: Option<i64>,
    pub on: NaiveDate,
    pub text: &'a str,
}

/// What the figures are counted from, for one received application.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFacts {
    pub application: ApplicationRecord,
    /// The day it was decided (by the machine or a person), if it is decided.
    pub decided_on: Option<NaiveDate>,
    /// A person decided it (a review was recorded on the submission that stands).
    pub by_person: bool,
    pub rating: Option<RatingRecord>,
    pub work_order: Option<WorkOrderRecord>,
}
