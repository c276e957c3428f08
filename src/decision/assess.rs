//! Assessing an application: the facts the rules see, the rules' outcomes, and the findings a
//! person must look at, with a doubtful reading never reported as a broken rule.

use std::collections::BTreeMap;

use serde_json::Value;

use super::collect::Collected;
use super::{category, Case};
use crate::domain::decision::{DocumentReport, Evidence, FieldReport, FieldSource, Finding, RuleResult};
use crate::rules::engine::{format_number, limits_for};
use crate::rules::{Evaluation, Facts, RuleStatus};
use crate::understanding::InferredCategory;

/// A field read less surely than this is not one to decide on (a service may set `field_confidence`).
const FIELD_CONFIDENCE_DEFAULT: f64 = 0.9;
/// An inferred category must be at least this sure (a service may set `category_confidence`).
const CATEGORY_CONFIDENCE_DEFAULT: f64 = 0.8;

/// The assessment: what the rules saw, what they concluded, and every finding, most important
/// first (see `importance`).
#[derive(Debug, Clone)]
pub struct Assessment {
    pub facts: Facts,
    pub findings: Vec<Finding>,
    pub fields: BTreeMap<String, FieldReport>,
    pub reports: Vec<DocumentReport>,
    pub evaluation: Evaluation,
    pub any_unreadable: bool,
}

/// Assesses `case` from what was collected of it and the understanding stage's reading of its
/// category evidence (`None` when the service has no category step or nothing could be inferred).
pub fn assess(case: &Case<'_>, mut collected: Collected, inferred: Option<InferredCategory>) -> Assessment {
    let service = case.service;
    let basis = service.info().basis.clone();
    let steps = service.steps();
    let category = match &steps.category {
        Some(step) => {
            let threshold = service.param_f64("category_confidence").unwrap_or(CATEGORY_CONFIDENCE_DEFAULT);
            category::settle(&mut collected, step, inferred, threshold, &basis)
        }
        None => String::new(),
    };
    let limits = match &steps.limits {
        Some(step) => {
            let grade = collected.form.get(&step.grade_field).and_then(Value::as_str).unwrap_or(&step.default_grade);
            limits_for(&case.rules.water, grade)
        }
        None => serde_json::json!({}),
    };
    let required_items = match &steps.category {
        Some(_) => case.rules.test_items.required.get(&category).cloned().unwrap_or_default(),
        None => Vec::new(),
    };
    let facts = Facts {
        form: collected.form.clone(),
        documents: collected.documents.clone(),
        materials: collected.materials.clone(),
        required_items,
        category,
        limits,
        submitted: case.submitted_on,
    };
    let evaluation = service.evaluate(&facts);
    let Collected { fields, reports, mut findings, any_unreadable, read_by_ocr, .. } = collected;
    for missing in &evaluation.missing_materials {
        let name = case.rules.documents.kinds.get(missing).map(|k| k.name.as_str()).unwrap_or(missing);
        findings.push(Finding {
            rule: format!("materials.{missing}"),
            result: RuleResult::Fail,
            message: format!("缺少申请材料：{name}"),
            basis: basis.clone(),
            evidence: vec![],
        });
    }
    let judge = Judge {
        fields: &fields,
        read_by_ocr: &read_by_ocr,
        threshold: service.param_f64("field_confidence").unwrap_or(FIELD_CONFIDENCE_DEFAULT),
        category_field: steps.category.as_ref().map(|s| s.field.as_str()),
    };
    let rested_on = judge.rule_findings(&evaluation, &mut findings);
    judge.weak_field_findings(&rested_on, &basis, &mut findings);
    findings.sort_by_key(importance);
    Assessment { facts, findings, fields, reports, evaluation, any_unreadable }
}

/// The order a reviewer reads findings in, most important first: what is wrong (a limit exceeded, a
/// name that differs, a material missing), then what was not read, then what was read unsurely. The
/// sort is stable, so within a rank the assessment's order stays.
fn importance(finding: &Finding) -> u8 {
    match finding.result {
        RuleResult::Fail => 0,
        _ if finding.rule.ends_with(".rows_unread") => 1,
        _ if finding.rule == "fields.low_confidence" => 3,
        _ => 2,
    }
}

/// Judges the rules' outcomes against how surely their fields were read.
struct Judge<'a> {
    fields: &'a BTreeMap<String, FieldReport>,
    read_by_ocr: &'a [String],
    threshold: f64,
    /// The category has a threshold and a finding of its own.
    category_field: Option<&'a str>,
}

impl Judge<'_> {
    /// A value read from a document less surely than the threshold is not one to decide on.
    fn doubtful(&self, key: &str) -> bool {
        let field = &self.fields[key];
        Some(key) != self.category_field && field.source != FieldSource::Form && field.confidence < self.threshold
    }

    /// What an OCR'd document does not show may only not have been read: a rule that fails on a
    /// collection of such a document (`report.pollutants`) and names none of its values (a required
    /// test item not found) is a question for a person, like a doubtful value.
    fn absent_from_ocr(&self, path: &str, keys: &[String]) -> bool {
        let under = |key: &str, path: &str| key.len() > path.len() && key.starts_with(path) && key.as_bytes()[path.len()] == b'.';
        !self.fields.contains_key(path)
            && !keys.iter().any(|k| under(k, path))
            && self.fields.iter().any(|(k, f)| under(k, path) && f.document.as_ref().is_some_and(|d| self.read_by_ocr.contains(d)))
    }

    /// The findings of rules that failed or could not be decided; returns the fields the rules
    /// that applied rested on, in the order they first named them.
    fn rule_findings(&self, evaluation: &Evaluation, findings: &mut Vec<Finding>) -> Vec<String> {
        let mut rested_on: Vec<String> = Vec::new();
        for outcome in &evaluation.outcomes {
            if outcome.status == RuleStatus::NotApplicable {
                continue;
            }
            let keys: Vec<String> =
                outcome.referenced.iter().filter_map(|p| self.field_key(p)).filter(|k| self.fields.contains_key(k)).collect();
            for key in &keys {
                if !rested_on.contains(key) {
                    rested_on.push(key.clone());
                }
            }
            let mut message = outcome.message.clone();
            let result = match outcome.status {
                // A rule failed on a doubtful reading is a question for a person, not a finding: a
                // decimal point lost on a scan must not be reported as a limit exceeded.
                RuleStatus::Fail if keys.iter().any(|k| self.doubtful(k)) => {
                    message.push_str("（所依据的识别结果置信度不足，需人工核对）");
                    RuleResult::Unknown
                }
                RuleStatus::Fail if outcome.referenced.iter().any(|p| self.absent_from_ocr(p, &keys)) => {
                    message.push_str("（该材料经图像识别，未识别到的内容需人工核对）");
                    RuleResult::Unknown
                }
                RuleStatus::Fail => RuleResult::Fail,
                RuleStatus::Unknown(ref reason) => {
                    tracing::debug!(rule = %outcome.id, reason = %reason, "rule could not be evaluated");
                    RuleResult::Unknown
                }
                _ => continue,
            };
            let evidence = keys
                .iter()
                .map(|k| Evidence { document: self.fields[k].document.clone(), field: k.clone(), value: self.fields[k].value.clone() })
                .collect();
            findings.push(Finding { rule: outcome.id.clone(), result, message, basis: outcome.basis.clone(), evidence });
        }
        rested_on
    }

    fn weak_field_findings(&self, rested_on: &[String], basis: &str, findings: &mut Vec<Finding>) {
        for key in rested_on.iter().filter(|k| self.doubtful(k)) {
            let field = &self.fields[key];
            findings.push(Finding {
                rule: "fields.low_confidence".into(),
                result: RuleResult::Unknown,
                message: format!(
                    "“{}”的识别置信度{}低于阈值{}，需人工核对",
                    key,
                    format_number(field.confidence),
                    format_number(self.threshold)
                ),
                basis: basis.to_string(),
                evidence: vec![Evidence { document: field.document.clone(), field: key.clone(), value: field.value.clone() }],
            });
        }
    }

    /// The decision's field key for a path an expression reads: `form.credit_code` → `credit_code`,
    /// `licence.name` → `licence.name`, `category` → the category step's field.
    fn field_key(&self, path: &str) -> Option<String> {
        if let Some(rest) = path.strip_prefix("form.") {
            return Some(rest.split('.').next().unwrap_or(rest).to_string());
        }
        if path == "category" {
            return self.category_field.map(str::to_string);
        }
        path.contains('.').then(|| path.to_string())
    }
}
