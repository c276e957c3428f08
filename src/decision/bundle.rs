//! Bundles (一件事, a service with `[items.*]`): each requested item is decided on the findings and
//! materials that concern it, so a failed tax confirmation does not hold up the employment
//! registration; the bundle's outcome is the worst of its items'.

use std::collections::BTreeMap;

use serde_json::Value;

use super::policy::{self, PolicyInput};
use crate::domain::decision::{Finding, ItemDecision, Outcome};
use crate::rules::{CompiledService, Evaluation};

/// What the bundle's items came to.
pub struct BundleOutcome {
    pub outcome: Outcome,
    pub items: Vec<ItemDecision>,
}

/// What every item shares: the documents' state and the assessment.
pub struct Bundle<'a> {
    pub service: &'a CompiledService,
    pub evaluation: &'a Evaluation,
    pub any_unreadable: bool,
    pub any_uncertain_kind: bool,
}

impl Bundle<'_> {
    /// Decides each item the form requests, then keeps in `findings` and `missing_materials` only
    /// what the requested items need: the notice covers them all at once.
    pub fn decide(&self, form: &Value, findings: &mut Vec<Finding>, missing_materials: &mut Vec<String>) -> BundleOutcome {
        let requested: Vec<String> =
            form.get("items").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
        let rule_items: BTreeMap<&str, &[String]> = self.evaluation.outcomes.iter().map(|o| (o.id.as_str(), o.items.as_slice())).collect();
        let finding_concerns = |f: &Finding, item: &str| match f.rule.strip_prefix("materials.") {
            Some(material) => self.material_concerns(material, item),
            None => rule_items.get(f.rule.as_str()).is_none_or(|scope| concerns(scope, item)),
        };
        let mut items = Vec::new();
        for item in &requested {
            let item_findings: Vec<Finding> = findings.iter().filter(|f| finding_concerns(f, item)).cloned().collect();
            let item_missing: Vec<String> =
                self.evaluation.missing_materials.iter().filter(|m| self.material_concerns(m, item)).cloned().collect();
            let (item_outcome, _) = policy::outcome(&PolicyInput {
                any_unreadable: self.any_unreadable,
                any_uncertain_kind: self.any_uncertain_kind,
                missing_materials: &item_missing,
                findings: &item_findings,
                auto_issue: self.service.info().auto_issue,
                pledge_based: false,
            });
            items.push(ItemDecision { item: item.clone(), outcome: item_outcome, findings: item_findings });
        }
        findings.retain(|f| requested.iter().any(|item| finding_concerns(f, item)));
        missing_materials.retain(|m| requested.iter().any(|item| self.material_concerns(m, item)));
        let outcome = items.iter().map(|i| i.outcome).max_by_key(|o| severity(*o)).unwrap_or(Outcome::NeedsReview);
        BundleOutcome { outcome, items }
    }

    fn material_concerns(&self, material: &str, item: &str) -> bool {
        concerns(self.service.material_items(material), item)
    }
}

/// A rule or material scoped to `scope` concerns `item` (an empty scope concerns every item).
fn concerns(scope: &[String], item: &str) -> bool {
    scope.is_empty() || scope.iter().any(|i| i == item)
}

/// How far an outcome is from issuing: a bundle is as far as its furthest item.
fn severity(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Issued => 0,
        Outcome::NeedsReview => 1,
        Outcome::NeedsMaterials => 2,
    }
}
