//! The decision document of CONTRACT.md: what the service concluded and everything it rests on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The machine's outcomes. There is deliberately no "refused": only a person refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Issued,
    NeedsReview,
    NeedsMaterials,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::NeedsReview => "needs_review",
            Outcome::NeedsMaterials => "needs_materials",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleResult {
    Fail,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub field: String,
    pub value: serde_json::Value,
}

/// A rule that did not pass. A failed rule is data, not an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub result: RuleResult,
    pub message: String,
    pub basis: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentReport {
    pub file: String,
    pub sha256: String,
    /// The material id the service took the document for, or `unknown`.
    pub kind: String,
    pub confidence: f64,
    pub readable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    Form,
    Document,
    Derived,
    /// Set by a reviewer, with a reason; the original reading is kept in `corrected_from`.
    Correction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldReport {
    pub value: serde_json::Value,
    pub source: FieldSource,
    pub confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// The text line the value was read from, for the reviewer to compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The value as read before a reviewer corrected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_from: Option<serde_json::Value>,
    /// How the value was read when the line does not show it: a label read by meaning, a result
    /// below the detection limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemDecision {
    pub item: String,
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub service: String,
    pub outcome: Outcome,
    pub spot_check: bool,
    pub findings: Vec<Finding>,
    pub missing_materials: Vec<String>,
    pub documents: Vec<DocumentReport>,
    pub fields: BTreeMap<String, FieldReport>,
    pub items: Vec<ItemDecision>,
    /// `sha256:` of the canonical rule set the decision was made under.
    pub ruleset: String,
    /// Model id → `sha256:` of its weights; empty while no model takes part.
    pub models: BTreeMap<String, String>,
    /// The submission date the date rules were evaluated against.
    pub submitted_on: String,
}

impl Decision {
    /// Canonical bytes: what is stored, hashed into the audit log and compared on replay.
    pub fn to_canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a decision always serialises")
    }
}
