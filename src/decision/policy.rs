//! The policy: deliberately asymmetric. The machine may issue; only a person refuses.

use crate::domain::decision::{Finding, Outcome};

/// What the policy looks at, already worked out by the assessment.
#[derive(Debug)]
pub struct PolicyInput<'a> {
    pub any_unreadable: bool,
    /// A readable document whose kind the service is unsure of: it may be the "missing" material.
    pub any_uncertain_kind: bool,
    pub missing_materials: &'a [String],
    /// Every rule that failed or could not be decided, every weak field, every unsure document kind.
    pub findings: &'a [Finding],
    /// The service allows automatic issuance at all.
    pub auto_issue: bool,
    /// The rules' spot-check condition held (issue on a pledge).
    pub pledge_based: bool,
}

/// Returns the outcome and whether an issued permit must be spot-checked after issue.
///
/// - `needs_materials` when something required is missing or a file could not be read: the applicant
///   can fix that alone, and is told everything in one notice. But when a readable document's kind is
///   unsure, the "missing" material may be that very document: a person looks first.
/// - `issued` only when there is no finding at all and the service allows it.
/// - `needs_review` otherwise: a person looks at the named findings.
pub fn outcome(input: &PolicyInput<'_>) -> (Outcome, bool) {
    if input.any_unreadable || (!input.missing_materials.is_empty() && !input.any_uncertain_kind) {
        return (Outcome::NeedsMaterials, false);
    }
    if !input.findings.is_empty() || !input.auto_issue {
        return (Outcome::NeedsReview, false);
    }
    (Outcome::Issued, input.pledge_based)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decision::RuleResult;

    fn finding() -> Finding {
        Finding { rule: "water.cod_limit".into(), result: RuleResult::Fail, message: "m".into(), basis: "b".into(), evidence: vec![] }
    }

    fn input<'a>(missing: &'a [String], findings: &'a [Finding]) -> PolicyInput<'a> {
        PolicyInput {
            any_unreadable: false,
            any_uncertain_kind: false,
            missing_materials: missing,
            findings,
            auto_issue: true,
            pledge_based: false,
        }
    }

    #[test]
    fn issues_only_when_nothing_is_wrong() {
        assert_eq!(outcome(&input(&[], &[])), (Outcome::Issued, false));
        assert_eq!(outcome(&PolicyInput { pledge_based: true, ..input(&[], &[]) }), (Outcome::Issued, true));
        assert_eq!(outcome(&input(&[], &[finding()])).0, Outcome::NeedsReview);
        assert_eq!(outcome(&PolicyInput { auto_issue: false, ..input(&[], &[]) }).0, Outcome::NeedsReview);
    }

    #[test]
    fn missing_or_unreadable_materials_go_back_to_the_applicant_never_refused() {
        let missing = vec!["pledge".to_string()];
        assert_eq!(outcome(&input(&missing, &[finding()])), (Outcome::NeedsMaterials, false));
        assert_eq!(outcome(&PolicyInput { any_unreadable: true, ..input(&[], &[]) }).0, Outcome::NeedsMaterials);
    }

    #[test]
    fn a_missing_material_next_to_an_unsure_document_goes_to_a_person() {
        let missing = vec!["pretreatment_docs".to_string()];
        assert_eq!(outcome(&PolicyInput { any_uncertain_kind: true, ..input(&missing, &[finding()]) }).0, Outcome::NeedsReview);
    }
}
