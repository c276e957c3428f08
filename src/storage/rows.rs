//! Rows as the databases hold them (text, integers) and their conversion to records. A row that
//! does not convert (an unknown state, a date that does not parse) is corrupt data, reported as such.

use chrono::NaiveDate;

use super::records::{
    ApplicationRecord, CorrectionRecord, DecisionRecord, DocumentRecord, ItemRecord, Job, PermitRecord, ReviewRecord, SubmissionRecord,
};
use super::StoreError;
use crate::domain::application::{ApplicationId, ApplicationState};

fn id(text: String) -> Result<ApplicationId, StoreError> {
    ApplicationId::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("stored application id {text:?} is not one")))
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| StoreError::Corrupt(format!("stored date {text:?}: {e}")))
}

fn optional_date(text: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
    text.as_deref().map(date).transpose()
}

pub(crate) fn state(text: &str) -> Result<ApplicationState, StoreError> {
    ApplicationState::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown state {text}")))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApplicationRow {
    id: String,
    service: String,
    form: String,
    state: String,
    submissions: i64,
    created_at: String,
    updated_at: String,
    owner_id: Option<i64>,
    claimed_by: Option<i64>,
    claim_until_ms: Option<i64>,
    accepted_on: Option<String>,
    waiting_since: Option<String>,
    paused_days: i64,
    escalated_on: Option<String>,
}

impl TryFrom<ApplicationRow> for ApplicationRecord {
    type Error = StoreError;

    fn try_from(row: ApplicationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: id(row.id)?,
            service: row.service,
            form: row.form,
            state: state(&row.state)?,
            submissions: row.submissions,
            created_at: row.created_at,
            updated_at: row.updated_at,
            owner_id: row.owner_id,
            claimed_by: row.claimed_by,
            claim_until_ms: row.claim_until_ms,
            accepted_on: optional_date(row.accepted_on)?,
            waiting_since: optional_date(row.waiting_since)?,
            paused_days: row.paused_days,
            escalated_on: optional_date(row.escalated_on)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DocumentRow {
    id: i64,
    application_id: String,
    file_name: String,
    sha256: String,
    size_bytes: i64,
    format: String,
    created_at: String,
    withdrawn_at: Option<String>,
}

impl TryFrom<DocumentRow> for DocumentRecord {
    type Error = StoreError;

    fn try_from(row: DocumentRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            application_id: id(row.application_id)?,
            file_name: row.file_name,
            sha256: row.sha256,
            size_bytes: row.size_bytes,
            format: row.format,
            created_at: row.created_at,
            withdrawn_at: row.withdrawn_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SubmissionRow {
    application_id: String,
    seq: i64,
    idempotency_key: String,
    submitted_on: String,
    document_ids: String,
    created_at: String,
}

impl TryFrom<SubmissionRow> for SubmissionRecord {
    type Error = StoreError;

    fn try_from(row: SubmissionRow) -> Result<Self, StoreError> {
        let document_ids =
            serde_json::from_str(&row.document_ids).map_err(|e| StoreError::Corrupt(format!("stored submission documents: {e}")))?;
        Ok(Self {
            application_id: id(row.application_id)?,
            seq: row.seq,
            idempotency_key: row.idempotency_key,
            submitted_on: date(&row.submitted_on)?,
            document_ids,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    application_id: String,
    submission_seq: i64,
    attempts: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        Ok(Self { id: row.id, application_id: id(row.application_id)?, submission_seq: row.submission_seq, attempts: row.attempts })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DecisionRow {
    application_id: String,
    submission_seq: i64,
    outcome: String,
    ruleset: String,
    decision: String,
    created_at: String,
}

impl TryFrom<DecisionRow> for DecisionRecord {
    type Error = StoreError;

    fn try_from(row: DecisionRow) -> Result<Self, StoreError> {
        Ok(Self {
            application_id: id(row.application_id)?,
            submission_seq: row.submission_seq,
            outcome: row.outcome,
            ruleset: row.ruleset,
            decision: row.decision,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ItemRow {
    id: i64,
    application_id: String,
    submission_seq: i64,
    item: String,
    number: String,
    issued_on: String,
    created_at: String,
}

impl TryFrom<ItemRow> for ItemRecord {
    type Error = StoreError;

    fn try_from(row: ItemRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            application_id: id(row.application_id)?,
            submission_seq: row.submission_seq,
            item: row.item,
            number: row.number,
            issued_on: row.issued_on,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PermitRow {
    number: String,
    service: String,
    year: i64,
    seq: i64,
    application_id: String,
    holder: String,
    valid_from: String,
    valid_to: String,
    issued_by: String,
    status: String,
    created_at: String,
    certificate: String,
}

impl TryFrom<PermitRow> for PermitRecord {
    type Error = StoreError;

    fn try_from(row: PermitRow) -> Result<Self, StoreError> {
        Ok(Self {
            number: row.number,
            service: row.service,
            year: row.year,
            seq: row.seq,
            application_id: id(row.application_id)?,
            holder: row.holder,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
            issued_by: row.issued_by,
            status: row.status,
            created_at: row.created_at,
            certificate: row.certificate,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ReviewRow {
    id: i64,
    application_id: String,
    submission_seq: i64,
    reviewer_id: i64,
    action: String,
    reason_code: String,
    text: String,
    missing_materials: String,
    document: String,
    created_at: String,
}

impl TryFrom<ReviewRow> for ReviewRecord {
    type Error = StoreError;

    fn try_from(row: ReviewRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            application_id: id(row.application_id)?,
            submission_seq: row.submission_seq,
            reviewer_id: row.reviewer_id,
            action: row.action,
            reason_code: row.reason_code,
            text: row.text,
            missing_materials: row.missing_materials,
            document: row.document,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CorrectionRow {
    id: i64,
    application_id: String,
    submission_seq: i64,
    reviewer_id: i64,
    field: String,
    original: String,
    corrected: String,
    reason: String,
    decision_after: String,
    created_at: String,
}

impl TryFrom<CorrectionRow> for CorrectionRecord {
    type Error = StoreError;

    fn try_from(row: CorrectionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            application_id: id(row.application_id)?,
            submission_seq: row.submission_seq,
            reviewer_id: row.reviewer_id,
            field: row.field,
            original: row.original,
            corrected: row.corrected,
            reason: row.reason,
            decision_after: row.decision_after,
            created_at: row.created_at,
        })
    }
}

/// Converts every row, failing on the first that does not convert.
pub(crate) fn all<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// Converts a row, if there is one.
pub(crate) fn optional<R, T: TryFrom<R, Error = StoreError>>(row: Option<R>) -> Result<Option<T>, StoreError> {
    row.map(T::try_from).transpose()
}

fn level(value: i64) -> Result<crate::domain::rating::Level, StoreError> {
    crate::domain::rating::Level::new(value).ok_or_else(|| StoreError::Corrupt(format!("stored rating level {value}")))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RatingRow {
    application_id: String,
    rater_id: i64,
    level: i64,
    aspects: String,
    comment: String,
    rated_state: String,
    handled_by: Option<i64>,
    rated_on: String,
    removed_reason: Option<String>,
    created_at: String,
}

impl TryFrom<RatingRow> for super::records::RatingRecord {
    type Error = StoreError;

    fn try_from(row: RatingRow) -> Result<Self, StoreError> {
        let aspects: std::collections::BTreeMap<String, i64> =
            serde_json::from_str(&row.aspects).map_err(|e| StoreError::Corrupt(format!("stored rating aspects: {e}")))?;
        Ok(Self {
            application_id: id(row.application_id)?,
            rater_id: row.rater_id,
            level: level(row.level)?,
            aspects: aspects.into_iter().map(|(k, v)| Ok((k, level(v)?))).collect::<Result<_, StoreError>>()?,
            comment: row.comment,
            rated_state: state(&row.rated_state)?,
            handled_by: row.handled_by,
            rated_on: date(&row.rated_on)?,
            removed_reason: row.removed_reason,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WorkOrderRow {
    id: i64,
    application_id: String,
    level: i64,
    state: String,
    assignee_id: Option<i64>,
    opened_on: String,
    due_on: String,
    escalated_on: Option<String>,
    rectified: i64,
    called_back: i64,
    grade: Option<String>,
    updated_at: String,
    finding: Option<String>,
}

impl TryFrom<WorkOrderRow> for super::records::WorkOrderRecord {
    type Error = StoreError;

    fn try_from(row: WorkOrderRow) -> Result<Self, StoreError> {
        use crate::domain::rating::{Grade, WorkOrderState};
        Ok(Self {
            id: row.id,
            application_id: id(row.application_id)?,
            level: level(row.level)?,
            state: WorkOrderState::parse(&row.state)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown work order state {}", row.state)))?,
            assignee_id: row.assignee_id,
            opened_on: date(&row.opened_on)?,
            due_on: date(&row.due_on)?,
            escalated_on: optional_date(row.escalated_on)?,
            founded: match row.finding.as_deref() {
                None => None,
                Some("founded") => Some(true),
                Some("unfounded") => Some(false),
                Some(other) => return Err(StoreError::Corrupt(format!("unknown work order finding {other}"))),
            },
            rectified: row.rectified != 0,
            called_back: row.called_back != 0,
            grade: row.grade.map(|g| Grade::parse(&g).ok_or_else(|| StoreError::Corrupt(format!("unknown grade {g}")))).transpose()?,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StepRow {
    step: String,
    actor_id: Option<i64>,
    actor: String,
    on_date: String,
    text: String,
    details: String,
    created_at: String,
}

impl TryFrom<StepRow> for super::records::WorkOrderStepRecord {
    type Error = StoreError;

    fn try_from(row: StepRow) -> Result<Self, StoreError> {
        Ok(Self {
            step: row.step,
            actor_id: row.actor_id,
            actor: row.actor,
            on: date(&row.on_date)?,
            text: row.text,
            details: serde_json::from_str(&row.details).map_err(|e| StoreError::Corrupt(format!("stored step details: {e}")))?,
            created_at: row.created_at,
        })
    }
}
