//! The category step (declared by a service as `[steps.category]`): the category of what the
//! applicant does, stated on the form or worked out from a document, which decides the test items
//! the rules require. The drainage permit's discharge category is one.

use serde_json::{json, Value};

use super::collect::Collected;
use super::round3;
use crate::domain::decision::{Evidence, FieldReport, FieldSource, Finding, RuleResult};
use crate::rules::catalog::CategoryStep;
use crate::rules::engine::format_number;
use crate::understanding::InferredCategory;

/// What the category is worked out from: the document's scope and name fields, as collected (a
/// reviewer's correction of either is in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryEvidence {
    pub scope: String,
    pub name: String,
}

impl Collected {
    /// The evidence the category step reads; empty texts when the document was not read.
    pub fn category_evidence(&self, step: &CategoryStep) -> CategoryEvidence {
        let document = self.documents.get(&step.from);
        let text = |key: &str| document.and_then(|d| d.get(key)).and_then(Value::as_str).unwrap_or_default().to_string();
        CategoryEvidence { scope: text(&step.scope), name: text(&step.name) }
    }
}

/// The category the decision rests on, adding to `collected` the worked-out field and the findings
/// a person must look at. `inferred` is the understanding stage's reading of the evidence.
pub fn settle(collected: &mut Collected, step: &CategoryStep, inferred: Option<InferredCategory>, threshold: f64, basis: &str) -> String {
    let scope_key = format!("{}.{}", step.from, step.scope);
    let scope = collected.category_evidence(step).scope;
    let scope_field = collected.fields.get(&scope_key).cloned();
    let evidence = |scope_field: Option<&FieldReport>| Evidence {
        document: scope_field.and_then(|f| f.document.clone()),
        field: scope_key.clone(),
        value: json!(scope),
    };
    if let Some(category) = collected.form.get(&step.field).and_then(Value::as_str) {
        // The applicant's word decides which tests are required, so it must agree with what the
        // business is registered to do: a restaurant declaring "construction" would escape the oil
        // and LAS tests.
        if let Some(inferred) = inferred.filter(|i| i.category != category && i.confidence >= threshold) {
            collected.findings.push(Finding {
                rule: format!("fields.{}", step.field),
                result: RuleResult::Unknown,
                message: format!(
                    "申请表排水类别“{}”与营业执照经营范围（{}）推断的“{}”不一致，需人工确认",
                    category,
                    inferred.cues.join("、"),
                    inferred.category
                ),
                basis: basis.to_string(),
                evidence: vec![evidence(scope_field.as_ref())],
            });
        }
        return category.to_string();
    }
    let Some(inferred) = inferred else {
        collected.findings.push(Finding {
            rule: format!("fields.{}", step.field),
            result: RuleResult::Unknown,
            message: "申请表未填排水类别，且无法从营业执照经营范围判定，需人工确认".into(),
            basis: basis.to_string(),
            evidence: vec![],
        });
        return "other".into();
    };
    // As sure as the weaker of the two: the category reading and the scope it was read from.
    let confidence = round3(inferred.confidence.min(scope_field.as_ref().map(|f| f.confidence).unwrap_or(1.0)));
    collected.fields.insert(
        step.field.clone(),
        FieldReport {
            value: json!(inferred.category),
            source: FieldSource::Derived,
            confidence,
            document: scope_field.as_ref().and_then(|f| f.document.clone()),
            page: scope_field.as_ref().and_then(|f| f.page),
            line: Some(format!("依据：{}", inferred.cues.join("、"))),
            corrected_from: None,
            note: None,
        },
    );
    if confidence < threshold {
        collected.findings.push(Finding {
            rule: format!("fields.{}", step.field),
            result: RuleResult::Unknown,
            message: format!(
                "根据营业执照推断排水类别为“{}”，但把握不足（置信度{}），需人工确认",
                inferred.category,
                format_number(confidence)
            ),
            basis: basis.to_string(),
            evidence: vec![evidence(scope_field.as_ref())],
        });
    }
    inferred.category
}
