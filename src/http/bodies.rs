//! The API's bodies for stored records: what a client sees of each, and nothing more (a decision's
//! canonical bytes, a permit's certificate and a correction's re-run have endpoints of their own).

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::application::ApplicationId;
use crate::storage::{CorrectionRecord, DecisionRecord, DocumentRecord, ItemRecord, PermitRecord, ReviewRecord};

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentBody {
    pub id: i64,
    pub file_name: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub format: String,
    pub created_at: String,
    pub withdrawn_at: Option<String>,
}

impl From<&DocumentRecord> for DocumentBody {
    fn from(d: &DocumentRecord) -> Self {
        Self {
            id: d.id,
            file_name: d.file_name.clone(),
            sha256: d.sha256.clone(),
            size_bytes: d.size_bytes,
            format: d.format.clone(),
            created_at: d.created_at.clone(),
            withdrawn_at: d.withdrawn_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionSummaryBody {
    pub submission_seq: i64,
    pub outcome: String,
    pub ruleset: String,
    pub created_at: String,
}

impl From<&DecisionRecord> for DecisionSummaryBody {
    fn from(d: &DecisionRecord) -> Self {
        Self { submission_seq: d.submission_seq, outcome: d.outcome.clone(), ruleset: d.ruleset.clone(), created_at: d.created_at.clone() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewBody {
    pub id: i64,
    pub submission_seq: i64,
    pub reviewer_id: i64,
    pub action: String,
    pub reason_code: String,
    pub text: String,
    pub missing_materials: String,
    pub document: String,
    pub created_at: String,
}

impl From<&ReviewRecord> for ReviewBody {
    fn from(r: &ReviewRecord) -> Self {
        Self {
            id: r.id,
            submission_seq: r.submission_seq,
            reviewer_id: r.reviewer_id,
            action: r.action.clone(),
            reason_code: r.reason_code.clone(),
            text: r.text.clone(),
            missing_materials: r.missing_materials.clone(),
            document: r.document.clone(),
            created_at: r.created_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionBody {
    pub id: i64,
    pub submission_seq: i64,
    pub reviewer_id: i64,
    pub field: String,
    pub original: String,
    pub corrected: String,
    pub reason: String,
    pub created_at: String,
}

impl From<&CorrectionRecord> for CorrectionBody {
    fn from(c: &CorrectionRecord) -> Self {
        Self {
            id: c.id,
            submission_seq: c.submission_seq,
            reviewer_id: c.reviewer_id,
            field: c.field.clone(),
            original: c.original.clone(),
            corrected: c.corrected.clone(),
            reason: c.reason.clone(),
            created_at: c.created_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermitBody {
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
}

impl From<&PermitRecord> for PermitBody {
    fn from(p: &PermitRecord) -> Self {
        Self {
            number: p.number.clone(),
            service: p.service.clone(),
            year: p.year,
            seq: p.seq,
            application_id: p.application_id.clone(),
            holder: p.holder.clone(),
            valid_from: p.valid_from.clone(),
            valid_to: p.valid_to.clone(),
            issued_by: p.issued_by.clone(),
            status: p.status.clone(),
            created_at: p.created_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemRecordBody {
    pub submission_seq: i64,
    pub item: String,
    pub number: String,
    pub issued_on: String,
    pub created_at: String,
}

impl From<&ItemRecord> for ItemRecordBody {
    fn from(i: &ItemRecord) -> Self {
        Self {
            submission_seq: i.submission_seq,
            item: i.item.clone(),
            number: i.number.clone(),
            issued_on: i.issued_on.clone(),
            created_at: i.created_at.clone(),
        }
    }
}

/// The bodies of a list of records.
pub fn all<'a, R: 'a, B: From<&'a R>>(records: &'a [R]) -> Vec<B> {
    records.iter().map(B::from).collect()
}
