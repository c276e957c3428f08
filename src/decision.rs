//! The decision: from what was understood of an application to the decision document, in three
//! pure stages (no I/O, no models, no clock: the date comes in with the case):
//!
//! 1. [`collect`]: which material each file was taken for, and every field with its provenance,
//!    a reviewer's corrections in place;
//! 2. [`assess`]: the service's own steps (a category worked out, the limits that apply), the rules,
//!    and every finding, a doubtful reading never reported as a broken rule;
//! 3. [`decide`]: the asymmetric policy (the machine may issue; only a person refuses) and, for a
//!    bundle, one outcome per requested item.
//!
//! Between 1 and 2 the understanding stage may read the category evidence with the encoder
//! ([`Collected::category_evidence`]); that is the only model call, and it is the caller's.

pub mod assess;
mod bundle;
pub mod category;
pub mod collect;
pub mod correctable;
pub mod policy;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;

pub use assess::{assess, Assessment};
pub use category::CategoryEvidence;
pub use collect::{collect, Collected};
pub use correctable::{correction_errors, is_correctable};

use crate::domain::decision::Decision;
use crate::rules::{CompiledService, RuleSet};
use crate::understanding::UnderstoodDocument;
use policy::PolicyInput;

/// Everything a decision is a function of, besides the model readings the stages take as inputs.
#[derive(Clone, Copy)]
pub struct Case<'a> {
    pub rules: &'a RuleSet,
    pub service: &'a CompiledService,
    /// The form as submitted (valid for the service).
    pub form: &'a Value,
    pub documents: &'a [UnderstoodDocument],
    /// A reviewer's corrections: decision field key → value.
    pub corrections: &'a BTreeMap<String, Value>,
    pub submitted_on: NaiveDate,
}

/// The decision document for an assessment. `models` are the digests of the models whose readings
/// the case rests on, recorded so that the decision can be replayed.
pub fn decide(case: &Case<'_>, assessment: Assessment, models: BTreeMap<String, String>) -> Decision {
    let service = case.service;
    let Assessment { facts, mut findings, fields, reports, evaluation, any_unreadable } = assessment;
    let any_uncertain_kind = findings.iter().any(|f| f.rule == "documents.kind_confidence");
    let (mut outcome, spot_check) = policy::outcome(&PolicyInput {
        any_unreadable,
        any_uncertain_kind,
        missing_materials: &evaluation.missing_materials,
        findings: &findings,
        auto_issue: service.info().auto_issue,
        pledge_based: evaluation.spot_check,
    });
    let mut missing_materials = evaluation.missing_materials.clone();
    let mut items = Vec::new();
    if !service.items().is_empty() {
        let bundle = bundle::Bundle { service, evaluation: &evaluation, any_unreadable, any_uncertain_kind };
        let decided = bundle.decide(&facts.form, &mut findings, &mut missing_materials);
        outcome = decided.outcome;
        items = decided.items;
    }
    missing_materials.sort();
    Decision {
        service: service.info().id.clone(),
        outcome,
        spot_check,
        findings,
        missing_materials,
        documents: reports,
        fields,
        items,
        ruleset: case.rules.hash().to_string(),
        models,
        submitted_on: case.submitted_on.format("%Y-%m-%d").to_string(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
